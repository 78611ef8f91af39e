"""`layernorm`: each row's (and each step's) features to mean 0 and sd 1, the normalisation of transformers,
which depends on nothing but the row itself, so it means the same thing in training, prediction and a
posterior. With `affine = true` it also learns a per-feature scale (prior role `scale`, built-in
Normal(1, 0.1)) and offset (role `bias`).

Batch normalisation is refused with a located message: its output depends on the other rows of a minibatch,
which a posterior over a fixed function cannot express (docs/layers.md).
"""

from __future__ import annotations

from .. import layer_messages as msg
from ..model import Layer, Site
from .base import Arg, Built, Call, LayerKind, need_real, param

EPSILON = 1e-5


def _build(call: Call) -> Built:
    need_real(call)
    if not call.in_shape:
        raise msg.input_rank(call.at, "layernorm", call.in_shape, "features on its last axis")
    if not call.args["affine"]:
        return Built(call.in_shape)
    width = call.in_shape[-1]
    return Built(
        call.in_shape,
        (
            Site("scale", "scale", (width,), width, width, ("out",)),
            Site("bias", "bias", (width,), width, width, ("out",)),
        ),
    )


def _code(layer: Layer, h: str) -> list[str]:
    lines = [
        f"{h} = ({h} - jnp.mean({h}, axis=-1, keepdims=True)) / jnp.sqrt(jnp.var({h}, axis=-1, keepdims=True) + "
        f"{EPSILON})"
    ]
    if layer.args["affine"]:
        lines.append(f"{h} = {h} * {param(layer, 'scale')} + {param(layer, 'bias')}")
    return lines


def _refuse(call: Call) -> Built:
    raise msg.batchnorm_refused(call.at)


LAYERNORM = LayerKind(
    "layernorm",
    "Normalises each position's features to mean 0, sd 1; `affine = true` adds a scale and an offset with priors.",
    (Arg("affine", "flag", False),),
    _build,
    _code,
    takes_priors=True,
)
BATCHNORM = LayerKind(
    "batchnorm",
    "Not a layer of bnnlang (it mixes the rows of a minibatch); use `layernorm`.",
    (),
    _refuse,
    _code,
    offered=False,
)
