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

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az

RHAT_MAX = 1.01


def _clean(x: float) -> float | None:
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else round(x, 6)


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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rhat = az.rhat(idata) if chains > 1 else (az.rhat(_halves(post)) if draws >= 8 else None)
        enough = draws >= 4  # a point estimate (svi guide = map) has one draw: no ESS
        ess_bulk = az.ess(idata, method="bulk") if enough else None
        ess_tail = az.ess(idata, method="tail") if enough else None
        mcse = az.mcse(idata) if enough else None
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
            arrays[name] = {
                "shape": list(values.shape[2:]),
                "max_r_hat": _clean(np.nanmax(rhat[name].values)) if rhat is not None else None,
                "min_ess_bulk": _clean(np.nanmin(ess_bulk[name].values)) if enough else None,
                "min_ess_tail": _clean(np.nanmin(ess_tail[name].values)) if enough else None,
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
    out["scalar_r_hat_ok"] = max(worst) <= RHAT_MAX if worst else None
    return out
