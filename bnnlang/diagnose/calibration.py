"""A classifier's calibration and out-of-distribution separation, as the report shows them for any input rank.

Both read only the outputs, so they apply to a CNN on images, a network on sequences or tokens, and a tabular
classifier alike, where the views drawn over the inputs (`views.py`) do not:

- the reliability diagram: rows binned by top-label confidence (`metrics.calibration_bins`), each bin's accuracy
  against its mean confidence, with the ECE and the rows per bin in the caption; on the test file when the report
  has one, else on the training data (in-sample, which flatters the model, and the caption says so);
- the OOD histogram: the epistemic part of the uncertainty (mutual information for classifiers, the sd of the
  likelihood's mean otherwise) on the reference rows (held-out, else training) and on the OOD rows, with the AUROC
  of telling them apart by it (`metrics.auroc`).

report.json gets the same numbers: `reliability` per output (bins, ECE, and per row the top-label confidence and
predicted class the bins are made of), `ood` per output (AUROC), and each figure's data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import metrics, plots
from .figure import Figure
from .predictive import Predictive, epistemic_score

WHERE = {
    True: ("held-out inputs", "held out", "held-out rows"),
    False: ("training inputs", "training data", "training rows"),
}
ROW_DIGITS = 6  # per-row confidences in report.json


def reliability(name: str, pred: Predictive, scores: dict[str, Any], held_out: bool) -> tuple[dict, Figure]:
    """The reliability content of one classifier output and its figure, from `predictive.classification_scores`
    on the same rows (held-out ones, or the training ones)."""
    where, short, rows = WHERE[held_out]
    probs = pred.flat("probs").mean(axis=0).reshape(-1, pred.probs.shape[-1])
    b = scores["calibration_bins"]
    content = {
        "inputs": where,
        "rows": scores["rows"],
        "ece": scores["ece"],
        "accuracy": scores["accuracy"],
        "mean_confidence": scores["mean_confidence"],
        "reading": scores["reading"],
        "bins": b,
        "row_confidence": np.round(probs.max(axis=1), ROW_DIGITS),
        "row_predicted": probs.argmax(axis=1),
    }
    counts = ", ".join(str(int(c)) for c in b["count"])
    edges = b["edges"]
    in_sample = (
        ""
        if held_out
        else " In-sample: these are the rows the model was fitted to, which flatters it; `bnnc report --test FILE` "
        "gives a held-out diagram."
    )
    caption = (
        f"Rows binned by top-label confidence (the largest posterior predictive class probability) in "
        f"{len(edges) - 1} equal-width bins on [{edges[0]:g}, {edges[-1]:g}]: each bin's accuracy against its mean "
        f"confidence; the diagonal is perfect calibration, bars below it over-confident bins. "
        f"ECE {_show(scores['ece'])} (the gap, weighted by rows) on {scores['rows']} {rows}; "
        f"rows per bin, lowest confidence first: {counts}. {_sentence(scores['reading'])}.{in_sample}"
    )
    figure = Figure(
        f"reliability_{name}",
        f"Reliability diagram: {name} ({short})",
        caption,
        plots.reliability(
            np.asarray(b["confidence"], dtype=float),
            np.asarray(b["accuracy"], dtype=float),
            np.asarray(b["count"]),
            np.asarray(edges, dtype=float),
        ),
        {**b, "ece": scores["ece"], "rows": scores["rows"], "inputs": where},
    )
    return content, figure


def ood(
    preds: dict[str, Predictive], reference: dict[str, Predictive], reference_is_test: bool
) -> tuple[dict[str, Any], list[Figure]]:
    """How well epistemic uncertainty tells out-of-distribution inputs (`preds`, at the OOD rows) from the
    reference rows (AUROC), and the two histograms."""
    out, figures = {}, []
    ref_label = "held-out" if reference_is_test else "training"
    for name, pred in preds.items():
        inside, outside = epistemic_score(reference[name]).ravel(), epistemic_score(pred).ravel()
        score = "mutual information" if pred.classifier else "epistemic sd"
        auroc = metrics.auroc(inside, outside)
        out[name] = {
            "score": score,
            "reference": f"{ref_label} inputs",
            "auroc": _num(auroc),
            "rows_reference": int(inside.size),
            "rows_ood": int(outside.size),
            "median_reference": _num(np.median(inside)),
            "median_ood": _num(np.median(outside)),
        }
        figures.append(
            Figure(
                f"ood_{name}",
                f"Out-of-distribution: {score} of {name}",
                f"The {score} (the epistemic part of the uncertainty: where the posterior's draws disagree) at "
                f"{inside.size} {ref_label} and {outside.size} OOD input rows. AUROC {_show(auroc)} for telling "
                f"the OOD rows from the {ref_label} ones by it: 0.5 is chance, 1 is every OOD row above every "
                f"{ref_label} one.",
                plots.histogram_pairs(inside, outside, f"{ref_label} inputs", "OOD inputs", score, score),
                {"reference": inside, "ood": outside, "auroc": _num(auroc)},
            )
        )
    return out, figures


def _num(x) -> float | None:
    x = float(x)
    return None if not np.isfinite(x) else round(x, 6)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _show(x) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.3f}"
