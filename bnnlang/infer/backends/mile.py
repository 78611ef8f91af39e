"""MILE: Microcanonical Langevin Ensembles (Sommer et al., ICLR 2025).

NUTS on a BNN saturates its tree depth on almost every draw, and its chains
still land in different modes. MILE splits the work: a deep ensemble finds the
modes (`ensemble.fit_ensemble`: K members optimised from random starts, early
stopped on held-out rows), then each member starts one chain of Microcanonical
Langevin Monte Carlo (Robnik et al. 2023) that explores around its mode. MCLMC
has no accept/reject and a fixed cost per step, so the run's cost is known
before it starts: K x (ensemble steps + tuning steps + samples x thinning)
gradient evaluations (x 2 for the McLachlan integrator).

BlackJAX's `mclmc` kernel moves each member; `mclmc` tunes its step size and
momentum-decoherence length L and samples in one compiled loop. Members are
vmapped and split over the local devices like SG-HMC's chains. Member m's randomness comes from
fold_in(PRNGKey(seed), m) alone: same seed, same draws, whatever the device
count.

A warm start (`infer.warm`, `init = previous run`) replaces the ensemble: member m starts at the last draw of
previous chain m mod C, and after a MILE run keeps that member's L while the warmup retunes its step size from the
previous one (docs/inference.md, "Warm starts").
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from ...check.settings import InferSettings
from .. import messages
from ..checkpoint import NO_CHECKPOINT, Checkpoint
from ..devices.chains import chain_mesh, on_devices, pad_chains
from ..driver import run_chunks
from ..problem import Problem
from ..progress import Progress
from ..result import RunResult
from ..rows import resolve_batch_size
from ..starts import ensemble_from_settings
from ..warm import chain_starts, describe, flat_positions
from .mclmc import Carry, Phases, autocorrelation_L, build_segment, initial_carry, moments_to_scale

KEY_ENSEMBLE, KEY_SAMPLER = 1, 2
GRADS_PER_STEP = 2  # isokinetic McLachlan: two gradient evaluations per step
# Shares of the warmup: step size, step size and posterior moments, L from the autocorrelation (`mclmc.Phases`:
# with preconditioning, a third of the second phase's length is taken from the first to retune the step size).
TUNE_FRACTIONS = (0.4, 0.3, 0.2)
# Tuning starts as the method's authors do: L at max(sqrt(d), 15) and the step size at the ensemble's learning
# rate. BlackJAX's defaults (L = sqrt(d), step = sqrt(d) / 4) suit a unit-scale target; at an ensemble member's
# sharp mode the first steps then have energy errors of order one and a short tuning never shrinks the step
# enough (draws too wide, noise overestimated). Measured on the 1-D example: benchmarks/results/mile_1d.md.


def gradient_budget(s: dict, members: int, ensemble: bool = True) -> dict[str, int]:
    """Gradient evaluations per member and in all, known before the run starts (a warm start fits no ensemble)."""
    sampling = GRADS_PER_STEP * (s["warmup"] + s["samples"] * s["thinning"])
    fit = s["map_steps"] if ensemble else 0
    per_member = fit + sampling
    return {"ensemble": fit, "sampling": sampling, "per_member": per_member, "total": members * per_member}


@dataclass(frozen=True)
class Members:
    """Where the members' chains start and what their tuning starts from."""

    positions: np.ndarray  # [K, D] flat unconstrained starts
    unravel: Callable  # flat [D] -> dict of unconstrained sites
    ensemble: dict | None  # the ensemble fit's facts; None for a warm start (no fit)
    step_size: np.ndarray | None = None  # [K] tuning's first step size; None: the ensemble's learning rate
    L: np.ndarray | None = None  # [K] the previous run's L, kept (tuning retunes the step size only); None: tuned
    warm: dict | None = None  # the warm start's record for the run summary


def member_starts(
    problem: Problem, s: dict, ids: list[int], base: jax.Array, batch: int | None, progress: bool
) -> Members:
    """A deep ensemble's members; with a previous run (`problem.warm`), its chains' last draws and no fit at all."""
    if problem.warm is None:
        key = jax.random.fold_in(base, KEY_ENSEMBLE)
        ens = ensemble_from_settings(problem, ids, key, s, "mile: ensemble", progress, batch)
        return Members(ens.positions, ens.unravel, ens.info)
    warm = chain_starts(problem, problem.warm, ids, "mile")
    positions, unravel = flat_positions(warm)
    step = np.asarray(warm.step_sizes) if warm.step_sizes is not None else None
    # a preconditioned run tunes L and the step size in rescaled coordinates: tuned as usual, from that step size
    L = np.asarray(warm.L) if warm.L is not None and not s["preconditioning"] else None
    info = describe(problem.warm, ids, warm)
    if L is None:
        info.pop("L", None)
    return Members(positions, unravel, None, step, L, info)


def check_start(ids: list[int], logdensity: np.ndarray) -> None:
    """Refuse a member whose start has a non-finite log density: MCLMC could not move from it."""
    bad = ~np.isfinite(logdensity)
    if bad.any():
        raise messages.mile_start_not_finite(ids[int(np.argmax(bad))])


def check_tuning(ids: list[int], step_size: np.ndarray, L: np.ndarray, warmup: int) -> None:
    """Refuse to sample with a collapsed tuning: a zero or non-finite step size would freeze the chain."""
    bad = ~(np.isfinite(step_size) & np.isfinite(L) & (step_size > 1e-8) & (L > 1e-8))
    if bad.any():
        m = int(np.argmax(bad))
        raise messages.mile_tuning_collapsed(ids[m], warmup, float(step_size[m]), float(L[m]))


def run(
    problem: Problem, settings: InferSettings, progress: bool = True, checkpoint: Checkpoint = NO_CHECKPOINT
) -> RunResult:
    """MILE has no checkpoints yet: a killed run starts again (it is short by design)."""
    s = settings.values
    ids = problem.chain_ids(s["chains"])
    base = jax.random.PRNGKey(s["seed"])
    t0 = time.perf_counter()
    batch = resolve_batch_size(problem.row_plan, s["batch_size"], "mile", None)
    members = member_starts(problem, s, ids, base, batch, progress)
    start_s = time.perf_counter() - t0
    if members.positions.shape[1] < 2:
        raise messages.mile_one_parameter()
    budget = gradient_budget(s, len(ids), members.ensemble is not None)
    per_step = members.ensemble.get("step_s") if members.ensemble else None  # one gradient for all members
    if progress and per_step:
        print(
            f"mile: sampling {len(ids)} members x {budget['sampling']:,} gradients: about "
            f"{per_step * budget['sampling']:.1f} s plus compilation (from the ensemble's "
            f"{1e3 * per_step:.2f} ms per gradient step)",
            file=sys.stderr,
        )
    sampler = _Sampler(problem, s, members, base, ids)
    t1 = time.perf_counter()
    with Progress(s["warmup"] + s["samples"] * s["thinning"], "mile: tuning, sampling", progress) as bar:
        carry = sampler.tune(bar)
        tune_s = time.perf_counter() - t1
        tuning_undone = sampler.undone[: sampler.k].copy()
        sampler.undone[:] = 0
        draws: list = []
        carry, _ = sampler.advance(
            carry, sampler.sample_keys, 0, s["samples"] * s["thinning"], s["thinning"], False, False, bar, draws
        )
    sampling_s = time.perf_counter() - t1 - tune_s
    k = sampler.k
    flat = np.concatenate([p for p, _, _ in draws], axis=1)
    lp = np.concatenate([lp for _, lp, _ in draws], axis=1)
    if not np.isfinite(lp).all():
        raise messages.mile_not_finite(ids[int(np.argmax(~np.isfinite(lp).all(axis=1)))])
    constrained = jax.jit(jax.vmap(jax.vmap(lambda z: problem.constrain(members.unravel(z)))))(jnp.asarray(flat))
    posterior = {name: np.asarray(v) for name, v in constrained.items()}
    L_np, eps = np.asarray(carry.L)[:k], np.asarray(carry.step_size)[:k]
    sample_stats = {
        "lp": lp,
        "step_size": np.broadcast_to(eps[:, None], lp.shape).copy(),
        "energy_change_sq": np.concatenate([e for _, _, e in draws], axis=1),
    }
    info = {
        "backend": "mile",
        "members": k,
        "devices": sampler.n_dev,
        "gradient_budget": budget,
        "L": [float(v) for v in L_np],
        "step_size": [float(v) for v in eps],
        "tuning_phases": dataclasses.asdict(sampler.phases),
        "undone_steps": {"tuning": [int(v) for v in tuning_undone], "sampling": [int(v) for v in sampler.undone[:k]]},
        "ensemble": members.ensemble,
    }
    if members.warm is not None:
        info["warm_start"] = members.warm
    timings = {"ensemble_s": start_s} if members.ensemble is not None else {"ensemble_s": 0.0, "warm_start_s": start_s}
    timings.update({"tune_s": tune_s, "sampling_s": sampling_s})
    return RunResult(posterior, sample_stats, timings, info)


class _Sampler:
    """The members' MCLMC chains: one compiled segment, run phase by phase through the chunked driver."""

    def __init__(self, problem: Problem, s: dict, members: Members, base: jax.Array, ids: list[int]) -> None:
        self.s, self.ids, self.k = s, ids, len(ids)
        self.members = members
        self.dim = members.positions.shape[1]
        self.positions = members.positions
        self.outer = max(1, min(s["samples"], 100))
        self.mesh, self.n_dev, self.padded = chain_mesh(self.k)
        self.sharded = NamedSharding(self.mesh, P("chain"))
        member_keys = jnp.stack([jax.random.fold_in(jax.random.fold_in(base, KEY_SAMPLER), i) for i in ids])
        member_keys = jax.device_put(pad_chains(np.asarray(member_keys), self.padded), self.sharded)
        self.tune_keys = jax.vmap(lambda key: jax.random.fold_in(key, 0))(member_keys)
        self.sample_keys = jax.vmap(lambda key: jax.random.fold_in(key, 1))(member_keys)

        def logdensity(z):
            return -problem.potential(members.unravel(z))

        segment = build_segment(logdensity, self.dim, s["desired_energy_var"], self.outer)
        self.run_segment = on_devices(segment, self.mesh, self.n_dev, (0, 0, None, None, None, None, None), donate=True)
        self.phases = Phases.split(s["warmup"], TUNE_FRACTIONS, s["preconditioning"])
        if members.L is not None:  # a warm start keeps the previous L: the whole warmup retunes the step size
            self.phases = Phases(s["warmup"], 0, 0, 0)
        self.undone = np.zeros(self.padded, np.int64)

    def on_chains(self, a) -> jax.Array:
        return jax.device_put(jnp.asarray(a, self.positions.dtype), self.sharded)

    def advance(
        self, carry: Carry, keys, first: int, steps: int, thin: int, adapt: bool, collect: bool, bar, keep=None
    ):
        """Run `steps` kernel steps `thin` at a time from global outer index `first`; outputs kept if asked."""
        k = self.k

        def after(carry, out, begin, stop):
            n = stop - begin
            self.undone += np.asarray(out[3])[:, :n].sum(axis=1)
            if keep is not None:
                keep.append([np.asarray(a)[:k, :n] for a in out[:3]])
            return {}

        def segment(carry, begin, stop):
            return self.run_segment(carry, keys, first + begin, thin, stop - begin, adapt, collect)

        total = math.ceil(steps / thin)
        carry, _, _ = run_chunks(segment, carry, total, self.outer, bar, after=after, units=thin)
        return carry, first + total

    def tune(self, bar) -> Carry:
        """Robnik et al.'s three tuning phases (`mclmc.Phases`), from each member's start and, after a warm start, from
        the step size and L the previous run's member ended with."""
        s, padded, dim, phases = self.s, self.padded, self.dim, self.phases
        first_L = self.members.L if self.members.L is not None else max(math.sqrt(dim), 15.0)
        first_step = self.members.step_size if self.members.step_size is not None else s["lr"]
        carry = initial_carry(
            pad_chains(self.positions, padded),
            np.asarray(self.tune_keys),
            pad_chains(np.broadcast_to(first_L, (self.k,)), padded),
            0.0,
        )
        carry = jax.device_put(carry, self.sharded)
        carry, _ = self.run_segment(
            carry, self.tune_keys, 2**30, 1, 1, False, False
        )  # step size 0: evaluates the start
        check_start(self.ids, np.asarray(carry.state.logdensity)[: self.k])
        carry = carry._replace(step_size=self.on_chains(pad_chains(np.broadcast_to(first_step, (self.k,)), padded)))
        carry, t = self.advance(carry, self.tune_keys, 0, phases.step_size, 1, True, False, bar)
        if self.members.L is not None:
            check_tuning(self.ids, np.asarray(carry.step_size)[: self.k], np.asarray(carry.L)[: self.k], s["warmup"])
            return carry
        carry = carry._replace(moments=jax.tree_util.tree_map(jnp.zeros_like, carry.moments))
        carry, t = self.advance(carry, self.tune_keys, t, phases.moments, 1, True, True, bar)
        var = moments_to_scale(carry.moments, np.ones((padded, dim)))
        if s["preconditioning"]:
            carry = carry._replace(
                inv_mass=self.on_chains(var),
                L=self.on_chains(np.full(padded, math.sqrt(dim))),
                adapt=jax.tree_util.tree_map(
                    self.on_chains, (np.zeros(padded), np.zeros(padded), np.full(padded, np.inf))
                ),
            )
            carry, t = self.advance(carry, self.tune_keys, t, phases.retune, 1, True, False, bar)
        else:
            carry = carry._replace(L=self.on_chains(np.sqrt(var.sum(axis=1))))
        trace: list = []
        carry, t = self.advance(carry, self.tune_keys, t, phases.autocorrelation, 1, False, False, bar, trace)
        step_size = np.asarray(carry.step_size)
        if trace:
            positions = np.concatenate([p for p, _, _ in trace], axis=1)
            L = autocorrelation_L(positions, step_size[: self.k], np.asarray(carry.L)[: self.k], s["seed"])
            carry = carry._replace(L=self.on_chains(pad_chains(L, padded)))
        check_tuning(self.ids, step_size[: self.k], np.asarray(carry.L)[: self.k], s["warmup"])
        return carry
