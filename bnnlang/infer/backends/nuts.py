"""NUTS through NumPyro, with chains spread over JAX devices, returning ArviZ data.

Chain placement: with at least as many devices as chains, all chains run in
parallel (`pmap`); with fewer devices, chains run in parallel groups of the
device count; with one device, sequentially. Never `vectorized` on CPU: it is
slower than a single chain there (benchmarks/results/design_notes.md#nuts-chain-method). Each chain gets
its own key, `fold_in(PRNGKey(seed), chain)`: the same seed on the same device
count gives identical draws, and a chain's draws do not depend on which other
chains run. Across device counts a chain compiled under `pmap` and under `jit`
differs by float rounding (~1e-7), which NUTS's trajectories amplify over a long
run: equally valid, not bit-identical draws.

Compiled once: the samplers of a program are kept (the last SAMPLERS_KEPT, per program, data shapes, sizes
and settings) with the data as arguments of the compiled loop (`jit_model_args`), so another run of the same
model on data of the same shapes (a new seed, new rows of the same count, the next step of a loop) reuses
the compiled sampler instead of tracing and compiling it again, and a loop of runs keeps a bounded set of
programs alive. Not shared: runs whose model holds values of its own (point-estimated layers, context points
with a spread), and chains run in parallel over several devices (NumPyro maps them afresh on every run).

Warm starts (`infer.warm`): each chain's start, inverse mass matrix and step size reach NumPyro as that chain's
`init_params` (a `ChainStart`), so they are values in the chain's initial state, not constants of the compiled
loop: warm-started runs share a kept sampler like any other runs.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
import warnings
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer import MCMC, NUTS, init_to_uniform

from ...check.settings import InferSettings
from ..checkpoint import NO_CHECKPOINT, Checkpoint
from ..kept import Kept, split_arguments
from ..problem import Problem
from ..result import RunResult
from ..starts import ensemble_from_settings
from ..warm import chain_starts, describe

KEY_ENSEMBLE = 2**21  # fold_in(seed) for the ensemble fit; chains use fold_in(seed, chain)
EXTRA_FIELDS = ("diverging", "num_steps", "accept_prob", "energy", "adapt_state.step_size", "potential_energy")
SAMPLERS_KEPT = 4  # compiled samplers kept per process (each holds its program and its last run's draws)
_samplers: Kept[MCMC] = Kept(SAMPLERS_KEPT)


def chain_groups(chains: int, devices: int) -> list[list[int]]:
    """Chain indices per MCMC call: parallel groups of at most `devices` chains."""
    size = max(1, min(devices, chains))
    return [list(range(i, min(i + size, chains))) for i in range(0, chains, size)]


def run(
    problem: Problem, settings: InferSettings, progress: bool = True, checkpoint: Checkpoint = NO_CHECKPOINT
) -> RunResult:
    """NUTS has no checkpoints: its adaptation is not resumable mid-way; a killed run starts again."""
    s = settings.values
    devices = jax.local_device_count()
    ids = problem.chain_ids(s["chains"])
    groups = [[ids[i] for i in g] for g in chain_groups(len(ids), devices)]
    base = jax.random.PRNGKey(s["seed"])
    start, starts, start_info, start_timings = chain_inits(problem, s, ids, base, progress)
    samples: list[dict[str, np.ndarray]] = []
    stats: list[dict[str, np.ndarray]] = []
    t0 = time.perf_counter()
    first_call = None
    for group in groups:
        init = None
        if starts is not None:
            init = jax.tree_util.tree_map(lambda *v: jnp.stack(v), *(starts[c] for c in group))
            init = init if len(group) > 1 else jax.tree_util.tree_map(lambda v: v[0], init)
        method = "parallel" if len(group) > 1 else "sequential"
        mcmc, arrays = sampler(problem, s, len(group), method, start, progress)
        keys = jnp.stack([jax.random.fold_in(base, c) for c in group])
        # a kept sampler always steps through NumPyro's progress-bar loop, whose compiled step NumPyro caches; its
        # loop without a bar is compiled again on every run (the step is a static argument made afresh)
        silent = (
            contextlib.redirect_stderr(io.StringIO())
            if mcmc.progress_bar and not bar_wanted(progress)
            else contextlib.nullcontext()
        )
        with warnings.catch_warnings(), silent:
            warnings.simplefilter("ignore", UserWarning)  # numpyro's notes on chain_method
            mcmc.run(keys if len(group) > 1 else keys[0], extra_fields=EXTRA_FIELDS, init_params=init, **arrays)
        samples.append({k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()})
        stats.append({k: np.asarray(v) for k, v in mcmc.get_extra_fields(group_by_chain=True).items()})
        if first_call is None:
            first_call = time.perf_counter() - t0
    sampling = time.perf_counter() - t0
    posterior = {k: np.concatenate([g[k] for g in samples], axis=0) for k in samples[0]}
    extra = {k: np.concatenate([g[k] for g in stats], axis=0) for k in stats[0]}
    num_steps = extra["num_steps"].astype(np.int64)
    sample_stats = {
        "diverging": extra["diverging"].astype(bool),
        "n_steps": num_steps,
        "tree_depth": np.floor(np.log2(np.maximum(num_steps, 1))).astype(np.int64) + 1,
        "acceptance_rate": extra["accept_prob"],
        "energy": extra["energy"],
        "step_size": extra["adapt_state.step_size"],
        "lp": -extra["potential_energy"],
    }
    info = {
        "backend": "nuts",
        "devices": devices,
        "chain_groups": [len(g) for g in groups],
        "divergences": int(sample_stats["diverging"].sum()),
        "max_tree_depth_hits": int((sample_stats["tree_depth"] >= s["max_tree_depth"]).sum()),
        "mean_leapfrogs_per_draw": float(num_steps.mean()),
        "leapfrogs": int(num_steps.sum()),
    }
    info.update(start_info)
    timings = {
        "ensemble_s": 0.0,
        **start_timings,
        "sampling_s": sampling,
        "first_group_s": first_call or 0.0,
    }
    return RunResult(posterior, sample_stats, timings, info)


class ChainStart(NamedTuple):
    """A warm-started chain's `init_params`: its unconstrained start and what its adaptation starts from."""

    z: dict[str, Any]
    inverse_mass_matrix: Any  # flat diagonal, in `ravel_pytree`'s order of the sites (NumPyro's)
    step_size: Any


class StartedNUTS(NUTS):
    """NumPyro's NUTS, whose `init_params` may be a `ChainStart`: a per-chain inverse mass matrix and step size.

    NUTS takes both as constructor arguments, shared by all chains of an MCMC object and by every run of a kept
    one. Here they arrive with each chain's start (mapped over chains like it), are used by NumPyro's own
    initialisation (which still looks for a reasonable step size from the one given), and end up in the chain's
    state, as adapted values do.
    """

    def init(self, rng_key, num_warmup, init_params=None, model_args=(), model_kwargs={}):  # noqa: B006 (NumPyro's)
        if not isinstance(init_params, ChainStart):
            return super().init(rng_key, num_warmup, init_params, model_args, model_kwargs)
        kept = self._inverse_mass_matrix, self._step_size
        self._inverse_mass_matrix, self._step_size = init_params.inverse_mass_matrix, init_params.step_size
        try:
            return super().init(rng_key, num_warmup, init_params.z, model_args, model_kwargs)
        finally:
            self._inverse_mass_matrix, self._step_size = kept


def chain_inits(
    problem: Problem, s: dict[str, Any], ids: list[int], base: jax.Array, progress: bool
) -> tuple[str, dict[int, Any] | None, dict[str, Any], dict[str, float]]:
    """How the chains start: (uniform, ensemble or warm; each chain id's `init_params`, None for NumPyro's uniform
    draws; run facts about the starts; seconds spent finding them)."""
    t0 = time.perf_counter()
    if problem.warm is not None:  # each chain continues a previous chain, with its mass matrix and step size
        warm = chain_starts(problem, problem.warm, ids, "nuts")
        steps = warm.step_sizes or [1.0] * len(ids)  # 1.0: NumPyro's first step size, adapted from there
        dtype = jnp.result_type(float)
        starts = {
            c: ChainStart(z, v, np.asarray(e, dtype)) for c, z, v, e in zip(ids, warm.positions, warm.variances, steps)
        }
        info = {"warm_start": describe(problem.warm, ids, warm)}
        return "warm", starts, info, {"warm_start_s": time.perf_counter() - t0}
    if s["init"] == "ensemble":  # one deep-ensemble member starts each chain (Sommer et al. 2024)
        key = jax.random.fold_in(base, KEY_ENSEMBLE)
        ens = ensemble_from_settings(problem, ids, key, s, "nuts: ensemble starts", progress)
        starts = dict(zip(ids, (ens.unravel(jnp.asarray(z)) for z in ens.positions)))
        return "ensemble", starts, {"ensemble": ens.info}, {"ensemble_s": time.perf_counter() - t0}
    return "uniform", None, {}, {}


def sampler(
    problem: Problem, s: dict[str, Any], chains: int, method: str, start: str, progress: bool
) -> tuple[MCMC, dict[str, Any]]:
    """The MCMC object for `chains` chains of this problem and the arrays to run it on: a kept one when this
    program has run on data of the same shapes with the same settings, else a new one (then kept).

    `start`: uniform, ensemble or warm (the chains' `init_params` are `ChainStart`s)."""
    arrays, static, static_key = split_arguments(problem.data)  # dimensions and scalars are fixed in the program
    key = sampler_key(problem, s, chains, method, start, arrays, static_key)

    def make() -> MCMC:
        mcmc = nuts_mcmc(partial(problem.model, **static), s, chains, method, progress, jit_model_args=True)
        if key is not None:  # NumPyro turns bars off under CI or pytest-xdist; kept samplers need its bar loop
            mcmc.progress_bar = True
        return mcmc

    return _samplers.get(key, make), arrays


def nuts_mcmc(model, s: dict[str, Any], chains: int, method: str, progress: bool, jit_model_args: bool) -> MCMC:
    """NumPyro's NUTS and MCMC with the run's settings."""
    kernel = StartedNUTS(
        model,
        target_accept_prob=s["target_accept"],
        max_tree_depth=s["max_tree_depth"],
        dense_mass=s["dense_mass"],
        init_strategy=init_to_uniform(radius=s["init_radius"]),
    )
    return MCMC(
        kernel,
        num_warmup=s["warmup"],
        num_samples=s["samples"],
        num_chains=chains,
        thinning=s["thinning"],
        chain_method=method,
        progress_bar=progress,
        jit_model_args=jit_model_args,
    )


def bar_wanted(progress: bool) -> bool:
    """A progress bar is shown when asked for, except where NumPyro shows none (its rule, `MCMC.__init__`)."""
    return progress and not {"CI", "PYTEST_XDIST_WORKER"} & set(os.environ)


def sampler_key(
    problem: Problem,
    s: dict[str, Any],
    chains: int,
    method: str,
    start: str,
    arrays: dict[str, jax.Array],
    static_key: tuple | None,
) -> tuple | None:
    """What a kept sampler must share with this run; None when the model holds values of its own."""
    if not problem.program or problem.fixed or problem.keyed or method != "sequential" and chains > 1:
        return None
    if static_key is None:
        return None
    shapes = tuple(sorted((k, tuple(v.shape), str(v.dtype)) for k, v in arrays.items()))
    kernel = tuple(s[k] for k in ("target_accept", "max_tree_depth", "dense_mass", "init_radius"))
    sizes = (s["warmup"], s["samples"], s["thinning"], chains, method, start)
    return (problem.program, problem.noncentered, static_key, shapes, kernel, sizes, jax.config.jax_enable_x64)
