"""Token ids into vectors: `embedding(V, D)` looks up row `id` of a `[V, D]` table, and `positions(...)` adds
where each step is, learned or sinusoidal.

An embedding's `fan_in` is 1: each output sums one table entry (the one-hot view of the lookup), so `neal()`
and the built-in prior give its entries Normal(0, 1), as embeddings are usually initialised.
"""

from __future__ import annotations

from .. import layer_messages as msg
from ..model import Layer, Site
from .base import Arg, Built, Call, LayerKind, known, need_rank, param


def _embedding(call: Call) -> Built:
    if call.in_base != "int" or call.tokens is None:
        raise msg.tokens_unbounded(call.at)
    vocab, width = call.args["vocabulary"], call.args["width"]
    if vocab != call.tokens:
        raise msg.vocabulary_size(call.arg_at("vocabulary"), vocab, call.tokens)
    return Built(call.in_shape + (width,), (Site("weight", "weight", (vocab, width), 1, width, ("token", "out")),))


def _embedding_code(layer: Layer, h: str) -> list[str]:
    return [f"{h} = jnp.take({param(layer, 'weight')}, {h}, axis=0)"]


def _positions(call: Call) -> Built:
    need_rank(call, (2,), "a sequence of vectors [rows, steps, width]")
    steps, width = known(call, call.in_shape)
    if call.args["encoding"] == "sinusoidal":
        return Built(call.in_shape)
    return Built(call.in_shape, (Site("weight", "weight", (steps, width), 1, width, ("step", "out")),))


def _positions_code(layer: Layer, h: str) -> list[str]:
    if layer.args["encoding"] == "sinusoidal":
        steps, width = layer.in_shape
        return [f"{h} = {h} + _sinusoidal({steps}, {width})"]
    return [f"{h} = {h} + {param(layer, 'weight')}"]


def _onehot(call: Call) -> Built:
    if call.in_base != "int" or not isinstance(call.tokens, int):
        raise msg.tokens_unbounded(call.at)
    return Built(call.in_shape + (call.tokens,))


def _onehot_code(layer: Layer, h: str) -> list[str]:
    return [f"{h} = jax.nn.one_hot({h}, {layer.out_shape[-1]})"]


SINUSOIDAL = '''def _sinusoidal(steps, width):
    """Vaswani et al.'s fixed position codes: sines and cosines of the step at geometric frequencies."""
    position = jnp.arange(steps)[:, None]
    frequency = jnp.exp(-jnp.log(10000.0) * jnp.arange(0, width, 2) / width)
    codes = jnp.zeros((steps, width))
    codes = codes.at[:, 0::2].set(jnp.sin(position * frequency))
    return codes.at[:, 1::2].set(jnp.cos(position * frequency[: width // 2]))
'''

EMBEDDING = LayerKind(
    "embedding",
    "Token ids `int[..] in 0..V-1` to vectors: row `id` of a `[V, D]` weight table (no bias).",
    (Arg("vocabulary", "size"), Arg("width", "size")),
    _embedding,
    _embedding_code,
    takes_priors=True,
)
ONEHOT = LayerKind(
    "onehot",
    "Token ids or category codes `int[..] in 0..V-1` (or `in (a, b, c)`) to indicator vectors of length V.",
    (),
    _onehot,
    _onehot_code,
)
POSITIONS = LayerKind(
    "positions",
    "Adds each step's position to a sequence `[steps, width]`: a learned `[steps, width]` table, or "
    "`positions(sinusoidal)`, fixed sines and cosines.",
    (Arg("encoding", "choice", "learned", ("learned", "sinusoidal")),),
    _positions,
    _positions_code,
    helpers=(SINUSOIDAL,),
    takes_priors=True,
)
