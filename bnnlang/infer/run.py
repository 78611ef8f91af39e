"""One interface over the backends: `run_inference(problem, settings)` -> RunResult.

Partially Bayesian models (layers in a `deterministic { }` block) are handled
here for every backend: the whole model is fitted to its MAP first, the
deterministic sites are then conditioned on their MAP values, and the backend
samples what is left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import jax
import numpy as np

from ..check.settings import InferSettings
from . import distributed
from .checkpoint import NO_CHECKPOINT, Checkpoint
from .memory import check_memory
from .optimize import map_fit
from .problem import Problem
from .result import RunResult

Backend = Callable[[Problem, InferSettings, bool, Checkpoint], RunResult]


def backends() -> dict[str, Backend]:
    from .mile import run_mile
    from .nuts import run_nuts
    from .sghmc import run_sghmc
    from .svi import run_svi

    return {"nuts": run_nuts, "sghmc": run_sghmc, "svi": run_svi, "mile": run_mile}


def fit_deterministic(problem: Problem, settings: InferSettings) -> tuple[Problem, dict]:
    """MAP of the whole model; the deterministic sites are then held at their MAP values."""
    t0 = time.perf_counter()
    key = jax.random.fold_in(jax.random.PRNGKey(settings["seed"]), 2**20)
    steps = int(settings.values.get("map_steps", 2000))
    free = problem.without_fixed()
    params, losses = map_fit(free, key, steps, lr=0.01)
    values = free.constrain(params)
    fixed = {k: np.asarray(values[k]) for k in problem.deterministic}
    info = {
        "deterministic_sites": list(problem.deterministic),
        "map_steps": steps,
        "map_final_loss": float(losses[-1]) if len(losses) else None,
        "map_s": time.perf_counter() - t0,
    }
    return problem.with_fixed(fixed), info


def run_inference(
    problem: Problem, settings: InferSettings, progress: bool = True, checkpoint: Checkpoint = NO_CHECKPOINT
) -> RunResult:
    check_memory(problem, settings)
    pb_info: dict = {}
    if settings.method == "svi" and settings["guide"] == "lastlayer":
        # Last-layer Laplace (Daxberger et al. 2021): hidden layers at the MAP, a Laplace approximation of the rest.
        problem = replace(problem, deterministic=tuple(dict.fromkeys(problem.deterministic + problem.hidden)))
        settings = InferSettings("svi", {**settings.values, "guide": "laplace"})
    if problem.deterministic and not problem.fixed:
        problem, pb_info = fit_deterministic(problem, settings)
    # multi-host (bnnlang.infer.distributed): run this process's chains, then gather all of them; no-ops on one process
    local = distributed.local_problem(problem, settings.method, settings.chains)
    result = backends()[settings.method](local, settings, progress, distributed.local_checkpoint(checkpoint))
    result = distributed.merge_result(problem, local, result)
    if problem.fixed:
        result.info["partially_bayesian"] = pb_info
        attach_fixed(result.idata, problem.fixed)
    return result


def attach_fixed(idata, fixed: dict[str, np.ndarray]) -> None:
    """Store the point-estimated sites in their own group, `fixed`, so predictions can use them."""
    import warnings

    import xarray as xr

    ds = xr.Dataset({k: (tuple(f"{k}_dim_{i}" for i in range(np.ndim(v))), np.asarray(v)) for k, v in fixed.items()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata.add_groups({"fixed": ds})
