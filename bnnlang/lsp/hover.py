"""Hover text, generated from the tables the checker reads (check/distributions.py: distributions, functions,
activations, layer kinds, kernels; check/backends.py: backends and their settings with `Setting.doc`) and from
the model's own definitions and imported priors (symbols.py), so the editor cannot say something `bnnc check`
does not mean. The few words on layers that no table holds are in `LAYER_DOCS`, which a test keeps complete."""

from __future__ import annotations

from dataclasses import dataclass

from ..check.backends import BACKENDS, Backend, Setting
from ..check.distributions import ACTIVATIONS, DISTRIBUTIONS, FUNCTIONS, GP_OPTIONS, KERNELS, DistSpec
from ..check.nn import LAYERS
from .context import context_at
from .symbols import Symbol
from .text import lines, word_at

# What a distribution's `support` means, in words (a test checks every support in DISTRIBUTIONS is here).
SUPPORTS: dict[str, str] = {
    "real": "any real number",
    "positive": "positive numbers",
    "interval": "the interval (low, high)",
    "unit": "the interval (0, 1)",
    "simplex": "the simplex (the last axis sums to 1)",
    "binary": "0 or 1",
    "category": "a class 0..K-1 (the last axis holds the K classes)",
    "count": "counts 0, 1, 2, ...",
}

# The blocks, which no layer table holds (a test checks that every layer kind gets a hover); every other layer's
# words come from its entry in `check.nn.LAYERS`.
PRIORS_DOC = (
    "A body `{ weight ~ P; bias ~ Q }` sets this layer's priors (else the network's `default`, else "
    "`Normal(0, 1/sqrt(fan_in))` weights, `Normal(0, 1)` biases and `Normal(1, 0.1)` scales)."
)
LAYER_DOCS: dict[str, str] = {
    "residual": "`residual { layers }`: `h + layers(h)`; the block must keep the width.",
    "concat": "`concat { layers }` joins what reaches it with `layers` of it, along the last axis (a DenseNet-style "
    "skip); `concat(name) { layers }` joins it with `layers` of the network's input `name` (no layers: the input "
    "itself), e.g. `concat(region) { embedding(4, 2) }` in `network f(x, region)`.",
    "deterministic": "`deterministic { layers }`: these layers are point-estimated (fitted by MAP, setting "
    "`map_steps`) and the rest of the model is sampled: a partially Bayesian network.",
}


@dataclass(frozen=True)
class HoverText:
    text: str  # Markdown
    line: int
    start: int
    end: int


def _code(text: str) -> str:
    return f"```bnn\n{text}\n```"


def distribution(spec: DistSpec) -> str:
    parts = [_code(spec.signature()), f"Distribution on {SUPPORTS.get(spec.support, spec.support)}."]
    for alt, param in spec.alternatives.items():
        parts.append(f"`{alt} = ...` may be given instead of `{param}`.")
    if spec.discrete:
        parts.append("A likelihood for whole-number data.")
    parts.append(f"NumPyro: `numpyro.distributions.{spec.name}`.")
    return "\n\n".join(parts)


def setting(backend: str, key: str, spec: Setting) -> str:
    default = str(spec.default).lower() if isinstance(spec.default, bool) else str(spec.default)
    return f"{_code(f'{key} = {default}')}\n\n`{backend}` setting: {spec.doc}.\n\nAllowed: {spec.describe()}."


def backend(b: Backend) -> str:
    rows = "\n".join(f"- `{k}` = {s.default!s}: {s.doc}" for k, s in b.settings.items())
    return f"{_code(f'infer {b.name}(...)')}\n\n{b.summary}.\n\nSettings:\n{rows}"


def _activation(name: str) -> str:
    fn = ACTIVATIONS[name]
    what = f"applies `{fn}` element-wise" if fn else "leaves its input unchanged"
    return f"Activation `{name}`: {what}; a layer of its own, or `dense`'s second argument."


def _kernel(name: str) -> str:
    k = KERNELS[name]
    ard = f" Per input feature (ARD): {', '.join(sorted(k.per_feature))}." if k.per_feature else ""
    return f"{_code(k.signature())}\n\nGP kernel: {k.doc}. Its parameters must be positive.{ard}"


def _gp() -> str:
    opts = ", ".join(f"{k} = {v:g}" for k, v in GP_OPTIONS.items())
    return f"{_code(f'GP(mean, kernel, {opts})')}\n\nA Gaussian-process prior (`gp NAME ~ GP(...) on INPUT`)."


def table_text(name: str) -> str | None:
    """What the checker's tables say about `name`, or None if none of them has it."""
    parts: list[str] = []
    if name in DISTRIBUTIONS:
        parts.append(distribution(DISTRIBUTIONS[name]))
    if name in KERNELS:
        parts.append(_kernel(name))
    if name == "GP":
        parts.append(_gp())
    if name in FUNCTIONS:
        parts.append(f"{_code(f'{name}(x)')}\n\nFunction, element-wise: `{FUNCTIONS[name]}`.")
    if name in ACTIVATIONS:
        parts.append(_activation(name))
    if name in LAYERS and name not in ACTIVATIONS:
        kind = LAYERS[name]
        priors = f" {PRIORS_DOC}" if kind.takes_priors else ""
        parts.append(f"{_code(kind.signature())}\n\nLayer. {kind.doc}{priors}")
    if name in LAYER_DOCS:
        parts.append(f"Layer. {LAYER_DOCS[name]}")
    if name in BACKENDS:
        parts.append(backend(BACKENDS[name]))
    return "\n\n---\n\n".join(parts) or None


def symbol_text(s: Symbol) -> str:
    where = f"\n\nDefined in `{s.path}`." if s.path else ""
    doc = f"\n\n{s.doc}" if s.doc else ""
    return f"{_code(s.detail)}{doc}\n\n({s.kind}){where}"


def hover(text: str, line: int, column: int, symbols: dict[str, Symbol]) -> HoverText | None:
    """The hover for a 0-based position in normalized `text`; None where there is nothing to say."""
    text_lines = lines(text)
    if line >= len(text_lines):
        return None
    word = word_at(text_lines[line], column)
    if word is None or text_lines[line].lstrip().startswith("#"):
        return None
    ctx = context_at(text, line, word.start)
    call = ctx.call
    body: str | None = None
    if call is not None and call.keyword == "infer" and call.name in BACKENDS:  # a setting's key or its value
        key = word.text if call.in_key else call.arg_text.split("=")[0].strip()
        spec = BACKENDS[call.name].settings.get(key)
        body = setting(call.name, key, spec) if spec is not None else None
    elif word.text in symbols:
        body = symbol_text(symbols[word.text])
    else:
        body = table_text(word.text)
    return HoverText(body, line, word.start, word.end) if body else None
