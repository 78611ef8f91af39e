"""Posterior draws -> ArviZ InferenceData, with the network's dimensions named.

Every backend returns draws as {site: array[chain, draw, ...]} (`infer.result.RunResult`) and comes through
here, so everything downstream (summaries, reports, predictions) sees one data model: posterior,
sample_stats, log_likelihood, observed_data, constant_data, and `fixed` for the point-estimated layers of a
partially Bayesian network.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import numpy as np

from ..check.model import CheckedModel
from ..infer.kept import Kept, split_arguments
from ..infer.problem import Problem
from ..infer.result import RunResult

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az


def site_dims(model: CheckedModel) -> dict[str, list[str]]:
    """ArviZ dims for each site: a layer's sites name their axes (`layer.in`, `layer.out`, ...), params their
    declared dims."""
    dims: dict[str, list[str]] = {}
    for p in model.params:
        shape = model.param_shapes[p.name]
        dims[p.name] = [s if isinstance(s, str) else f"{p.name}_dim_{i}" for i, s in enumerate(shape)]
    for net in model.networks.values():
        for site, layer, use in net.layer_sites():
            prefix = f"{net.name}.{layer.path}"
            dims[site] = [f"{prefix}.{axis}" for axis in use.axes]
            if use.prior.prior_def is not None:
                for lp in use.prior.prior_def.locals:
                    dims[f"{site}.{lp.name}"] = [f"{prefix}.{'in' if d.name == 'fan_in' else 'out'}" for d in lp.shape]
    for g in model.gps.values():
        for site in g.sites():
            pts = [f"{g.name}.inducing"] if g.mode == "sparse" else [g.rows if isinstance(g.rows, str) else "row"]
            dims[site] = ([f"{g.name}.output"] if g.outputs is not None else []) + pts
    for v in model.data.values():
        dims[v.name] = [s if isinstance(s, str) else f"{v.name}_dim_{i}" for i, s in enumerate(v.shape)]
    return dims


LOG_LIKELIHOODS_KEPT = 4  # compiled log-likelihood tables kept per process (per model function and sizes)
_log_likelihoods: Kept[Callable] = Kept(LOG_LIKELIHOODS_KEPT)


def pointwise_log_likelihood(model_fn, flat: dict[str, np.ndarray], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Each observed site's log-likelihood per draw and row, compiled once per model function and sizes: a loop of
    runs of one model (refits, SBC) would otherwise trace and compile it again on every run, and keep every
    compiled copy (benchmarks/results/refits.md)."""
    from numpyro.infer import log_likelihood

    arrays, static, static_key = split_arguments(kwargs)
    if static_key is None:
        return log_likelihood(model_fn, flat, **kwargs)

    def make() -> Callable:
        model = partial(model_fn, **static)
        return jax.jit(lambda samples, data: log_likelihood(model, samples, **data))

    return _log_likelihoods.get((model_fn, static_key), make)(flat, arrays)


def to_inference_data(
    model_fn,
    posterior: dict[str, np.ndarray],
    sample_stats: dict[str, np.ndarray],
    kwargs: dict[str, Any],
    dims: dict[str, list[str]],
    observed_names: tuple[str, ...] | None = None,
) -> az.InferenceData:
    chains, draws = next(iter(posterior.values())).shape[:2]
    flat = {k: v.reshape((chains * draws,) + v.shape[2:]) for k, v in posterior.items()}
    if observed_names is None:
        observed_names = tuple(k for k in kwargs if _is_observed(model_fn, k))
    observed = {k: np.asarray(kwargs[k]) for k in observed_names if kwargs.get(k) is not None}
    loglik = {}
    if observed:
        ll = pointwise_log_likelihood(model_fn, flat, kwargs)  # conditioned (fixed) sites are not data: keep observed
        # pointwise only: a collapsed GP's likelihood is one joint density per draw, which ArviZ cannot lay
        # out along the data's rows
        loglik = {
            k: np.asarray(v).reshape((chains, draws) + np.shape(v)[1:])
            for k, v in ll.items()
            if k in observed and np.shape(v)[1:] == observed[k].shape[: np.ndim(v) - 1]
        }
    constant = {
        k: np.asarray(v) for k, v in kwargs.items() if k not in observed and hasattr(v, "shape") and k != "_rows"
    }
    used_dims = {k: v for k, v in dims.items() if k in posterior or k in observed or k in constant}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return az.from_dict(
            posterior=posterior,
            sample_stats=sample_stats or None,
            log_likelihood=loglik or None,
            observed_data=observed or None,
            constant_data=constant or None,
            dims=used_dims,
        )


def _is_observed(model_fn, name: str) -> bool:
    import inspect

    param = inspect.signature(model_fn).parameters.get(name)
    return param is not None and param.default is None and param.kind is param.POSITIONAL_OR_KEYWORD


def from_result(problem: Problem, result: RunResult) -> az.InferenceData:
    """A run's InferenceData: the model's own sites (not the fixed ones, nor non-centred sites' standard
    draws), with the pointwise log-likelihood under the model as written."""
    if result.fixed:
        problem = problem.with_fixed(result.fixed)
    posterior = {k: np.asarray(v) for k, v in problem.public(result.posterior).items()}
    idata = to_inference_data(
        problem.plain_model, posterior, result.sample_stats, problem.data, problem.site_dims, problem.observed
    )
    if result.fixed:
        attach_fixed(idata, result.fixed)
    return idata


def attach_fixed(idata, fixed: dict[str, np.ndarray]) -> None:
    """Store the point-estimated sites in their own group, `fixed`, so predictions can use them."""
    import xarray as xr

    ds = xr.Dataset({k: (tuple(f"{k}_dim_{i}" for i in range(np.ndim(v))), np.asarray(v)) for k, v in fixed.items()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata.add_groups({"fixed": ds})
