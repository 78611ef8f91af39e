"""The prior's functions over a one-dimensional input (`bnnc prior -o`, the report's prior predictive section).

Drawn as `plots.py` draws (its Agg figures, palette and literal-text labels; that module is at its size limit):
a handful of prior draws as thin lines, so their shapes show (wiggly, flat, saturated, offset), with the band of all
draws and the training data over them, so their scale shows against the data's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .plots import BLUE, FIGSIZE, INK, SKY, _figure, _floats, _label, _legend, _png

_MARGIN = 0.08  # of the y-range, above and below


@dataclass
class Panel:
    """One observed variable's prior functions: lines [k, grid] and band (lo, hi) [grid] over x_grid."""

    name: str
    x_data: np.ndarray
    y_data: np.ndarray
    x_grid: np.ndarray
    lines: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    xlabel: str
    ylabel: str
    probability: bool = False  # a class-1 probability: the axis is [0, 1]


def prior_functions(panels: Sequence[Panel]) -> bytes:
    """One panel per observed variable, stacked. The y-range is the band's and the data's, not the lines': a
    few wild draws are cut at the edge rather than flattening everything else, and data that sit far inside a
    wide band (or far outside a narrow one) show as such."""
    with _figure(FIGSIZE[1] * len(panels)) as fig:
        axes = fig.subplots(len(panels), 1, squeeze=False, gridspec_kw={"hspace": 0.45})[:, 0]
        for ax, p in zip(axes, panels, strict=True):
            x_grid = _floats(p.x_grid).reshape(-1)
            lines = _floats(p.lines).reshape(-1, x_grid.size)
            lo, hi = _floats(p.lo).reshape(-1), _floats(p.hi).reshape(-1)
            x_data, y_data = _floats(p.x_data).reshape(-1), _floats(p.y_data).reshape(-1)
            band = ax.fill_between(x_grid, lo, hi, color=SKY, alpha=0.35, lw=0)
            drawn = ax.plot(x_grid, lines.T, color=BLUE, lw=0.7, alpha=0.55)
            n = x_data.size
            dots = ax.scatter(x_data, y_data, s=9 if n < 500 else 3, color=INK, alpha=0.7 if n < 500 else 0.3, lw=0)
            dots.set_zorder(3)
            ax.set_xlim(x_grid[0], x_grid[-1])
            ax.set_ylim(*_ylim(np.concatenate([lo, hi, y_data]), p.probability))
            _label(ax, f"prior functions of {p.name} (before fitting)", p.xlabel, p.ylabel)
            labels = ["training data", f"prior draws ({len(lines)})", "5-95% of the prior"]
            _legend(ax, [dots, drawn[0] if drawn else band, band], labels, loc="best")
        return _png(fig)


def _ylim(values: np.ndarray, probability: bool) -> tuple[float, float]:
    if probability:
        return -0.04, 1.04
    finite = values[np.isfinite(values)]
    if not finite.size:
        return -1.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    pad = _MARGIN * (hi - lo) or 1.0
    return lo - pad, hi + pad
