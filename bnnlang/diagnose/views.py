"""Which of the report's views over the inputs apply to a model, and, for each that does not, why.

The 1-D predictive figure, the maps over two inputs, the input relevance and the prior's functions read the
inputs as columns of a table: one real column to draw along, two to map over, several to compare. An image
(`real[N, 8, 8, 1]`), a sequence (`real[N, 40, 1]`) or token ids (`int[N, T]`) are not such columns, and a table
of five columns has no single axis either. Those views are left out, and the report says which and why
(`skipped_views` in report.json, a list under Predictions in the page) rather than leaving them silently missing.
The reliability diagram and the OOD histogram (`calibration.py`) read only outputs and apply at any input rank.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..check.data import BoundData
from ..check.model import CheckedModel, shape_str


@dataclass
class View:
    key: str
    title: str
    prefixes: tuple[str, ...]  # its figures' ids start so; () for a view that is a table


ONE_D = View("predictive_1d", "1-D predictive and uncertainty split", ("predictive_", "uncertainty_"))
MAPS = View("maps", "maps over two inputs", ("map_mean_", "map_epistemic_"))
RELEVANCE = View("relevance", "input relevance", ())
PRIOR = View("prior_functions", "prior functions", ("prior_functions_",))
OOD = View("ood", "out-of-distribution histogram", ("ood_",))


@dataclass
class Layout:
    """The model's inputs on the rows as a table sees them: its real columns, and why any other input is none."""

    columns: list[str] = field(default_factory=list)
    not_columns: list[str] = field(default_factory=list)

    def reason(self, wanted: str, purpose: str) -> str:
        """Why a view that needs `wanted` real input columns (words: "exactly one") `purpose` does not apply; the
        same words for every such view when an input is no column (the page lists those views together)."""
        if self.not_columns:
            return "; ".join(self.not_columns) + ": these views read the inputs as columns of a table"
        n = len(self.columns)
        return f"it needs {wanted} real input column(s) {purpose}; this model has {n}" + (
            f" ({', '.join(self.columns[:6])}{', ...' if n > 6 else ''})" if n else ""
        )


def layout(checked: CheckedModel, train: BoundData) -> Layout:
    """The real input columns on the observed rows; integer inputs and inputs of rank > 2 are named with why."""
    row = checked.observed[0].shape[0] if checked.observed and checked.observed[0].shape else None
    out = Layout()
    for v in checked.inputs:
        if not v.shape or v.shape[0] != row or v.name not in train.arrays:
            continue  # not on the rows (a lookup table, a constant): no view reads it as columns
        arr = np.asarray(train.arrays[v.name])
        declared = f"{v.name}: {v.base}{shape_str(v.shape)}"
        if v.base != "real":
            out.not_columns.append(f"{declared} holds integer ids (categories or tokens), not values along an axis")
        elif arr.ndim > 2:
            per_row = ", ".join(str(s) for s in arr.shape[1:])
            out.not_columns.append(f"{declared} gives each row an array of shape [{per_row}] (an image or a sequence)")
        elif arr.ndim == 1:
            out.columns.append(v.name)
        else:
            names = [c.id for c in v.decl.columns] if v.decl.columns else None
            out.columns += [names[j] if names else f"{v.name}[{j}]" for j in range(arr.shape[1])]
    return out


def skipped(
    checked: CheckedModel,
    train: BoundData,
    figure_ids: list[str],
    relevance: Any,
    prior_checked: bool,
    ood_given: bool,
) -> list[dict[str, str]]:
    """One entry per view the report left out, with why: {"view", "title", "reason"}."""
    lay = layout(checked, train)
    drawn = {view.key: any(f.startswith(view.prefixes) for f in figure_ids) for view in (ONE_D, MAPS, PRIOR, OOD)}
    out = []

    def skip(view: View, reason: str) -> None:
        out.append({"view": view.key, "title": view.title, "reason": reason})

    if not drawn[ONE_D.key]:
        fits = len(lay.columns) == 1 and not lay.not_columns
        skip(ONE_D, "no output is a mean with one value per row (class probabilities are judged by the reliability "
             "diagram)" if fits else lay.reason("exactly one", "to draw along"))  # fmt: skip
    if not drawn[MAPS.key]:
        fits = len(lay.columns) == 2 and not lay.not_columns
        skip(MAPS, "no output has one value or one class per row" if fits else lay.reason("exactly two", "to map over"))
    if relevance is None:
        if len(lay.columns) >= 2:
            skip(RELEVANCE, "every real input column is constant on the training rows")
        else:
            skip(RELEVANCE, lay.reason("at least two", "to compare"))
    if not drawn[PRIOR.key]:
        if not prior_checked:
            skip(PRIOR, "a GP's prior is its kernel: the report runs no prior predictive check")
        elif len(lay.columns) == 1 and not lay.not_columns:
            skip(PRIOR, "the outputs are class probabilities of more than two classes or several values per row")
        else:
            skip(PRIOR, lay.reason("exactly one", "to draw along"))
    if not ood_given:
        skip(OOD, "no out-of-distribution inputs were given (`bnnc report RUN --ood FILE`)")
    return out


def one_input(checked: CheckedModel) -> str | None:
    """The name of the model's single real input with one column, when there is exactly one (the 1-D figure)."""
    inputs = list(checked.inputs)
    if len(inputs) != 1 or inputs[0].base != "real":
        return None
    v = inputs[0]
    if len(v.shape) == 1 or (len(v.shape) == 2 and v.shape[1] == 1):
        return v.name
    return None
