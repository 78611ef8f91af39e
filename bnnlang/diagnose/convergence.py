"""Rank-normalised split R-hat and bulk/tail ESS (Vehtari et al. 2021) for many quantities at once.

Why not ArviZ's `rhat`/`ess` here: they loop over quantities one at a time in Python, which costs seconds
for a network's few thousand weights or a report's hundreds of predictions (benchmarks/results/design_notes.md#vectorised-convergence).
The definitions are ArviZ's: split chains, pool
and rank-normalise (average ranks, z = Phi^-1((r - 3/8) / (n + 1/4))), R-hat the larger of the bulk and
the folded (|x - median|) versions, tail ESS the smaller of the ESS of the 5% and 95% quantile indicators;
the ESS itself is NumPyro's vectorised Geyer estimator. Scalar parameters keep ArviZ's own functions in
the summary; `tests/test_convergence.py` checks the two agree.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpyro.diagnostics import effective_sample_size
from scipy.special import ndtri
from scipy.stats import rankdata


def split_chains(values: np.ndarray) -> np.ndarray:
    """[C, S, ...] -> [2C, S // 2, ...]: first and last halves (the middle draw of an odd S dropped)."""
    half = values.shape[1] // 2
    return np.concatenate([values[:, :half], values[:, values.shape[1] - half :]], axis=0)


def z_scale(values: np.ndarray) -> np.ndarray:
    """Rank-normalise each quantity [C, S, P] over all its chains and draws."""
    c, s, p = values.shape
    ranks = rankdata(values.reshape(c * s, p), axis=0, method="average")
    return ndtri((ranks - 0.375) / (c * s + 0.25)).reshape(c, s, p)


def _rhat(x: np.ndarray) -> np.ndarray:
    """Classic R-hat of already split chains [C, S, P]."""
    s = x.shape[1]
    between = s * np.var(x.mean(axis=1), axis=0, ddof=1)
    within = np.mean(np.var(x, axis=1, ddof=1), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt((between / within + s - 1) / s)


def _ess(x: np.ndarray) -> np.ndarray:
    """NumPyro's ESS, floored at 0: on a few draws its autocorrelation sums can make it negative, which no
    reader should see (0 fails every ESS check, as so short a run should)."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        return np.maximum(np.asarray(effective_sample_size(x), float), 0.0)


def rhat_ess(values: np.ndarray) -> dict[str, np.ndarray]:
    """R-hat, bulk ESS and tail ESS of each trailing entry of values [chains, draws, ...] (shape [...])."""
    values = np.asarray(values, float)
    shape = values.shape[2:]
    whole = values.reshape(values.shape[:2] + (-1,))
    x = split_chains(whole)
    if x.shape[1] < 2:
        nan = np.full(shape, np.nan)
        return {"r_hat": nan, "ess_bulk": nan, "ess_tail": nan}
    bulk = z_scale(x)
    folded = z_scale(np.abs(x - np.median(x.reshape(-1, x.shape[2]), axis=0)))
    rhat = np.fmax(_rhat(bulk), _rhat(folded))
    flat = whole.reshape(-1, x.shape[2])  # quantiles over every draw, the middle one of an odd count too
    lo, hi = np.quantile(flat, 0.05, axis=0), np.quantile(flat, 0.95, axis=0)
    tail = np.fmin(_ess((x <= lo).astype(float)), _ess((x <= hi).astype(float)))
    constant = np.ptp(flat, axis=0) == 0
    out = {"r_hat": rhat, "ess_bulk": _ess(bulk), "ess_tail": tail}
    return {k: np.where(constant, np.nan, v).reshape(shape) for k, v in out.items()}
