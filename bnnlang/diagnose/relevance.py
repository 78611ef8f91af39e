"""Which inputs the fitted model uses: the predictive sensitivity of each input column (issue 23).

Weights say little about what a network does with an input (hidden units permute, scales trade between
layers), so relevance is read from predictions: for each real input column j, the change of the predictive
function (the likelihood's mean, or the class probabilities) when x_j moves by STEP of its sd either way,

    s_j = mean over rows of |f(x + h sd_j e_j) - f(x - h sd_j e_j)| / (2 h),

in output units per input sd, computed per posterior draw, so each s_j comes with a posterior interval. It is
a central finite difference, not a gradient: it needs no JAX here and works for every backend and likelihood.
Models with fewer than two real input columns get none.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from ..check.data import BoundData
from ..check.model import CheckedModel
from .predictive import predict, take_rows

MAX_ROWS = 200  # evenly spaced training rows the differences are taken at
PER_CHAIN = 50  # draws per chain
STEP = 0.1  # h, as a fraction of the column's sd


def input_columns(checked: CheckedModel, bound: BoundData) -> list[tuple[str, int | None, str]]:
    """(variable, column or None for a vector, label) of every real input with rows first."""
    row_dim = checked.observed[0].shape[0] if checked.observed else None
    out = []
    for var in checked.inputs:
        if var.base != "real" or not var.shape or var.shape[0] != row_dim or var.name not in bound.arrays:
            continue
        arr = np.asarray(bound.arrays[var.name])
        if arr.ndim == 1:
            out.append((var.name, None, var.name))
        elif arr.ndim == 2:
            names = [c.id for c in var.decl.columns] if var.decl.columns else None
            out += [(var.name, j, names[j] if names else f"{var.name}[{j}]") for j in range(arr.shape[1])]
    return out


def input_relevance(
    program: ModuleType, checked: CheckedModel, idata, train: BoundData, seed: int = 0
) -> dict[str, list[dict[str, Any]]] | None:
    """Per observed variable, one entry per input column, most relevant first; None with under two columns."""
    rows = take_rows(train, checked, MAX_ROWS)
    columns = input_columns(checked, rows)
    if len(columns) < 2:
        return None
    out: dict[str, list[dict[str, Any]]] = {}
    for var, j, label in columns:
        x = np.asarray(rows.arrays[var])
        sd = float(np.std(x if j is None else x[:, j]))
        if sd == 0:
            continue
        sides = [
            predict(program, checked, idata, _moved(rows, var, j, sign * STEP * sd), PER_CHAIN, seed)
            for sign in (1, -1)
        ]
        for name in sides[0]:
            up, down = sides[0][name].function, sides[1][name].function
            change = np.abs(up - down) / (2 * STEP)  # [chains, draws, rows, ...] per input sd
            per_draw = change.reshape(change.shape[0] * change.shape[1], -1).mean(axis=1)
            lo, hi = np.quantile(per_draw, [0.05, 0.95])
            out.setdefault(name, []).append(
                {"input": label, "relevance": float(per_draw.mean()), "lo": float(lo), "hi": float(hi), "sd": sd}
            )
    for entries in out.values():
        entries.sort(key=lambda e: -e["relevance"])
        total = sum(e["relevance"] for e in entries) or 1.0
        for e in entries:
            e["share"] = e["relevance"] / total
    return out


def _moved(bound: BoundData, var: str, j: int | None, by: float) -> BoundData:
    x = np.array(bound.arrays[var], copy=True)
    if j is None:
        x = x + by
    else:
        x[:, j] = x[:, j] + by
    return BoundData({**bound.arrays, var: x.astype(bound.arrays[var].dtype)}, bound.dims, bound.path)
