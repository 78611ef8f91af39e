"""Layer kinds, one module each; `LAYERS` is the table the rest of the compiler reads (docs/layers.md)."""

from __future__ import annotations

from .activation import ACTIVATION_LAYERS
from .attention import ATTENTION, TRANSFORMER
from .base import REQUIRED, Arg, Built, Call, LayerKind
from .conv import CONV1D, CONV2D
from .dense import DENSE
from .embedding import EMBEDDING, ONEHOT, POSITIONS
from .norm import BATCHNORM, LAYERNORM
from .pool import AVGPOOL, GLOBALAVGPOOL, MAXPOOL
from .reshape import FLATTEN, RESHAPE

LAYERS: dict[str, LayerKind] = {
    kind.name: kind
    for kind in (
        DENSE,
        CONV1D,
        CONV2D,
        MAXPOOL,
        AVGPOOL,
        GLOBALAVGPOOL,
        FLATTEN,
        RESHAPE,
        EMBEDDING,
        ONEHOT,
        POSITIONS,
        LAYERNORM,
        ATTENTION,
        TRANSFORMER,
        BATCHNORM,
        *ACTIVATION_LAYERS.values(),
    )
}
BLOCKS = ("residual", "deterministic", "concat")  # blocks of layers, checked by the network checker itself

__all__ = ["BLOCKS", "LAYERS", "REQUIRED", "Arg", "Built", "Call", "LayerKind"]
