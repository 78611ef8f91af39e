"""Pooling over the steps of a sequence `[T, C]` or the pixels of an image `[H, W, C]` (which, from the rank of
what reaches it), per channel: `maxpool`, `avgpool`, and `globalavgpool` (the mean over every position)."""

from __future__ import annotations

from ..model import Layer
from .base import Arg, Built, Call, LayerKind, known, need_rank
from .conv import out_length

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


def _window(layer: Layer) -> tuple[str, str, str]:
    a, dims = layer.args, len(layer.in_shape) - 1
    stride = a["stride"] or a["window"]
    return (
        str((1,) + (a["window"],) * dims + (1,)),
        str((1,) + (stride,) * dims + (1,)),
        f'"{str(a["padding"]).upper()}"',
    )


def _max_code(layer: Layer, h: str) -> list[str]:
    window, strides, padding = _window(layer)
    return [f"{h} = jax.lax.reduce_window({h}, -jnp.inf, jax.lax.max, {window}, {strides}, {padding})"]


def _avg_code(layer: Layer, h: str) -> list[str]:
    window, strides, padding = _window(layer)
    total = f"jax.lax.reduce_window({{}}, 0.0, jax.lax.add, {window}, {strides}, {padding})"
    # the number of real (unpadded) values under each window
    return [f"{h} = {total.format(h)} / {total.format(f'jnp.ones_like({h})')}"]


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
    _max_code,
)
AVGPOOL = LayerKind(
    "avgpool",
    "Mean over windows of `window` steps (or `window x window` pixels), per channel; with `padding = same`, of "
    "the values inside the input.",
    ARGS,
    _build,
    _avg_code,
)
GLOBALAVGPOOL = LayerKind(
    "globalavgpool",
    "Mean over every step (or pixel), per channel: `[T, C]` or `[H, W, C]` to `[C]`.",
    (),
    _global_build,
    _global_code,
)
