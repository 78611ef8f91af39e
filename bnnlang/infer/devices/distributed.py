"""Chains across hosts: one process per host through `jax.distributed`, one merged posterior.

Every process loads the same model and data and runs its own share of the
chains (`Problem.chain_subset`): process i of P runs global chains
[i*k, (i+1)*k) with k = chains / P. Chain c always draws from
`fold_in(PRNGKey(seed), c)`, so which process runs a chain does not change
its draws: the merged posterior equals a one-process run chain by chain.
After the backend returns, the draws and sampler statistics are gathered
across processes in global chain order and turned back into one
InferenceData; only process 0 writes the run directory.

SVI has no chains to split and refuses to run on several processes (see
docs/scaling.md). Checkpoints are off in multi-process runs: a killed run
starts again.

JAX allows `jax.distributed.initialize` only before its first computation, so
`initialize` here must run before anything else touches JAX (`bnnc run` calls
it while starting JAX; API users call it first thing in their script).
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from typing import Any

import numpy as np

from .. import messages
from ..checkpoint import NO_CHECKPOINT, Checkpoint
from ..problem import Problem
from ..result import RunResult
from .cluster import Cluster, check_split

# Run facts that are counts over chains: summed over processes when merging (the rest come from process 0).
COUNTS = ("divergences", "max_tree_depth_hits", "leapfrogs", "gradients", "devices", "padded_chains")


def initialize(cluster: Cluster, initialization_timeout: int = 300) -> None:
    """Join the run's processes; must come before any JAX computation in this process.

    On CPU, collectives across processes go through gloo (JAX's default CPU
    backend has none); on GPU/TPU JAX picks NCCL or the TPU interconnect itself.
    """
    import jax

    platforms = os.environ.get("JAX_PLATFORMS", "")
    if not platforms or "cpu" in platforms:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        if cluster.auto:
            jax.distributed.initialize(initialization_timeout=initialization_timeout)
        else:
            jax.distributed.initialize(
                coordinator_address=cluster.coordinator,
                num_processes=cluster.num_processes,
                process_id=cluster.process_id,
                initialization_timeout=initialization_timeout,
            )
    except (ValueError, RuntimeError) as err:  # no cluster detected; peers or coordinator never answered
        first = str(err).strip().splitlines()[0].rstrip(".") if str(err).strip() else type(err).__name__
        if cluster.auto:
            raise messages.no_cluster_found(first) from None
        raise messages.cluster_unreachable(
            cluster.num_processes, cluster.coordinator, initialization_timeout, first
        ) from None


def process_count() -> int:
    """How many processes share this run (1 unless `initialize` was called)."""
    import jax

    return jax.process_count() if jax.distributed.is_initialized() else 1


def is_writer() -> bool:
    """Whether this process writes results: process 0, or the only process."""
    import jax

    return not jax.distributed.is_initialized() or jax.process_index() == 0


# -- split and merge ---------------------------------------------------------------


def local_problem(problem: Problem, method: str, chains: int) -> Problem:
    """The problem with this process's share of the chains; unchanged on one process."""
    n = process_count()
    if n == 1:
        return problem
    import jax

    check_split(method, chains, n)
    if problem.fixed:  # partially Bayesian: every process samples around process 0's MAP, not its own
        from jax.experimental import multihost_utils

        names = sorted(problem.fixed)
        shared = multihost_utils.broadcast_one_to_all([np.asarray(problem.fixed[k]) for k in names])
        problem = problem.with_fixed({k: np.asarray(v).astype(problem.fixed[k].dtype) for k, v in zip(names, shared)})
    k = chains // n
    start = jax.process_index() * k
    return replace(problem, chain_subset=tuple(range(start, start + k)))


def local_checkpoint(checkpoint: Checkpoint) -> Checkpoint:
    """Checkpoints are single-process only: a multi-process run that is killed starts again."""
    return checkpoint if process_count() == 1 else NO_CHECKPOINT


def merge_result(local: Problem, result: RunResult) -> RunResult:
    """Gather every process's chains into one RunResult, in global chain order (identity on one process).

    `local` is the problem this process ran. All processes must call this: it is a collective.
    """
    n = process_count()
    if n == 1:
        return result
    import time

    t0 = time.perf_counter()
    posterior = _gather(result.posterior)
    sample_stats = _gather(result.sample_stats)
    infos = _gather_json({"info": result.info, "timings": result.timings, "chains": list(local.chain_subset or ())})
    info = dict(result.info)
    for key in COUNTS:
        values = [p["info"].get(key) for p in infos]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            info[key] = sum(values)
    if "leapfrogs" in info and "n_steps" in sample_stats:
        info["mean_leapfrogs_per_draw"] = float(np.mean(sample_stats["n_steps"]))
    info["processes"] = n
    info["chains_per_process"] = [p["chains"] for p in infos]
    info["per_process"] = [p["info"] for p in infos]
    # wall-clock facts: the slowest process is what the user waited for
    timings = {k: max(float(p["timings"].get(k, 0.0)) for p in infos) for k in result.timings}
    timings["gather_s"] = time.perf_counter() - t0
    return RunResult(posterior, sample_stats, timings, info, result.traces, result.fixed)


def _gather(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """{name: [chain, draw, ...]}, every process's chains concatenated in process order."""
    from jax.experimental import multihost_utils

    out: dict[str, np.ndarray] = {}
    for name in sorted(arrays):  # the same order on every process: each gather is a collective
        local = np.asarray(arrays[name])
        gathered = np.asarray(multihost_utils.process_allgather(local, tiled=True))
        out[name] = gathered.astype(local.dtype)  # JAX without x64 narrows int64/float64 on the way
    return out


def _gather_json(value: Any) -> list[Any]:
    """Every process's `value` (JSON-able), in process order: run facts differ in shape between processes."""
    from jax.experimental import multihost_utils

    raw = np.frombuffer(json.dumps(value, default=float).encode("utf-8"), dtype=np.uint8)
    sizes = np.asarray(multihost_utils.process_allgather(np.array([raw.size], dtype=np.int32))).reshape(-1)
    padded = np.zeros(int(sizes.max()), dtype=np.uint8)
    padded[: raw.size] = raw
    rows = np.asarray(multihost_utils.process_allgather(padded)).astype(np.uint8)
    return [json.loads(rows[i, : int(sizes[i])].tobytes().decode("utf-8")) for i in range(len(sizes))]
