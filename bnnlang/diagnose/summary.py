"""The JSON summary of a run: convergence per parameter and per layer, and sampler health.

Weight arrays get a per-site digest (worst R-hat, smallest ESS) instead of one
row per weight: a BNN's weights are not identifiable (permutations, sign
flips), so thousands of weight rows say little; scalars get full rows.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .convergence import rhat_ess
from .thresholds import DEFAULT

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az


def _clean(x: float) -> float | None:
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else round(x, 6)


def _nan_or(reduce, values: np.ndarray) -> float | None:
    """`reduce` over the finite entries; None when there are none (constant weights have no R-hat)."""
    finite = np.asarray(values)[np.isfinite(values)]
    return _clean(reduce(finite)) if finite.size else None


def _halves(post):
    """One chain as two: split R-hat then still compares the start of the run with its end."""
    import xarray as xr

    half = post.sizes["draw"] // 2
    first = post.isel(chain=[0], draw=slice(0, half))
    second = post.isel(chain=[0], draw=slice(half, 2 * half)).assign_coords(draw=first.draw)
    return xr.concat([first, second], dim="chain").assign_coords(chain=[0, 1])


def summarize(idata, info: dict[str, Any] | None = None) -> dict[str, Any]:
    post = idata.posterior
    chains, draws = post.sizes["chain"], post.sizes["draw"]
    scalars: dict[str, Any] = {}
    arrays: dict[str, Any] = {}
    scalar_names = [name for name in post.data_vars if post[name].ndim == 2]
    enough = draws >= 4  # a point estimate (svi guide = map) has one draw: no ESS
    rhat = ess_bulk = ess_tail = mcse = None
    if scalar_names:
        sub = post[scalar_names]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rhat = az.rhat(sub) if chains > 1 else (az.rhat(_halves(sub)) if draws >= 8 else None)
            if enough:
                ess_bulk, ess_tail, mcse = az.ess(sub, method="bulk"), az.ess(sub, method="tail"), az.mcse(sub)
    for name in post.data_vars:
        values = post[name].values
        if values.ndim == 2:
            scalars[name] = {
                "mean": _clean(values.mean()),
                "sd": _clean(values.std()),
                "q5": _clean(np.quantile(values, 0.05)),
                "q95": _clean(np.quantile(values, 0.95)),
                "r_hat": _clean(rhat[name].values) if rhat is not None else None,
                "ess_bulk": _clean(ess_bulk[name].values) if enough else None,
                "ess_tail": _clean(ess_tail[name].values) if enough else None,
                "mcse_mean": _clean(mcse[name].values) if enough else None,
            }
        else:
            # vectorised over the weights (ArviZ's definitions, `convergence`); one chain is judged as two halves
            halves = chains == 1 and draws >= 8
            stats = (
                rhat_ess(values[:, : 2 * (draws // 2)].reshape((2, draws // 2) + values.shape[2:]))
                if halves
                else (rhat_ess(values) if enough else None)
            )
            arrays[name] = {
                "shape": list(values.shape[2:]),
                "max_r_hat": _nan_or(np.nanmax, stats["r_hat"]) if stats and (chains > 1 or halves) else None,
                "min_ess_bulk": _nan_or(np.nanmin, stats["ess_bulk"]) if stats and enough else None,
                "min_ess_tail": _nan_or(np.nanmin, stats["ess_tail"]) if stats and enough else None,
            }
    out: dict[str, Any] = {"chains": int(chains), "draws_per_chain": int(draws), "scalars": scalars, "arrays": arrays}
    if "diverging" in idata.sample_stats:
        ss = idata.sample_stats
        out["sampler"] = {
            "divergences": int(ss["diverging"].values.sum()),
            "mean_tree_depth": _clean(ss["tree_depth"].values.mean()),
            "mean_acceptance": _clean(ss["acceptance_rate"].values.mean()),
            "step_size_per_chain": [_clean(v) for v in ss["step_size"].values[:, -1]],
        }
        if "energy" in ss and draws >= 4:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out["sampler"]["bfmi"] = [_clean(v) for v in az.bfmi(idata)]
        if info and "max_tree_depth_hits" in info:
            out["sampler"]["tree_depth_saturation"] = _clean(info["max_tree_depth_hits"] / (chains * draws))
    if info:
        out["run"] = info
    worst = [v["r_hat"] for v in scalars.values() if v["r_hat"] is not None]
    out["scalar_r_hat_ok"] = max(worst) <= DEFAULT.rhat_max if worst else None
    return out
