"""The prior's functions over a model's one real input (issue 23): what a modeller looks at before any numbers.

`predictive.py` pushes joint prior draws through the model at the training inputs; for a model with a single real
input column it also pushes the same draws through at an evenly spaced grid over the data's range, widened by
PAD on each side. This module decides whether a model has such an input, builds the grid's model arguments, and
turns the draws at the grid into a figure: a few of the prior's functions as thin lines, the 5-95% band of all of
them, and the training data. The function is the likelihood's mean, or for a binary classifier the probability
of class 1; outputs of any other kind (class probabilities of K > 2, several columns per row) get no figure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..check.model import CheckedModel
from ..diagnose.figure import Figure
from ..diagnose.predictive import padded_axis
from ..diagnose.prior_plots import Panel, prior_functions

GRID_POINTS = 200
PAD = 0.25  # the grid spans the data's range widened by this share of it on each side: what lies beyond the data
LINES = 25  # prior draws drawn as lines; the band uses all of them
BAND = (0.05, 0.95)
_DIM = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")  # a row dimension the grid can resize (not `N + 1`, not a number)


@dataclass
class PriorFunctions:
    """One observed variable's prior functions on the grid: `values` is [draws, grid], on `scale`."""

    name: str
    input: str
    kind: str  # "mean" (the likelihood's) or "probability" (of class 1)
    scale: str  # "data units", "standardized" (a `standardized` target's scale), or "probabilities"
    x: np.ndarray  # [grid], in the input's data units
    values: np.ndarray  # [draws, grid]
    x_data: np.ndarray  # the training inputs and observed values, on the same scales
    y_data: np.ndarray

    @property
    def lines(self) -> np.ndarray:
        return self.values[:LINES]

    @property
    def band(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = np.quantile(self.values, BAND, axis=0)
        return lo, hi

    @property
    def sd(self) -> np.ndarray:
        """The sd over draws at each grid point: the number the prior check summarises, along the input."""
        return self.values.std(axis=0)

    def panel(self) -> Panel:
        what = "P(class 1)" if self.kind == "probability" else f"{self.name} ({self.scale})"
        lo, hi = self.band
        probability = self.kind == "probability"
        return Panel(self.name, self.x_data, self.y_data, self.x, self.lines, lo, hi, self.input, what, probability)

    def figure(self) -> Figure:
        lo, hi = self.band
        return Figure(
            f"prior_functions_{self.name}",
            f"Prior functions of {self.name} over {self.input}",
            f"{len(self.lines)} of {len(self.values)} joint prior draws of the likelihood's "
            + ("probability of class 1" if self.kind == "probability" else "mean")
            + f" (lines) and their {BAND[0]:.0%}-{BAND[1]:.0%} band, before any fitting, with the training data; "
            f"the grid reaches {PAD:.0%} of the data's range beyond it on each side.",
            prior_functions([self.panel()]),
            {"x": self.x, "lines": self.lines, "lo": lo, "hi": hi, "sd": self.sd, "scale": self.scale},
        )


def one_real_input(checked: CheckedModel) -> str | None:
    """The model's input when it is one real column whose rows index every observed variable; else None."""
    inputs = checked.inputs
    if len(inputs) != 1 or inputs[0].base != "real":
        return None
    v = inputs[0]
    if len(v.shape) not in (1, 2) or (len(v.shape) == 2 and v.shape[1] != 1):
        return None
    row = v.shape[0]
    if not isinstance(row, str) or not _DIM.match(row):
        return None
    return v.name if all(o.shape and o.shape[0] == row for o in checked.observed) else None


def grid_inputs(checked: CheckedModel, kwargs: dict[str, Any], points: int) -> tuple[str, dict[str, Any]] | None:
    """The model's arguments at the grid (observed values None, training statistics kept), or None."""
    xname = one_real_input(checked)
    if xname is None:
        return None
    x = np.asarray(kwargs[xname])
    grid = padded_axis(x, points, PAD).astype(x.dtype).reshape((points,) + x.shape[1:])
    out = {**kwargs, xname: grid}
    for v in checked.observed:
        out[v.name] = None
    row = checked.data[xname].shape[0]
    if row in out:  # a dimension the model takes as an argument
        out[row] = points
    return xname, out


def target_scale(name: str, kwargs: dict[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """A `standardized` target's training (mean, sd), by which its numbers are mapped to the prior's scale."""
    shift, scale = kwargs.get(f"_shift_{name}"), kwargs.get(f"_scale_{name}")
    if scale is None:
        return None
    return np.asarray(shift, dtype=float), np.asarray(scale, dtype=float)


def on_grid(
    xname: str, grid: np.ndarray, pred: dict[str, dict[str, np.ndarray]], draws: int, kwargs: dict[str, Any]
) -> dict[str, PriorFunctions]:
    """Per observed variable with one function value per grid row: its draws, on the scale of the prior check."""
    out = {}
    x = np.asarray(kwargs[xname], dtype=float).reshape(-1)
    for name, p in pred.items():
        values = p.get("probs", p.get("mean"))
        if values is None or values.ndim != 2:
            continue  # K > 2 classes, or several columns per row
        values = np.asarray(values, dtype=float)
        values = values[:: max(1, len(values) // draws)]  # a few draws come replicated: keep one of each
        y = np.asarray(kwargs[name], dtype=float).reshape(-1)
        kind, scale = ("probability", "probabilities") if "probs" in p else ("mean", "data units")
        stats = target_scale(name, kwargs) if kind == "mean" else None
        if stats is not None:
            values, y, scale = (values - stats[0]) / stats[1], (y - stats[0]) / stats[1], "standardized"
        out[name] = PriorFunctions(name, xname, kind, scale, grid.reshape(-1).astype(float), values, x, y)
    return out
