"""One interface over the backends: `run_inference(problem, settings)` -> RunResult.

The backend is a registry entry (`bnnlang.check.backends`); its implementation module is imported here, when a
run starts. What every backend shares happens here once: the memory check, holding networks' hidden layers at
their MAP for a last-layer approximation, the MAP fit of partially Bayesian models (layers in a
`deterministic { }` block: the whole model is fitted first, those sites are then conditioned on their MAP
values, and the backend samples what is left; a warm start keeps the previous run's values), and the split and
merge of a multi-host run.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import replace

import jax
import numpy as np

from ..check.settings import InferSettings
from .checkpoint import NO_CHECKPOINT, Checkpoint
from .devices import distributed
from .memory import check_memory
from .problem import Problem
from .result import RunResult
from .starts import map_fit

KEY_DETERMINISTIC = 2**20  # fold_in(seed) for the MAP fit of deterministic layers


def fit_deterministic(problem: Problem, settings: InferSettings) -> tuple[Problem, dict]:
    """MAP of the whole model; the deterministic sites are then held at their MAP values."""
    t0 = time.perf_counter()
    key = jax.random.fold_in(jax.random.PRNGKey(settings["seed"]), KEY_DETERMINISTIC)
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


def held_from_previous(problem: Problem) -> tuple[Problem, dict]:
    """A warm start keeps the previous run's point-estimated layers instead of fitting them again: its draws of the
    other sites, where the new chains start, are conditional on those values."""
    warm = problem.warm
    fixed = {k: np.asarray(warm.fixed[k]) for k in problem.deterministic}
    return problem.with_fixed(fixed), {"deterministic_sites": list(problem.deterministic), "from": warm.source}


def run_inference(
    problem: Problem, settings: InferSettings, progress: bool = True, checkpoint: Checkpoint = NO_CHECKPOINT
) -> RunResult:
    backend = settings.backend
    check_memory(problem, settings)
    pb_info: dict = {}
    if backend.fixes_hidden_layers(settings.values):
        # a last-layer approximation (Daxberger et al. 2021): hidden layers at the MAP
        problem = replace(problem, deterministic=tuple(dict.fromkeys(problem.deterministic + problem.hidden)))
    if problem.deterministic and not problem.fixed:
        kept = problem.warm is not None and bool(problem.warm.fixed)
        problem, pb_info = held_from_previous(problem) if kept else fit_deterministic(problem, settings)
    # multi-host: run this process's chains, then gather all of them (no-ops on one process)
    local = distributed.local_problem(problem, settings.method, settings.chains)
    run = importlib.import_module(backend.module).run
    result = run(local, settings, progress, distributed.local_checkpoint(checkpoint))
    result = distributed.merge_result(local, result)
    if problem.fixed:
        result.info["partially_bayesian"] = pb_info
        result.fixed = dict(problem.fixed)
    return result
