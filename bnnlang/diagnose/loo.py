"""PSIS-LOO (Vehtari, Gelman & Gabry 2017) of a run, by ArviZ's `loo`, and the comparison of runs, by `compare`.

Each observed value is one left-out point: a model's observed arrays are flattened and joined, so a model with
two observed variables leaves out one value of either at a time.

The relative efficiency r_eff (which sets PSIS's tail length and the Monte Carlo error) is computed here rather
than by ArviZ, which averages the ESS of every parameter: for a network that is thousands of quantities that
need not mix for the predictions to. Here it is the ESS of each point's likelihood p(y_i | theta), averaged
over points (as R's `loo::relative_eff`).

Ensemble-started chains (MILE, `init = ensemble`) sit in different modes by design. Their draws, pooled, are an
equal-weight mixture of the members' posteriors, and that mixture is what the run's predictions use; PSIS-LOO
over the pooled draws estimates the leave-one-out predictive of that mixture (leaving a point out reweights
draws across members too). It is not the full posterior's LOO unless the modes' posterior masses are equal.
Their r_eff is within each chain (a chain against itself): across chains, ESS would count the distance between
modes as non-convergence.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .convergence import _ess
from .predictive import pointwise_loglik

K_WARN = 0.7  # Pareto k-hat above which a point's importance weights are unreliable (Vehtari et al. 2024)
K_BAD = 1.0  # above which its LOO estimate has no finite variance


def relative_efficiency(loglik: np.ndarray, within_chains: bool) -> float:
    """Mean over points of ESS(p(y_i | theta)) / draws; with `within_chains`, each chain on its own."""
    c, s, _ = loglik.shape
    lik = np.exp(loglik - loglik.max(axis=(0, 1), keepdims=True))  # the scale does not change an ESS
    if within_chains:
        ess = sum(_ess(lik[i : i + 1]) for i in range(c))
    else:
        ess = _ess(lik)
    r = np.nan_to_num(np.asarray(ess, float) / (c * s), nan=1.0)  # a constant likelihood: draws all equal
    return float(np.clip(np.mean(r), 1.0 / (c * s), None))


def elpd(idata, within_chains: bool = False):
    """ArviZ's PSIS-LOO (`ELPDData`, pointwise) of the run, or None if it saved no log-likelihood."""
    import arviz as az
    import xarray as xr

    loglik = pointwise_loglik(idata)
    if loglik is None:
        return None
    loglik = loglik.astype(float)
    data = az.InferenceData(log_likelihood=xr.Dataset({"y": (("chain", "draw", "point"), loglik)}))
    reff = relative_efficiency(loglik, within_chains)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its k-hat warning: `summary` says it, with the points
        return az.loo(data, pointwise=True, reff=reff)


def summary(result, within_chains: bool) -> dict[str, Any]:
    """What the report shows: elpd_loo and its se, p_loo, the k-hat counts and the points above K_WARN."""
    k = np.asarray(result.pareto_k, float)
    flagged = np.flatnonzero(k > K_WARN)
    return {
        "elpd_loo": float(result["elpd_loo"]),
        "se": float(result["se"]),
        "p_loo": float(result["p_loo"]),
        "points": int(k.size),
        "draws": int(result["n_samples"]),
        "k_good": int(np.sum(k <= K_WARN)),
        "k_high": int(np.sum((k > K_WARN) & (k <= K_BAD))),
        "k_very_high": int(np.sum(k > K_BAD)),
        "flagged_points": [int(i) for i in flagged[np.argsort(-k[flagged])]],  # worst first
        "max_k": float(np.nanmax(k)) if k.size else float("nan"),
        "mixture_of_modes": within_chains,
    }


def compare(results: dict[str, Any]) -> list[dict[str, Any]]:
    """ArviZ's `compare` (stacking weights) of runs' PSIS-LOO, best first (rank 1): one dict per run."""
    import arviz as az

    table = az.compare(results, ic="loo", method="stacking", scale="log")
    rows = []
    for name, r in table.iterrows():
        k = np.asarray(results[name].pareto_k, float)
        rows.append(
            {
                "run": str(name),
                "rank": int(r["rank"]) + 1,
                "elpd_loo": float(r["elpd_loo"]),
                "se": float(r["se"]),
                "elpd_diff": -float(r["elpd_diff"]),  # this run less the best (<= 0), as loo_compare
                "dse": float(r["dse"]),
                "p_loo": float(r["p_loo"]),
                "weight": float(r["weight"]),
                "k_high": int(np.sum(k > K_WARN)),
                "points": int(k.size),
            }
        )
    return rows


def comparison_table(rows: list[dict[str, Any]], runs: dict[str, dict[str, Any]]) -> str:
    """The comparison as a markdown table (it reads as plain text too), best first, with what to make of it."""
    lines = [
        "| rank | run | backend | elpd_loo | se | elpd_diff | dse | p_loo | weight | k̂ > 0.7 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['rank']} | {r['run']} | {runs[r['run']]['backend']} | {r['elpd_loo']:.1f} | {r['se']:.1f} "
            f"| {r['elpd_diff']:.1f} | {r['dse']:.1f} | {r['p_loo']:.1f} | {r['weight']:.2f} "
            f"| {r['k_high']} of {r['points']} |"
        )
    notes = [
        "elpd_loo: expected log predictive density of a left-out point, summed over points (higher is better); "
        "elpd_diff and dse: the difference from the best run and its standard error (paired over points); "
        "weight: stacking weight.",
    ]
    if len(rows) > 1:
        best, second = rows[0], rows[1]
        if second["dse"] > 0 and abs(second["elpd_diff"]) < 2 * second["dse"]:
            notes.append(f"{best['run']} and {second['run']} are within two standard errors of each other.")
        else:
            notes.append(f"{best['run']} predicts left-out points better than {second['run']} (beyond 2 se).")
    for r in rows:
        if r["k_high"]:
            notes.append(
                f"{r['run']}: {r['k_high']} points with Pareto k̂ > {K_WARN} (worst first: "
                f"{_points(runs[r['run']]['loo']['flagged_points'])}); their LOO estimates are unreliable: refit "
                "without them (exact LOO) or use K-fold cross-validation for this run."
            )
        if runs[r["run"]]["loo"]["mixture_of_modes"]:
            notes.append(
                f"{r['run']}: chains started from ensemble members; its elpd_loo is that of the equal-weight "
                "mixture of the members, which its predictions use (docs/diagnostics.md)."
            )
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


def _points(indices: list[int], most: int = 10) -> str:
    shown = ", ".join(str(i) for i in indices[:most])
    return shown + (f", ... ({len(indices)} in all)" if len(indices) > most else "")
