"""Pooling over the steps of a sequence `[T, C]` or the pixels of an image `[H, W, C]` (which, from the rank of
what reaches it), per channel: `maxpool`, `avgpool`, and `globalavgpool` (the mean over every position)."""

from __future__ import annotations

from ..model import Layer
from .base import Arg, Built, Call, LayerKind, known, need_rank
from .conv import out_length
from .windows import POOL, TAPS

ARGS = (
    Arg("window", "count"),
    Arg("stride", "count", None, shown="window"),
    Arg("padding", "choice", "valid", ("valid", "same")),
)
_AXES = ("step", "column")


def _build(call: Call) -> Built:
    need_rank(call, (2, 3), "a sequence [rows, steps, channels] or an image [rows, height, width, channels]")
    shape = known(call, call.in_shape)
    a = call.args
    stride = a["stride"] or a["window"]
    axes = ("row", "column") if len(shape) == 3 else ("step",)
    out = tuple(out_length(call, n, a["window"], stride, a["padding"], axis) for n, axis in zip(shape[:-1], axes))
    return Built(out + shape[-1:])


def _code(layer: Layer, h: str) -> list[str]:
    a, dims = layer.args, len(layer.in_shape) - 1
    stride = a["stride"] or a["window"]
    padding = str(a["padding"]).upper()
    kind = layer.kind.removesuffix("pool")
    return [f'{h} = _pool({h}, {a["window"]}, {stride}, "{padding}", {dims}, "{kind}")']


def _global_build(call: Call) -> Built:
    need_rank(call, (2, 3), "a sequence [rows, steps, channels] or an image [rows, height, width, channels]")
    return Built(call.in_shape[-1:])


def _global_code(layer: Layer, h: str) -> list[str]:
    return [f"{h} = jnp.mean({h}, axis={tuple(range(1, len(layer.in_shape)))})"]


MAXPOOL = LayerKind(
    "maxpool",
    "Maximum over windows of `window` steps (or `window x window` pixels), per channel; `stride` defaults to "
    "the window.",
    ARGS,
    _build,
    _code,
    helpers=(TAPS, POOL),
)
AVGPOOL = LayerKind(
    "avgpool",
    "Mean over windows of `window` steps (or `window x window` pixels), per channel; with `padding = same`, of "
    "the values inside the input.",
    ARGS,
    _build,
    _code,
    helpers=(TAPS, POOL),
)
GLOBALAVGPOOL = LayerKind(
    "globalavgpool",
    "Mean over every step (or pixel), per channel: `[T, C]` or `[H, W, C]` to `[C]`.",
    (),
    _global_build,
    _global_code,
)
