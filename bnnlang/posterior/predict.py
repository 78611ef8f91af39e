"""Posterior predictions at new inputs, with the epistemic/aleatoric split.

For each posterior draw the generated model is run on the new inputs with the
draw substituted; the observed site's distribution object gives that draw's
predictive mean and noise variance, and a sample from it gives a predictive
draw. Across draws: epistemic variance = variance of the means, aleatoric =
mean of the noise variances; for classifiers, total entropy = expected entropy
(aleatoric) + mutual information (epistemic).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import distributions as dist
from numpyro import handlers

from ..check.model import CheckedModel
from ..infer.problem import base_distribution

GP_LPD_BATCH = 16  # posterior draws evaluated at once by a GP model's held-out log density
# A posterior of fewer draws than FEW_DRAWS (a point estimate: svi's guide = map gives one) still has a predictive
# with its noise: each draw is replicated until there are REPLICATES predictive draws, so that intervals, coverage
# and PIT are not the spread of one sampled y (a 0% coverage at every level before).
FEW_DRAWS, REPLICATES = 20, 200


def flat_draws(idata, names: list[str], max_draws: int | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    post = idata.posterior
    out = {}
    for name in names:
        arr = np.asarray(post[name].values)
        out[name] = arr.reshape((-1,) + arr.shape[2:])
    total = next(iter(out.values())).shape[0]
    if max_draws is not None and total > max_draws:
        idx = np.sort(np.random.default_rng(seed).choice(total, max_draws, replace=False))
        out = {k: v[idx] for k, v in out.items()}
    return out


def fixed_values(idata) -> dict[str, jnp.ndarray]:
    """The deterministic layers of a partially Bayesian network, held at their MAP (empty otherwise)."""
    if "fixed" not in idata.groups():
        return {}
    return {k: jnp.asarray(v.values) for k, v in idata["fixed"].data_vars.items()}


def with_training_data(program: ModuleType, idata, kwargs: dict[str, Any]) -> dict[str, Any]:
    """What the model takes from its training run (ArviZ's observed_data and constant_data groups), unless
    the caller gave it: standardized variables' training statistics (`_shift_x`, `_scale_x`) and, for a GP
    model, the training data as `_train`, with sparse GPs' inducing inputs."""
    import inspect

    params = inspect.signature(program.model).parameters
    train: dict[str, np.ndarray] = {}
    for group in ("constant_data", "observed_data"):
        if group in idata.groups():
            train.update({k: np.asarray(v.values) for k, v in idata[group].data_vars.items()})
    stats = {k: train.pop(k) for k in list(train) if k.startswith(("_shift_", "_scale_")) and k in params}
    kwargs = {**kwargs, **{k: v for k, v in stats.items() if kwargs.get(k) is None}}
    if "_train" not in params or kwargs.get("_train") is not None:
        return kwargs
    extra = {k: train.pop(k) for k in list(train) if k.startswith("_Z_") and k in params}
    return {**kwargs, **extra, "_train": train}


def predictive_draws(
    program: ModuleType,
    checked: CheckedModel,
    idata,
    kwargs: dict[str, Any],
    seed: int = 0,
    max_draws: int | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Per observed variable: 'draws' (sampled y), 'mean', 'var', and 'probs' for classifiers, each [S, ...]
    (S: the posterior's draws, or REPLICATES when it holds fewer than FEW_DRAWS)."""
    sites = list(idata.posterior.data_vars)
    params = flat_draws(idata, sites, max_draws, seed)
    obs_names = [v.name for v in checked.observed]
    kwargs = with_training_data(program, idata, kwargs)
    inputs = {k: (jnp.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}
    for name in obs_names:
        inputs[name] = None

    fixed = fixed_values(idata)

    def one(draw, key):
        model = handlers.substitute(handlers.seed(program.model, key), data={**fixed, **draw})
        tr = handlers.trace(model).get_trace(**inputs)
        out = {}
        for name in obs_names:
            fn = tr[name]["fn"]
            base = base_distribution(fn)
            res = {"draws": tr[name]["value"]}
            if hasattr(base, "probs") and type(base).__name__.startswith(("Categorical", "Bernoulli")):
                is_cat = "Categorical" in type(base).__name__
                extra = base.probs.shape[-1:] if is_cat else ()
                res["probs"] = jnp.broadcast_to(base.probs, fn.batch_shape + extra)
                if "Bernoulli" in type(base).__name__:
                    res["mean"] = res["probs"]
                    res["var"] = res["probs"] * (1 - res["probs"])
            else:
                res["mean"] = jnp.broadcast_to(fn.mean, tr[name]["value"].shape)
                res["var"] = jnp.broadcast_to(fn.variance, tr[name]["value"].shape)
            out[name] = res
        return out

    n = next(iter(params.values())).shape[0]
    if n < FEW_DRAWS:  # each draw's replicates side by side, so draws stay in chain-major order
        params = {k: np.repeat(v, -(-REPLICATES // n), axis=0) for k, v in params.items()}
        n = next(iter(params.values())).shape[0]
    keys = jax.random.split(jax.random.PRNGKey(seed), n)
    result = jax.jit(jax.vmap(one))(params, keys)
    return {k: {kk: np.asarray(vv) for kk, vv in v.items()} for k, v in result.items()}


def summarize_predictions(draws: dict[str, dict[str, np.ndarray]], interval: float = 0.9) -> dict[str, np.ndarray]:
    """Columns of the `bnnc predict` table, one entry per input row."""
    cols: dict[str, np.ndarray] = {}
    lo_q, hi_q = (1 - interval) / 2, 1 - (1 - interval) / 2
    for name, d in draws.items():
        if "probs" in d:
            probs = d["probs"]
            if probs.ndim == 2:  # Bernoulli: [S, N] probability of 1
                probs = np.stack([1 - probs, probs], axis=-1)
            p_mean = probs.mean(axis=0)
            for k in range(p_mean.shape[-1]):
                cols[f"{name}.p{k}"] = p_mean[..., k]
            cols[f"{name}.pred"] = p_mean.argmax(axis=-1)
            total, aleatoric, epistemic = entropy_split(probs)
            cols[f"{name}.entropy"] = total
            cols[f"{name}.aleatoric_entropy"] = aleatoric
            cols[f"{name}.epistemic_mi"] = epistemic
            continue
        means, variances, ys = d["mean"], d["var"], d["draws"]
        total, aleatoric, epistemic = variance_split(means, variances)
        cols[f"{name}.mean"] = means.mean(axis=0)
        cols[f"{name}.sd"] = np.sqrt(total)
        cols[f"{name}.q{_pct(lo_q)}"] = np.quantile(ys, lo_q, axis=0)
        cols[f"{name}.q{_pct(hi_q)}"] = np.quantile(ys, hi_q, axis=0)
        cols[f"{name}.epistemic_sd"] = np.sqrt(epistemic)
        cols[f"{name}.aleatoric_sd"] = np.sqrt(aleatoric)
    return cols


def variance_split(means: np.ndarray, variances: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Law of total variance over draws [S, ...]: total = aleatoric (mean noise var) + epistemic (var of means)."""
    aleatoric = variances.mean(axis=0)
    epistemic = means.var(axis=0)
    return aleatoric + epistemic, aleatoric, epistemic


def entropy_split(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Class probabilities per draw [S, ..., K]: total entropy = expected entropy (aleatoric) + mutual information.

    The mutual information is clipped at 0 against rounding (it is never negative: entropy is concave).
    """
    total = _entropy(probs.mean(axis=0))
    aleatoric = _entropy(probs).mean(axis=0)
    return total, aleatoric, np.maximum(total - aleatoric, 0.0)


def _pct(q: float) -> str:
    return f"{q * 100:g}".replace(".", "_")


def _entropy(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1.0)
    return -(p * np.log(p)).sum(axis=-1)


def log_predictive_density(
    program: ModuleType, idata, kwargs: dict[str, Any], max_draws: int | None = None, seed: int = 0
) -> dict[str, np.ndarray]:
    """Per observed variable and row: log of the posterior predictive density, log mean_s p(y | draw s).

    `kwargs` carries held-out observed values; works for every likelihood (each
    observed site's log_prob on each draw), fixed deterministic layers included.
    A GP's values at the new rows are integrated out exactly where they are a
    Normal likelihood's mean (`GP_NORMAL`: y ~ Normal(m, sqrt(v + sigma^2)) for
    the GP's conditional mean m and variance v) and sampled otherwise, with one
    key per draw: a key shared by all draws would make that sample the same
    standard-normal offset in every draw, and the average over draws would
    never integrate over the GP's conditional variance.
    """
    from jax.scipy.special import logsumexp

    params = flat_draws(idata, list(idata.posterior.data_vars), max_draws, seed)
    model = handlers.condition(program.model, data=fixed_values(idata))
    kwargs = with_training_data(program, idata, kwargs)
    data = {k: (jnp.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}
    gp_normal = getattr(program, "GP_NORMAL", {})

    def one(draw_key):
        draw, key = draw_key
        tr = handlers.trace(handlers.substitute(handlers.seed(model, key), data=draw)).get_trace(**data)
        out = {k: s["fn"].log_prob(s["value"]) for k, s in tr.items() if s["type"] == "sample" and s["is_observed"]}
        for obs, gp in gp_normal.items():
            if obs in out and gp in tr and not tr[gp]["is_observed"]:
                f, y = base_distribution(tr[gp]["fn"]), base_distribution(tr[obs]["fn"])
                if isinstance(f, dist.Normal) and isinstance(y, dist.Normal):
                    # y's loc is shift + b * f (b = 1 unless y is standardized): y ~ N(shift + b m, b^2 v + s^2)
                    b = data.get(f"_scale_{obs}", 1.0)
                    loc = y.loc + b * (f.loc - tr[gp]["value"])
                    out[obs] = dist.Normal(loc, jnp.sqrt(b**2 * f.scale**2 + y.scale**2)).log_prob(tr[obs]["value"])
        return out

    n = next(iter(params.values())).shape[0]
    if n < FEW_DRAWS:  # each draw's replicates side by side, so draws stay in chain-major order
        params = {k: np.repeat(v, -(-REPLICATES // n), axis=0) for k, v in params.items()}
        n = next(iter(params.values())).shape[0]
    keys = jax.random.split(jax.random.PRNGKey(seed), n)
    if "_train" in kwargs:  # a GP model holds a [training rows x new rows] matrix per draw: a few at a time
        ll = jax.lax.map(one, (params, keys), batch_size=GP_LPD_BATCH)
    else:
        ll = jax.vmap(one)((params, keys))
    names = [k for k, v in kwargs.items() if v is not None and k in ll and k not in params]
    return {k: np.asarray(logsumexp(ll[k], axis=0) - np.log(n)) for k in names}
