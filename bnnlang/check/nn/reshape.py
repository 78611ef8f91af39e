"""`flatten` and `reshape(...)`: a new shape for each row's values, in row-major order (as NumPy's reshape)."""

from __future__ import annotations

from .. import layer_messages as msg
from ..model import Layer
from .base import Arg, Built, Call, LayerKind, known, need_real, product


def _flatten(call: Call) -> Built:
    need_real(call)
    if len(call.in_shape) == 1:
        return Built(call.in_shape)
    return Built((product(known(call, call.in_shape)),))


def _reshape(call: Call) -> Built:
    need_real(call)
    target = tuple(int(s) for s in call.args["shape"])
    if product(known(call, call.in_shape)) != product(target):
        raise msg.reshape_sizes(call.at, call.in_shape, target)
    return Built(target)


def _code(layer: Layer, h: str) -> list[str]:
    if layer.out_shape == layer.in_shape:
        return []
    return [f"{h} = {h}.reshape({h}.shape[:1] + {tuple(layer.out_shape)})"]


FLATTEN = LayerKind("flatten", "Each row's values as one vector: `[H, W, C]` to `[H * W * C]`.", (), _flatten, _code)
RESHAPE = LayerKind(
    "reshape",
    "Each row's values in a new shape, `reshape(T, C)`: the sizes must multiply to the same number.",
    (Arg("shape", "counts"),),
    _reshape,
    _code,
)
