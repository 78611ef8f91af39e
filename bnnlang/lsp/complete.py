"""Completion by the word being typed and where it is (context.py): names in scope, layer kinds, distributions,
activations, kernels, backends and their settings, modules and the priors in them. Read from the text and the
latest symbols, never from a fresh parse, so a half-typed file completes as well as a whole one. The rules are a
table, tried in order; the first that fits the cursor's place gives the candidates."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..check.backends import BACKENDS
from ..check.distributions import ACTIVATIONS, DISTRIBUTIONS, FUNCTIONS, KERNELS, PRIOR_ROLES
from ..check.imports import available_modules
from ..check.nn import BLOCKS, LAYERS
from ..syntax.parser import KEYWORDS
from .context import Context, context_at
from .symbols import Symbol, cached_module
from .text import lines, prefix_at

_SCOPE_KINDS = ("data", "dim", "param", "network", "gp")
_IMPORT_NAMES = re.compile(r"(?<![\w.])import\s+([A-Za-z][\w.]*)\s*\(([^)]*)$")
_IMPORT_MODULE = re.compile(r"(?<![\w.])import\s+([A-Za-z][\w.]*)?$")


@dataclass(frozen=True)
class Item:
    label: str
    kind: str  # keyword | layer | activation | distribution | function | kernel | backend | setting | value |
    # module | role | type | data | dim | param | network | gp | prior
    detail: str = ""
    insert: str | None = None  # text to insert, when not the label
    start: int | None = None  # the column the inserted text replaces from (module paths, which hold dots)


@dataclass(frozen=True)
class Place:
    """What a rule reads: the context, the symbols, the model's folder and the line up to the cursor."""

    ctx: Context
    symbols: dict[str, Symbol]
    model_dir: Path | None
    before: str  # the line's text left of the cursor


def _named(names, kind: str, detail: Callable[[str], str] = lambda n: "") -> list[Item]:
    return [Item(n, kind, detail(n)) for n in names]


def _distributions() -> list[Item]:
    return [Item(n, "distribution", d.signature()) for n, d in DISTRIBUTIONS.items()]


def _priors(p: Place) -> list[Item]:
    return [Item(s.name, "prior", s.detail.split("\n")[0]) for s in p.symbols.values() if s.kind == "prior"]


def _scope(p: Place) -> list[Item]:
    return [Item(s.name, s.kind, s.detail.split("\n")[0]) for s in p.symbols.values() if s.kind in _SCOPE_KINDS]


def _layers(p: Place) -> list[Item]:
    kinds = _named([name for name, kind in LAYERS.items() if kind.offered] + list(BLOCKS), "layer")
    return ([Item("default", "keyword")] if p.ctx.block == "network" else []) + kinds


def _modules(p: Place) -> list[Item]:
    m = _IMPORT_MODULE.search(p.before)
    start = len(p.before) - len(m.group(1) or "") if m else None
    return [Item(n, "module", insert=n, start=start) for n in sorted(available_modules(p.model_dir))]


def _module_priors(p: Place) -> list[Item]:
    m = _IMPORT_NAMES.search(p.ctx.statement)
    found = cached_module(tuple(m.group(1).split(".")), p.model_dir) if m else None
    listed = set(re.findall(r"[A-Za-z]\w*", m.group(2))) if m else set()
    priors = found.priors.values() if found is not None else ()
    return [Item(s.name, "prior", s.detail.split("\n")[0]) for s in priors if s.name not in listed]


def _settings(p: Place) -> list[Item]:
    call = p.ctx.call
    b = BACKENDS[call.name]
    if call.in_key:
        return [Item(k, "setting", s.doc, insert=f"{k} = ") for k, s in b.settings.items()]
    spec = b.settings.get(call.arg_text.split("=")[0].strip())
    if spec is None:
        return []
    values = spec.choices if spec.kind is str else ("true", "false") if spec.kind is bool else ()
    return _named(values, "value")


def _expression(p: Place) -> list[Item]:
    items = _scope(p) + [Item(n, "function", f"{n}(x)") for n in FUNCTIONS]
    if any(c.name == "GP" for c in p.ctx.calls):
        items += [Item(n, "kernel", k.signature()) for n, k in KERNELS.items()]
    if p.ctx.block in ("prior", "layer", "network"):
        items += _named(("fan_in", "fan_out"), "keyword")
    return items


def _in_infer(p: Place) -> bool:
    call = p.ctx.call
    return call is not None and call.keyword == "infer" and call.name in BACKENDS


def _activation_arg(p: Place) -> bool:
    call = p.ctx.call
    return call is not None and call.name == "dense" and call.arg_index >= 1 and p.ctx.block is not None


RULES: tuple[tuple[Callable[[Place], object], Callable[[Place], list[Item]]], ...] = (
    (lambda p: _IMPORT_NAMES.search(p.ctx.statement), _module_priors),
    (lambda p: _IMPORT_MODULE.search(p.before), _modules),
    (lambda p: p.ctx.after(r"(?<![\w.])infer"), lambda p: [Item(n, "backend", b.summary) for n, b in BACKENDS.items()]),
    (_in_infer, _settings),
    (lambda p: p.ctx.after(r"(?<![\w.])(?:weight|bias)\s*~"), lambda p: _priors(p) + _distributions()),
    (lambda p: p.ctx.after(r"(?<![\w.])gp\s+\w+(?:\[[^\]]*\])?\s*~"), lambda p: [Item("GP", "distribution")]),
    (lambda p: p.ctx.after(r"(?<![\w.])prior\s+\w+\s*~"), lambda p: [Item("GP", "distribution")]),
    (lambda p: p.ctx.after("~"), lambda p: _distributions()),
    (lambda p: p.ctx.after(r"(?<![\w.])prior\s+\w+\s*~.*\bat"), lambda p: [Item("context", "keyword")]),
    (_activation_arg, lambda p: [Item(n, "activation", ACTIVATIONS[n]) for n in ACTIVATIONS]),
    (lambda p: p.ctx.block == "data" and p.ctx.after(":"), lambda p: _named(("real", "int"), "type")),
    (lambda p: p.ctx.block == "data" and p.ctx.at_statement_start and not p.ctx.calls, lambda p: []),
    (lambda p: p.ctx.block in ("network", "layers") and p.ctx.at_statement_start and not p.ctx.calls, _layers),
    (
        lambda p: p.ctx.block == "layer" and p.ctx.at_statement_start and not p.ctx.calls,
        lambda p: _named(PRIOR_ROLES, "role") + _layers(p),
    ),
    (
        lambda p: p.ctx.block is None and p.ctx.at_statement_start and not p.ctx.calls,
        lambda p: _named(KEYWORDS, "keyword"),
    ),
)


def complete(text: str, line: int, column: int, symbols: dict[str, Symbol], model_dir: Path | None) -> list[Item]:
    """The candidates at a 0-based position of normalized `text` that start with the word being typed."""
    text_lines = lines(text)
    if line >= len(text_lines):
        return []
    before = text_lines[line][:column]
    place = Place(context_at(text, line, column), symbols, model_dir, before)
    items = next((make(place) for fits, make in RULES if fits(place)), None)
    if items is None:
        items = _expression(place)
    prefix = prefix_at(before, column).lower()
    seen: set[str] = set()
    out: list[Item] = []
    for item in items:
        typed = before[item.start :].lower() if item.start is not None else prefix
        if item.label not in seen and item.label.lower().startswith(typed):
            seen.add(item.label)
            out.append(item)
    return out
