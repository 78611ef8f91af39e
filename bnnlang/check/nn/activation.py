"""Activations as layers of their own (`tanh`, `relu`, ...): elementwise, any shape."""

from __future__ import annotations

from ..distributions import ACTIVATIONS
from ..model import Layer
from .base import Built, Call, LayerKind, activate, need_real


def _build(call: Call) -> Built:
    need_real(call)
    return Built(call.in_shape)


def _code(layer: Layer, h: str) -> list[str]:
    return [f"{h} = {activate(layer.kind, h)}"] if ACTIVATIONS[layer.kind] else []


ACTIVATION_LAYERS = {
    name: LayerKind(name, f"Activation `{name}`, elementwise.", (), _build, _code, label="Activation layer")
    for name in ACTIVATIONS
}
