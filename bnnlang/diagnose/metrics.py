"""Held-out accuracy and calibration of a posterior predictive, computed from its draws.

The run report and `bnnc report --test` score a fitted model on data it never saw. A BNN's
point accuracy says little on its own: the point of the posterior is honest uncertainty, so
next to RMSE / accuracy these measure calibration (interval coverage, PIT, ECE, NLPD) and
out-of-distribution separation (AUROC). They are plain NumPy on arrays of draws, with no JAX or
arviz, so they can be tested on hand-sized inputs and reused on any predictive, whichever
inference method produced it.

Shapes: draws are `[S, *y.shape]` (S draws first); class probabilities are `[N, K]`. Arguments
whose shapes would silently broadcast against each other are checked and refused.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

_PROB_FLOOR = 1e-12


def _array(x: Any, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.size == 0:
        raise ValueError(f"{name} is empty (shape {a.shape})")
    return a


def _same_shape(a: np.ndarray, b: np.ndarray, a_name: str, b_name: str) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{a_name} has shape {a.shape} but {b_name} has shape {b.shape}; they must match")


def _draws_for(y: Any, draws: Any) -> tuple[np.ndarray, np.ndarray]:
    """y flattened to [N] and draws to [S, N], after checking draws is [S, *y.shape]."""
    y = _array(y, "y")
    draws = _array(draws, "draws")
    if draws.ndim != y.ndim + 1 or draws.shape[1:] != y.shape:
        raise ValueError(f"draws has shape {draws.shape} but y has shape {y.shape}; draws must be [S, *y.shape]")
    return y.reshape(-1), draws.reshape(draws.shape[0], -1)


def _labels_probs(labels: Any, probs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Integer labels [N] and probabilities [N, K], checked against each other."""
    probs = _array(probs, "probs")
    if probs.ndim != 2:
        raise ValueError(f"probs must be [N, K], got shape {probs.shape}")
    raw = np.asarray(labels)
    if raw.shape != (probs.shape[0],):
        raise ValueError(f"labels has shape {raw.shape} but probs has shape {probs.shape}; labels must be [N]")
    as_int = raw.astype(np.int64)
    if not np.array_equal(as_int, raw):
        raise ValueError("labels must be whole numbers (class indices)")
    if as_int.min() < 0 or as_int.max() >= probs.shape[1]:
        raise ValueError(f"labels must lie in [0, {probs.shape[1]}) for probs of shape {probs.shape}")
    return as_int, probs


def _unit_bins(values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-width bin edges on [0, 1] and each value's bin index, 1.0 falling in the last bin."""
    if int(bins) != bins or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    bins = int(bins)
    if np.isnan(values).any() or values.min() < 0.0 or values.max() > 1.0:
        raise ValueError("values to bin must lie in [0, 1]")
    edges = np.arange(bins + 1) / bins  # k / bins exactly rounded, so a value of 0.3 sits on the 0.3 edge
    index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)
    return edges, index


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)  # a column of -inf stays -inf rather than becoming nan
    with np.errstate(divide="ignore"):
        return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(a - m), axis=axis))


# --- regression -------------------------------------------------------------------------------


def rmse(y: Any, mean: Any) -> float:
    """Root mean squared error of the predictive mean."""
    y, mean = _array(y, "y"), _array(mean, "mean")
    _same_shape(y, mean, "y", "mean")
    return float(np.sqrt(np.mean((y - mean) ** 2)))


def nlpd(logp: Any) -> float:
    """Negative log predictive density, averaged over data rows.

    `logp[s, n] = log p(y_n | draw s)`; the predictive density of row n is the mean over draws,
    taken in log space so that very small densities (logp = -1000) do not underflow to log 0.
    Trailing dimensions after the first are treated as data rows.
    """
    logp = _array(logp, "logp")
    if logp.ndim < 2:
        raise ValueError(f"logp must be [S, N] (draws, rows), got shape {logp.shape}")
    logp = logp.reshape(logp.shape[0], -1)
    per_row = _logsumexp(logp, axis=0) - np.log(logp.shape[0])
    return float(-np.mean(per_row))


def interval_coverage(y: Any, draws: Any, levels: Sequence[float] = (0.5, 0.8, 0.9, 0.95)) -> dict[float, float]:
    """Fraction of y inside the central interval of the draws, per nominal level.

    A calibrated predictive covers about `level` of the held-out points; less means
    over-confident, more means under-confident. Interval ends are draw quantiles
    (np.quantile, default method) and are inclusive.
    """
    y, draws = _draws_for(y, draws)
    out: dict[float, float] = {}
    for level in levels:
        level = float(level)
        if not 0.0 < level <= 1.0:
            raise ValueError(f"interval levels must lie in (0, 1], got {level}")
        lo, hi = np.quantile(draws, [(1.0 - level) / 2.0, 1.0 - (1.0 - level) / 2.0], axis=0)
        out[level] = float(np.mean((y >= lo) & (y <= hi)))
    return out


def pit(y: Any, draws: Any) -> np.ndarray:
    """Probability integral transform of each y under its predictive draws, shaped like y.

    `mean(draws < y) + 0.5 * mean(draws == y)`: the half for ties keeps count data (where
    draws often equal y exactly) centred instead of piling up at one end. A calibrated
    predictive gives PIT values that are uniform on [0, 1].
    """
    shape = np.shape(y)
    y, draws = _draws_for(y, draws)
    values = np.mean(draws < y, axis=0) + 0.5 * np.mean(draws == y, axis=0)
    return values.reshape(shape)


def pit_histogram(pit_values: Any, bins: int = 10) -> np.ndarray:
    """Counts of PIT values in equal-width bins on [0, 1] (1.0 in the last bin): flat when calibrated."""
    values = _array(pit_values, "pit_values").reshape(-1)
    _, index = _unit_bins(values, bins)
    return np.bincount(index, minlength=int(bins))


# --- classification ---------------------------------------------------------------------------


def _top_label(labels: Any, probs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Each row's top-label confidence (max_k probs) and whether that label is right (1.0 or 0.0; first class
    wins a tie): what accuracy, the reliability diagram and its reading are made of."""
    labels, probs = _labels_probs(labels, probs)
    return np.max(probs, axis=1), (np.argmax(probs, axis=1) == labels).astype(float)


def accuracy(labels: Any, probs: Any) -> float:
    """Fraction of rows whose most probable class is the label (first class wins a tie)."""
    return float(np.mean(_top_label(labels, probs)[1]))


def classification_nll(labels: Any, probs: Any) -> float:
    """Mean negative log probability of the true class; probabilities are floored at 1e-12 so one
    confident miss gives a large but finite penalty."""
    labels, probs = _labels_probs(labels, probs)
    p = np.clip(probs[np.arange(labels.size), labels], _PROB_FLOOR, 1.0)
    return float(-np.mean(np.log(p)))


def brier(labels: Any, probs: Any) -> float:
    """Multi-class Brier score: mean over rows of sum_k (probs[n, k] - onehot[n, k])^2.

    For K = 2 this counts the error on both columns, so it is twice the binary Brier score
    (mean of (p_positive - y)^2).
    """
    labels, probs = _labels_probs(labels, probs)
    onehot = np.zeros_like(probs)
    onehot[np.arange(labels.size), labels] = 1.0
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


def calibration_bins(labels: Any, probs: Any, bins: int = 10) -> dict[str, np.ndarray]:
    """Reliability-diagram data: rows binned by top-label confidence (max_k probs) on [0, 1].

    Returns "edges" [bins + 1], and per bin "confidence" (mean top-label confidence),
    "accuracy" (fraction whose top label is right), both nan for an empty bin, and "count".
    """
    confidence, correct = _top_label(labels, probs)
    edges, index = _unit_bins(confidence, bins)
    count = np.bincount(index, minlength=edges.size - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=confidence, minlength=count.size) / count
        mean_acc = np.bincount(index, weights=correct, minlength=count.size) / count
    empty = count == 0
    mean_conf[empty] = np.nan
    mean_acc[empty] = np.nan
    return {"edges": edges, "confidence": mean_conf, "accuracy": mean_acc, "count": count}


def expected_calibration_error(labels: Any, probs: Any, bins: int = 10) -> float:
    """Count-weighted mean gap between accuracy and confidence over the non-empty bins."""
    table = calibration_bins(labels, probs, bins)
    count = table["count"]
    full = count > 0
    gaps = np.abs(table["accuracy"][full] - table["confidence"][full])
    return float(np.sum(count[full] / count.sum() * gaps))


def confidence_reading(labels: Any, probs: Any) -> dict[str, Any]:
    """The reliability diagram read out in words: mean top-label confidence against accuracy.

    Their difference, averaged over rows, is over-confidence (> 0) or under-confidence (< 0); it is called
    either only when it exceeds twice its standard error over rows, so a small test set is not over-read.
    """
    confidence, correct = _top_label(labels, probs)
    gap = confidence - correct
    mean = float(np.mean(gap))
    se = float(np.std(gap, ddof=1) / np.sqrt(gap.size)) if gap.size > 1 else math.inf
    said = f"mean confidence {np.mean(confidence):.3f} against accuracy {np.mean(correct):.3f}"
    if abs(mean) <= 2 * se:
        words = f"calibrated: {said} (within 2 se, {2 * se:.3f})"
    elif mean > 0:
        words = f"over-confident: {said}; its probabilities are too close to 0 and 1"
    else:
        words = f"under-confident: {said}; its probabilities are too close to chance"
    return {"mean_confidence": float(np.mean(confidence)), "confidence_gap": mean, "gap_se": se, "reading": words}


# --- out-of-distribution separation -----------------------------------------------------------


def auroc(negatives: Any, positives: Any) -> float:
    """Probability that a random positive scores above a random negative, ties counting 1/2.

    This is the Mann-Whitney U statistic over n_neg * n_pos, computed by binary search in the
    sorted negatives (O(n log n)), e.g. for telling out-of-distribution inputs (positives) from
    in-distribution ones by predictive uncertainty.
    """
    neg = _array(negatives, "negatives").reshape(-1)
    pos = _array(positives, "positives").reshape(-1)
    if np.isnan(neg).any() or np.isnan(pos).any():
        raise ValueError("auroc scores must not be nan")
    neg = np.sort(neg)
    below = np.searchsorted(neg, pos, side="left")
    tied = np.searchsorted(neg, pos, side="right") - below
    return float((below.sum() + 0.5 * tied.sum()) / (neg.size * pos.size))
