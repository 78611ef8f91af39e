"""Simulation-based calibration (Talts et al. 2018, "Validating Bayesian inference algorithms with
simulation-based calibration").

If data are simulated from the model with parameters drawn from the prior, then the rank of the true
value of any quantity among L posterior draws is uniform on 0..L when the sampler is right. Each
replication draws the parameters and data from the compiled model (NumPyro's `Predictive` on the
model's own prior and likelihood), runs the backend through `Model.run` exactly as `bnnc run` does,
and records the ranks. A wrong log density, a mis-scaled likelihood or a sampler that does not mix
skews the ranks: `SBCResult.pvalues` tests their uniformity (chi-square over bins).

Posterior draws are thinned to L evenly spaced draws to reduce autocorrelation, which otherwise
makes rank histograms too peaked even for a correct sampler.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .check.data import BoundData

CLEAR_EVERY = 20  # replications between clearing JAX's compiled-program caches

Quantities = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]


@dataclass
class SBCResult:
    draws: int  # L: ranks lie in 0..L
    ranks: dict[str, list[int]] = field(default_factory=dict)  # quantity -> one rank per replication
    divergences: list[int] = field(default_factory=list)  # per replication

    @property
    def reps(self) -> int:
        return len(next(iter(self.ranks.values()), []))

    def pvalues(self, bins: int = 10) -> dict[str, float]:
        """Per quantity: the chi-square test's p-value for uniform ranks over `bins` equal bins of 0..L."""
        from scipy.stats import chi2

        if (self.draws + 1) % bins:
            raise ValueError(f"{bins} bins do not split the {self.draws + 1} possible ranks evenly")
        out = {}
        for name, ranks in self.ranks.items():
            counts = np.bincount(np.asarray(ranks) * bins // (self.draws + 1), minlength=bins)
            expected = len(ranks) / bins
            stat = float(((counts - expected) ** 2 / expected).sum())
            out[name] = float(chi2.sf(stat, bins - 1))
        return out

    def histograms(self, bins: int = 10) -> dict[str, list[int]]:
        return {
            k: np.bincount(np.asarray(r) * bins // (self.draws + 1), minlength=bins).tolist()
            for k, r in self.ranks.items()
        }


def scalar_quantities(names: list[str]) -> Quantities:
    """Every component of the named posterior variables, as `name[i]` for vectors."""

    def q(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = {}
        for name in names:
            v = np.asarray(values[name])
            flat = v.reshape(v.shape[0], -1)
            if flat.shape[1] == 1 and v.ndim == 1:
                out[name] = flat[:, 0]
            else:
                out.update({f"{name}[{i}]": flat[:, i] for i in range(flat.shape[1])})
        return out

    return q


def simulate(model: Any, inputs: BoundData, seed: int) -> tuple[dict[str, np.ndarray], BoundData]:
    """Parameters from the prior and observed data given them: (true values, the data to fit)."""
    import jax
    from numpyro.infer import Predictive

    kwargs = inputs.model_kwargs(model.checked, observed=False)
    kwargs.update(model.gp_inputs(kwargs))
    draw = Predictive(model.module.model, num_samples=1)(jax.random.PRNGKey(seed), **kwargs)
    truth = {k: np.asarray(v[0]) for k, v in draw.items()}
    observed = {v.name: truth[v.name].astype(np.float32) for v in model.checked.observed}
    return truth, BoundData({**inputs.arrays, **observed}, inputs.dims, f"<sbc replication {seed}>")


def run_sbc(
    model: Any,
    inputs: BoundData,
    reps: int,
    quantities: Quantities,
    draws: int = 99,
    seed: int = 0,
    on_rep: Callable[[int, SBCResult], None] | None = None,
    fit_model: Any = None,
    **overrides: Any,
) -> SBCResult:
    """`reps` replications of simulate, fit, rank. `overrides` are backend settings (as `Model.run` takes).

    `fit_model` fits the simulated data in place of `model` (same parameters): a model with a wrong
    likelihood there is how one shows that SBC catches it.
    """
    import jax

    result = SBCResult(draws)
    fit_model = fit_model or model
    for r in range(reps):
        truth, data = simulate(model, inputs, seed * 100_003 + r)
        run = fit_model.run(data, seed=r, **overrides)
        post = run.idata.posterior
        flat = {k: np.asarray(post[k]).reshape((-1,) + post[k].shape[2:]) for k in post.data_vars}
        total = next(iter(flat.values())).shape[0]
        if total < draws:
            raise ValueError(f"SBC needs at least {draws} posterior draws per replication; the run gave {total}")
        keep = np.linspace(0, total - 1, draws).round().astype(int)
        post_q = quantities({k: v[keep] for k, v in flat.items()})
        true_q = quantities({k: np.asarray(truth[k])[None] for k in flat})
        for name, values in post_q.items():
            result.ranks.setdefault(name, []).append(int(np.sum(values < true_q[name][0])))
        stats = run.idata.get("sample_stats")
        diverging = stats.get("diverging") if stats is not None else None
        result.divergences.append(int(diverging.sum()) if diverging is not None else 0)
        # every run compiles its own programs; hundreds of them in one process exhaust the memory maps, and
        # clearing after every run would recompile what the runs share (design_notes.md#sbc-cache-clearing)
        if (r + 1) % CLEAR_EVERY == 0:
            jax.clear_caches()
        if on_rep is not None:
            on_rep(r, result)
    return result


def bonferroni_min(pvalues: dict[str, float]) -> float:
    """The smallest p-value times the number of tests (capped at 1): one number for a family of quantities."""
    return min(1.0, min(pvalues.values()) * len(pvalues)) if pvalues else math.nan
