"""`conv1d` and `conv2d`: convolutions over the steps of a sequence `[T, C]` or the pixels of an image
`[H, W, C]`, channels last, compiled to a matrix product over gathered windows (`windows.py` says why not
`jax.lax.conv_general_dilated`).

Kernels are square and strides equal along both image axes. A kernel's weight is `[k, C_in / groups, filters]`
(`[k, k, C_in / groups, filters]` in 2-D); its `fan_in` is what one output sums over (k x C_in / groups, k^2 x ...
in 2-D) and its `fan_out` k x filters / groups (k^2 x ...), so `neal()` and the built-in prior scale a kernel as
they scale a dense layer.
"""

from __future__ import annotations

from .. import layer_messages as msg
from ..model import Layer
from .base import ACTIVATION_NAMES, Arg, Built, Call, LayerKind, activate, known, need_rank, param, weight_bias
from .windows import CONV, TAPS

ARGS = (
    Arg("filters", "count"),
    Arg("kernel", "count"),
    Arg("activation", "activation", "identity", ACTIVATION_NAMES),
    Arg("stride", "count", 1),
    Arg("padding", "choice", "same", ("same", "valid")),
    Arg("dilation", "count", 1),
    Arg("groups", "count", 1),
)
_AXES = {1: ("step",), 2: ("row", "column")}
_KERNEL_AXES = {1: ("kernel",), 2: ("kernel_row", "kernel_column")}  # ArviZ dims: one name per axis


def out_length(call: Call, length: int, window: int, stride: int, padding: str, axis: str) -> int:
    """The length along one axis after a window (a kernel or a pool) slides over it."""
    if padding == "same":
        return -(-length // stride)
    if window > length:
        raise msg.window_too_large(
            call.arg_at("kernel" if "kernel" in call.args else "window"), call.node.kind, window, length, axis
        )
    return (length - window) // stride + 1


def _builder(dims: int):
    def build(call: Call) -> Built:
        need_rank(
            call,
            (dims + 1,),
            "a sequence [rows, steps, channels]" if dims == 1 else "an image [rows, height, width, channels]",
        )
        shape = known(call, call.in_shape)
        a = call.args
        k, filters, groups, dilation = a["kernel"], a["filters"], a["groups"], a["dilation"]
        channels = shape[-1]
        for n, what in ((channels, "its input"), (filters, "its output")):
            if n % groups:
                raise msg.channels_disagree(call.arg_at("groups"), call.node.kind, n, groups, what)
        span = dilation * (k - 1) + 1
        out = tuple(
            out_length(call, n, span, a["stride"], a["padding"], axis) for n, axis in zip(shape[:-1], _AXES[dims])
        )
        taps = k**dims
        weight = (k,) * dims + (channels // groups, filters)
        sites = weight_bias(
            weight, taps * channels // groups, taps * filters // groups, filters, _KERNEL_AXES[dims] + ("in", "out")
        )
        return Built(out + (filters,), sites)

    return build


def _coder(dims: int):
    def code(layer: Layer, h: str) -> list[str]:
        a = layer.args
        conv = (
            f'_conv({h}, {param(layer, "weight")}, stride={a["stride"]}, padding="{str(a["padding"]).upper()}", '
            f"dilation={a['dilation']}, groups={a['groups']})"
        )
        bias = param(layer, "bias")
        return [f"{h} = {activate(a['activation'], f'{conv} + {bias}')}"]

    return code


CONV1D = LayerKind(
    "conv1d",
    "1-D convolution over a sequence `[steps, channels]`, channels last; `padding = same` keeps the length "
    "(at stride 1). Weight `[kernel, channels / groups, filters]`, bias `[filters]`.",
    ARGS,
    _builder(1),
    _coder(1),
    helpers=(TAPS, CONV),
    takes_priors=True,
)
CONV2D = LayerKind(
    "conv2d",
    "2-D convolution over an image `[height, width, channels]`, square kernel, channels last. "
    "Weight `[kernel, kernel, channels / groups, filters]`, bias `[filters]`.",
    ARGS,
    _builder(2),
    _coder(2),
    helpers=(TAPS, CONV),
    takes_priors=True,
)
