"""Does the model fit? Checks of the predictions, beside the checks of the computation.

A converged posterior of a model that does not fit is still a bad answer: a collapsed variational guide gives
intervals that miss a third of the data, and a prior that keeps the network nearly linear gives a classifier
that k-nearest neighbours beats by ten points. Two kinds of check, on held-out data when the report has them
and on the training data otherwise:

- calibration (regression and counts): the share of observations inside the central 50% and 90% predictive
  intervals, against a binomial band around the nominal level;
- underfitting: the model's accuracy (classifiers) or RMSE against two baselines the report fits itself on the
  training rows: k-nearest neighbours (k = 5, standardised inputs) and ridge regression (least squares on the
  one-hot labels for classifiers). Without held-out data the baselines are scored leave-one-out (kNN without
  the row itself) and the model in-sample, so only a clear shortfall is flagged.

The baselines are a few lines of numpy on at most BASELINE_ROWS rows: scikit-learn would be a heavy dependency
for two textbook estimators (a note in docs/diagnostics.md).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .verdict import Check

K_NEIGHBOURS = 5
BASELINE_ROWS = 4000  # training rows the baselines see (subsampled above), and rows they are scored on
RIDGE = 1e-3  # ridge penalty per row, on standardised inputs
COVERAGE_LEVELS = (0.5, 0.9)
COVERAGE_MIN_BAND = 0.05  # at least this far from the nominal level before a coverage is flagged
ACCURACY_MIN_GAP = 0.02  # classifiers: flagged when a baseline is this much more accurate (and beyond noise)
RMSE_MAX_RATIO = 1.1  # regression: flagged when the model's RMSE exceeds the best baseline's by 10%


def features(arrays: dict[str, np.ndarray], inputs: list[str], rows: int) -> np.ndarray | None:
    """The inputs with one entry per row, flattened and side by side [rows, D]; None when there are none."""
    cols = [
        np.asarray(arrays[name], dtype=float).reshape(rows, -1)
        for name in inputs
        if name in arrays and np.ndim(arrays[name]) >= 1 and np.shape(arrays[name])[0] == rows
    ]
    return np.concatenate(cols, axis=1) if cols else None


def _standardise(train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    mu, sd = train.mean(axis=0), train.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return [(a - mu) / sd for a in (train, *others)]


def knn(x_train: np.ndarray, t_train: np.ndarray, x_eval: np.ndarray | None, k: int = K_NEIGHBOURS) -> np.ndarray:
    """Mean of the k nearest training targets (one-hot targets give class shares); `x_eval` None: leave-one-out
    on the training rows."""
    loo = x_eval is None
    x_eval = x_train if loo else x_eval
    d = (x_eval**2).sum(1)[:, None] - 2 * x_eval @ x_train.T + (x_train**2).sum(1)[None, :]
    if loo:
        np.fill_diagonal(d, np.inf)
    k = min(k, len(x_train) - (1 if loo else 0))
    nearest = np.argpartition(d, k - 1, axis=1)[:, :k]
    return t_train[nearest].mean(axis=1)


def ridge(x_train: np.ndarray, t_train: np.ndarray, x_eval: np.ndarray) -> np.ndarray:
    """Least squares with an intercept and a small ridge penalty (standardised inputs)."""
    a = np.hstack([x_train, np.ones((len(x_train), 1))])
    penalty = RIDGE * len(x_train) * np.eye(a.shape[1])
    penalty[-1, -1] = 0.0
    w = np.linalg.solve(a.T @ a + penalty, a.T @ t_train)
    return np.hstack([x_eval, np.ones((len(x_eval), 1))]) @ w


def baseline_scores(
    x_train: np.ndarray, y_train: np.ndarray, x_eval: np.ndarray | None, y_eval: np.ndarray | None, classes: int
) -> dict[str, float]:
    """Accuracy (classes > 0) or RMSE of each baseline on the evaluation rows (leave-one-out without them)."""
    if x_eval is None:
        (x_train,) = _standardise(x_train)
        y_eval = y_train
    else:
        x_train, x_eval = _standardise(x_train, x_eval)
    if classes:
        target = np.eye(classes)[y_train.astype(int).ravel()]
    else:
        target = y_train.reshape(len(y_train), -1).astype(float)
    predicted = {
        "knn": knn(x_train, target, x_eval),
        "linear": ridge(x_train, target, x_train if x_eval is None else x_eval),
    }
    if classes:
        labels = y_eval.astype(int).ravel()
        return {k: float((p.argmax(axis=1) == labels).mean()) for k, p in predicted.items()}
    truth = y_eval.reshape(len(y_eval), -1).astype(float)
    return {k: float(np.sqrt(((p - truth) ** 2).mean())) for k, p in predicted.items()}


def _subsample(n: int, seed: int) -> np.ndarray:
    idx = np.arange(n)
    return idx if n <= BASELINE_ROWS else np.sort(np.random.default_rng(seed).choice(n, BASELINE_ROWS, replace=False))


def underfit_check(
    name: str,
    model_score: float,
    classes: int,
    train: tuple[np.ndarray, np.ndarray],
    held_out: tuple[np.ndarray, np.ndarray] | None,
    seed: int = 0,
) -> Check:
    """The model's accuracy or RMSE against the best baseline's, on held-out rows or (baselines leave-one-out)
    on the training rows."""
    tr = _subsample(len(train[0]), seed)
    if held_out is None:
        scores = baseline_scores(train[0][tr], train[1][tr], None, None, classes)
        where, n = "training rows, baselines left-one-out", len(tr)
    else:
        ev = _subsample(len(held_out[0]), seed + 1)
        scores = baseline_scores(train[0][tr], train[1][tr], held_out[0][ev], held_out[1][ev], classes)
        where, n = "held-out rows", len(ev)
    best = max(scores, key=scores.get) if classes else min(scores, key=scores.get)
    b = scores[best]
    value = {"model": round(model_score, 4), **{k: round(v, 4) for k, v in scores.items()}, "rows": n}
    label = {"knn": f"{K_NEIGHBOURS}-nearest neighbours", "linear": "a linear model"}[best]
    if classes:
        p = min(max(b, model_score), 1 - 1 / (4 * n))
        margin = max(ACCURACY_MIN_GAP, 2 * math.sqrt(2 * p * (1 - p) / n))
        ok = model_score >= b - margin
        found = f"accuracy of {name} {model_score:.3f} against {label}'s {b:.3f} ({where})"
        threshold = f">= best baseline - {margin:.3f}"
        hint = "the network underfits: a wider prior scale, a wider network or more steps may help"
    else:
        ok = model_score <= RMSE_MAX_RATIO * b
        found = f"RMSE of {name} {model_score:.3g} against {label}'s {b:.3g} ({where})"
        threshold = f"<= {RMSE_MAX_RATIO} x best baseline"
        hint = "the model underfits: check the prior scale, the likelihood and the inputs"
    detail = f"{found}: no worse than simple baselines" if ok else f"{found}: {hint}"
    return Check(f"fit: accuracy of {name}", ok, value, threshold, detail, "fail", kind="fit")


def coverage_check(
    name: str, coverage: dict[str, float | None], rows: int, where: str, discrete: bool = False
) -> Check | None:
    """Central-interval coverage at COVERAGE_LEVELS within a binomial band (3 sd, at least COVERAGE_MIN_BAND).
    For discrete outcomes only the lower end: an interval of counts holds its end points, so covers more."""
    found, bad, bands = [], [], []
    for level in COVERAGE_LEVELS:
        got = coverage.get(str(level))
        if got is None:
            return None
        band = max(COVERAGE_MIN_BAND, 3 * math.sqrt(level * (1 - level) / max(rows, 1)))
        lo, hi = max(level - band, 0.0), 1.0 if discrete else min(level + band, 1.0)
        found.append(f"{level:.0%} interval covers {got:.0%}")
        bands.append(f"{lo:.0%}-{hi:.0%}")
        if not lo <= got <= hi:
            bad.append((level, got, lo, hi))
    text = f"{' and '.join(found)} of {name} ({where}, {rows} rows)"
    if not bad:
        detail = f"{text}: calibrated"
    else:
        level, got, lo, hi = bad[0]
        side = "too narrow: the model is overconfident" if got < lo else "too wide: the model is underconfident"
        detail = f"{text}: the {level:.0%} intervals are {side} (expected {lo:.0%}-{hi:.0%})"
    value = {str(k): coverage.get(str(k)) for k in COVERAGE_LEVELS} | {"rows": rows}
    return Check(f"fit: calibration of {name}", not bad, value, " and ".join(bands), detail, "fail", kind="fit")


def fit_checks(
    preds: dict[str, Any],
    train_arrays: dict[str, np.ndarray],
    test_arrays: dict[str, np.ndarray] | None,
    inputs: list[str],
    coverages: dict[str, dict[str, float | None] | None],
    discrete: dict[str, bool] | None = None,
    seed: int = 0,
) -> list[Check]:
    """The fit checks of every observed variable. `preds`: its Predictive on the evaluation rows (held-out when
    `test_arrays` is given); `coverages`: its interval coverage there."""
    checks: list[Check] = []
    for name, pred in preds.items():
        rows = int(np.shape(train_arrays[name])[0])
        evaluation = test_arrays if test_arrays is not None else train_arrays
        n_eval = int(np.shape(evaluation[name])[0])
        where = "held-out rows" if test_arrays is not None else "training rows"
        cov = coverages.get(name)
        if not pred.classifier and cov is not None:
            check = coverage_check(name, cov, n_eval, where, (discrete or {}).get(name, False))
            if check is not None:
                checks.append(check)
        x_train = features(train_arrays, inputs, rows)
        if x_train is None or rows < 2 * K_NEIGHBOURS:
            continue
        y = np.asarray(evaluation[name])
        if pred.classifier:
            classes = int(pred.probs.shape[-1])
            probs = pred.flat("probs").mean(axis=0).reshape(-1, classes)
            model_score = float((probs.argmax(axis=1) == y.astype(int).ravel()).mean())
        else:
            classes = 0
            mean = pred.flat("mean").mean(axis=0).reshape(n_eval, -1)
            model_score = float(np.sqrt(((mean - y.reshape(n_eval, -1)) ** 2).mean()))
        held = None
        if test_arrays is not None:
            x_eval = features(test_arrays, inputs, n_eval)
            if x_eval is None or x_eval.shape[1] != x_train.shape[1]:
                continue
            held = (x_eval, y)
        checks.append(underfit_check(name, model_score, classes, (x_train, np.asarray(train_arrays[name])), held, seed))
    return checks
