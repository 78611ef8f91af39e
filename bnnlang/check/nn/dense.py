"""`dense(units, activation)`: `h @ W + b` on the last axis, then the activation; on a sequence or an image it
acts on each position's features."""

from __future__ import annotations

from ..model import Layer
from .base import ACTIVATION_NAMES, Arg, Built, Call, LayerKind, activate, need_real, param, weight_bias


def _build(call: Call) -> Built:
    need_real(call)
    if not call.in_shape:
        from .. import layer_messages as msg

        raise msg.input_rank(call.at, "dense", call.in_shape, "features on its last axis")
    width, units = call.in_shape[-1], call.args["units"]
    sites = weight_bias((width, units), width, units, units, ("in", "out"))
    return Built(call.in_shape[:-1] + (units,), sites)


def _code(layer: Layer, h: str) -> list[str]:
    lin = f"{h} @ {param(layer, 'weight')} + {param(layer, 'bias')}"
    return [f"{h} = {activate(layer.args['activation'], lin)}"]


DENSE = LayerKind(
    name="dense",
    doc="`h @ W + b`, then the activation. Weight `[fan_in, units]`, bias `[units]`.",
    args=(Arg("units", "size"), Arg("activation", "activation", "identity", ACTIVATION_NAMES)),
    build=_build,
    code=_code,
    takes_priors=True,
)
