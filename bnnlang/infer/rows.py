"""How the data are cut into minibatches: decided from the model and the data's shapes, before JAX starts.

Kept free of JAX so that a run is planned, and settings the data cannot meet are refused, before anything is
compiled (`api.Model.plan`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..check.model import CheckedModel
from . import messages


@dataclass(frozen=True)
class RowPlan:
    """The dimension minibatches cut (the observation plate), its size, and the data keys running over it."""

    dim: str | None = None  # None: the model cannot be cut into minibatches
    size: int = 0
    batched: tuple[str, ...] = ()


def row_plan(checked: CheckedModel, kwargs: Mapping[str, Any]) -> RowPlan:
    """Minibatching needs one observation plate shared by every observed variable, and no parameter that has a
    row axis (a per-row latent cannot be cut); an exact GP couples every row."""
    rows = {v.shape[0] for v in checked.observed}
    if any(g.mode != "sparse" for g in checked.gps.values()):
        return RowPlan()
    if len(rows) != 1:
        return RowPlan()
    (dim,) = rows
    if not isinstance(dim, str):
        return RowPlan()
    for shape in checked.param_shapes.values():
        if dim in [s for s in shape if isinstance(s, str)]:
            return RowPlan()
    batched = tuple(v.name for v in checked.data.values() if v.shape and v.shape[0] == dim and v.name in kwargs)
    return RowPlan(dim, int(kwargs[batched[0]].shape[0]), batched)


def resolve_batch_size(rows: RowPlan, requested: int, method: str, auto: int | None) -> int | None:
    """Rows per minibatch, or None for full-data steps.

    `requested` is the user's setting (0 = the backend's default `auto`, where None means full data); sizes the
    data cannot give are refused before anything runs.
    """
    if requested == 0:
        if auto is None or rows.dim is None or auto >= rows.size:
            return None
        return auto
    if rows.dim is None:
        raise messages.cannot_minibatch(method)
    if requested > rows.size:
        raise messages.batch_too_large(method, requested, rows.dim, rows.size)
    return None if requested == rows.size else requested
