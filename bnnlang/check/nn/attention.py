"""Self-attention over the steps of a sequence `[T, D]`: `attention(heads)` (query, key, value and output
projections, each a `[D, D]` weight with a bias), and `transformer(heads, hidden)`, a pre-norm encoder block
written in the language's own layers:

    residual { layernorm  attention(heads, causal) }
    residual { layernorm  dense(hidden, activation)  dense(D) }

Priors in a transformer's body apply to every layer inside it.
"""

from __future__ import annotations

from ...syntax import tree as t
from .. import layer_messages as msg
from ..model import Layer
from .base import ACTIVATION_NAMES, Arg, Built, Call, LayerKind, known, need_rank, weight_bias

PROJECTIONS = ("query", "key", "value", "output")


def _attention(call: Call) -> Built:
    need_rank(call, (2,), "a sequence of vectors [rows, steps, width]")
    _, width = known(call, call.in_shape)
    heads = call.args["heads"]
    if width % heads:
        raise msg.heads_divide(call.arg_at("heads"), heads, width)
    sites = tuple(
        s for name in PROJECTIONS for s in weight_bias((width, width), width, width, width, ("in", "out"), f"{name}.")
    )
    return Built(call.in_shape, sites)


def _attention_code(layer: Layer, h: str) -> list[str]:
    a = layer.args
    return [f'{h} = _attention({h}, _p, "{layer.path}", heads={a["heads"]}, causal={a["causal"]})']


ATTENTION_HELPER = '''def _attention(h, p, layer, heads, causal):
    """Multi-head scaled dot-product self-attention over the steps of h [rows, steps, width]."""
    q, k, v = (h @ p[f"{layer}.{name}.weight"] + p[f"{layer}.{name}.bias"] for name in ("query", "key", "value"))
    split = h.shape[:-1] + (heads, h.shape[-1] // heads)  # [rows, steps, heads, width / heads]
    q, k, v = q.reshape(split), k.reshape(split), v.reshape(split)
    scores = jnp.einsum("...qhd,...khd->...hqk", q, k) / jnp.sqrt(q.shape[-1])
    if causal:  # a step attends to itself and the steps before it
        steps = h.shape[-2]
        scores = jnp.where(jnp.tril(jnp.ones((steps, steps), dtype=bool)), scores, -jnp.inf)
    mixed = jnp.einsum("...hqk,...khd->...qhd", jax.nn.softmax(scores, axis=-1), v).reshape(h.shape)
    return mixed @ p[f"{layer}.output.weight"] + p[f"{layer}.output.bias"]
'''


def _number(n: int, span: t.Span) -> t.Number:
    return t.Number(float(n), str(n), span)


def _layer(kind: str, node: t.Layer, *args: t.Expr, **kwargs: t.Expr) -> t.Layer:
    """A layer of the block, with the transformer's weight and bias priors (any other role is refused at the
    transformer, which has no such arrays)."""
    kw = tuple(t.KwArg(k, v, node.span) for k, v in kwargs.items())
    priors = tuple(p for p in node.priors if p.role in ("weight", "bias"))
    return t.Layer(kind, tuple(args), kw, bool(args or kw), priors, (), bool(priors), node.span)


def _transformer_build(call: Call) -> Built:
    need_rank(call, (2,), "a sequence of vectors [rows, steps, width]")
    return Built(call.in_shape)


def _transformer_expand(call: Call) -> tuple[t.Layer, ...]:
    node, a, span = call.node, call.args, call.node.span
    _, width = known(call, call.in_shape)
    if width % a["heads"]:
        raise msg.heads_divide(call.arg_at("heads"), a["heads"], width)
    flag = t.Name("true" if a["causal"] else "false", span)
    norm = t.Layer("layernorm", span=span)
    attend = t.Layer(
        "residual",
        layers=(norm, _layer("attention", node, _number(a["heads"], span), causal=flag)),
        has_body=True,
        span=span,
    )
    mlp = (
        norm,
        _layer("dense", node, _number(a["hidden"], span), t.Name(str(a["activation"]), span)),
        _layer("dense", node, _number(width, span)),
    )
    return attend, t.Layer("residual", layers=mlp, has_body=True, span=span)


ATTENTION = LayerKind(
    "attention",
    "Multi-head self-attention over a sequence `[steps, width]`; `causal = true` lets a step see only the steps "
    "before it. Weights `query`, `key`, `value`, `output`, each `[width, width]` with a bias.",
    (Arg("heads", "count"), Arg("causal", "flag", False)),
    _attention,
    _attention_code,
    helpers=(ATTENTION_HELPER,),
    takes_priors=True,
)
TRANSFORMER = LayerKind(
    "transformer",
    "A pre-norm transformer encoder block: `residual { layernorm attention(heads, causal) }` then "
    "`residual { layernorm dense(hidden, activation) dense(width) }`.",
    (
        Arg("heads", "count"),
        Arg("hidden", "count"),
        Arg("causal", "flag", False),
        Arg("activation", "activation", "gelu", ACTIVATION_NAMES),
    ),
    _transformer_build,
    lambda layer, h: [],
    takes_priors=True,
    expand=_transformer_expand,
)
