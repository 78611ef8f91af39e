"""Maps of what a model with two real inputs says over the plane of its inputs (the report's `map_` figures).

Drawn as `plots.py` draws (its Agg figures, palette and literal-text labels; that module is at its size limit):
one quantity as colour over a grid covering the training inputs, with the training inputs on top, so that where
the model is sure, where it is not, and where the data are can be read off one picture.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.lines import Line2D

from .plots import CHAIN_COLOURS, FIGSIZE, INK, _figure, _floats, _label, _legend, _png

_HEIGHT = 4.4  # inches: near square plotting area beside the colour bar at plots.py's width
_DOT = 9  # training points' marker area (points^2); smaller when there are many
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_MANY = 500


@dataclass
class Map:
    """One quantity over the grid: values [len(y_axis), len(x_axis)] (rows follow the second input), with the
    training inputs (x_data, y_data) and, for a classifier, their classes."""

    title: str
    x_axis: np.ndarray
    y_axis: np.ndarray
    values: np.ndarray
    x_data: np.ndarray
    y_data: np.ndarray
    xlabel: str
    ylabel: str
    colour_label: str
    cmap: str = "viridis"
    limits: tuple[float | None, float | None] = (None, None)
    classes: np.ndarray | None = None  # each training point's class (coloured by it), or None (plain dots)
    half_contour: bool = False  # draw where the value crosses 0.5 (a classifier's decision boundary)


def draw(m: Map) -> bytes:
    """The map as PNG bytes: the quantity as colour with its scale, the training inputs as dots over it."""
    with _figure(_HEIGHT) as fig:
        fig.set_figwidth(FIGSIZE[0])
        ax = fig.subplots()
        values = np.ma.masked_invalid(_floats(m.values))
        x_axis, y_axis = _floats(m.x_axis), _floats(m.y_axis)
        mesh = ax.pcolormesh(x_axis, y_axis, values, shading="nearest", cmap=m.cmap, vmin=m.limits[0], vmax=m.limits[1])
        mesh.set_rasterized(True)
        bar = fig.colorbar(mesh, ax=ax, fraction=0.06, pad=0.03)
        bar.set_label(m.colour_label, parse_math=False)
        handles, labels = [], []
        finite = values.compressed()
        if m.half_contour and finite.size and finite.min() < 0.5 < finite.max():
            ax.contour(x_axis, y_axis, values, levels=[0.5], colors=INK, linewidths=1.3)
            handles.append(Line2D([], [], color=INK, lw=1.3))
            labels.append("probability 0.5")
        handles_dots, labels_dots = _dots(ax, m)
        ax.set_xlim(x_axis[0], x_axis[-1])
        ax.set_ylim(y_axis[0], y_axis[-1])
        ax.grid(False)
        _label(ax, m.title, m.xlabel, m.ylabel)
        _legend(ax, handles + handles_dots, labels + labels_dots, loc="upper right", fontsize=7)
        return _png(fig)


def _dots(ax, m: Map) -> tuple[list, list[str]]:
    """The training inputs: white dots, or one colour and one marker shape per class (colours alone blur on a
    colour map); each ringed so it shows on any colour."""
    x, y = _floats(m.x_data).reshape(-1), _floats(m.y_data).reshape(-1)
    size = _DOT if x.size < _MANY else _DOT / 3
    if m.classes is None:
        dots = ax.scatter(x, y, s=size, c="white", edgecolors=INK, linewidths=0.5, zorder=3)
        return [dots], ["training inputs"]
    classes = np.asarray(m.classes).reshape(-1).astype(int)
    handles, labels = [], []
    for k in np.unique(classes):
        colour = CHAIN_COLOURS[int(k) % len(CHAIN_COLOURS)]
        keep = classes == k
        marker = _MARKERS[int(k) % len(_MARKERS)]
        dots = ax.scatter(
            x[keep], y[keep], s=size * 1.5, c=colour, marker=marker, edgecolors="white", linewidths=0.5, zorder=3
        )
        handles.append(dots)
        labels.append(f"class {int(k)}")
    return handles, labels
