"""SG-HMC: minibatch stochastic-gradient HMC (Chen, Fox & Guestrin 2014) on NumPyro's unconstrained space.

Each gradient step, in the "SGD with momentum" form of Chen et al. (their eq. 15), with friction alpha and
learning rate eta_t = step_size_t / lambda_max (lambda_max: the Hessian's largest eigenvalue at the start, which
sets the stable step whatever the data's size, noise or units, so step_size need not):

    v <- (1 - alpha) v - eta_t * grad U~(z) + sqrt(2 alpha eta_t) * xi,    z <- z + v

where U~ is the potential on a minibatch drawn with replacement (its likelihood already scaled by N / batch by
the generated program's plates) and xi is unit-variance noise, one number per parameter.

Why a fused kernel instead of `blackjax.sghmc`: BlackJAX draws Gaussian noise leaf by leaf with threefry, which
costs several times the minibatch gradient itself on CPU (benchmarks/results/design_notes.md#sghmc-kernel); here the update runs on one flat
vector (`ravel_pytree`) inside one jitted `lax.scan` per chunk, and the default noise is Rademacher (+-1 from
threefry bits, 32 per word): the update is a weak-order-1 Euler scheme, and replacing its Gaussian increments by
symmetric two-point ones of the same variance keeps weak order 1 (Kloeden & Platen's simplified weak Euler
scheme), while costing ~1/30 of the Gaussian draws. `noise = gaussian` gives the textbook update.
benchmarks/results/overhead.md has its cost per gradient against the raw minibatch gradient.

Reproducibility: chain c's randomness comes only from `fold_in(PRNGKey(seed), c)` (its start from
`fold_in(., 1)`, step t's minibatch and noise from `fold_in(fold_in(., 0), t)`), so draws do not depend on how
the steps are cut into chunks or on checkpoints (bit for bit), nor on which chains run together or on how
many devices share them, up to float rounding: XLA compiles the vmapped step differently for different
numbers of chains per device (~4e-7 apart after 2,000 steps on the 1-D example).

Chains run vmapped, split over the local JAX devices with `shard_map` (chains padded with throw-away copies
when they do not divide evenly). One chain on several devices runs on one device: splitting a minibatch of
~100 rows over devices costs more in communication than it saves.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from ...check.settings import InferSettings
from .. import messages
from ..checkpoint import NO_CHECKPOINT, Checkpoint
from ..devices.chains import chain_layout, on_devices, pad_chains
from ..driver import run_chunks
from ..problem import Problem
from ..progress import Progress
from ..result import RunResult
from ..rows import resolve_batch_size
from ..starts import best_of_restarts, ensemble_from_settings

AUTO_BATCH = 128  # rows per minibatch when batch_size = 0; smaller data sets use full-batch gradients
KEY_ENSEMBLE = 2**21  # fold_in(seed) for the ensemble fit (as NUTS); chains use fold_in(seed, chain)
KEY_CURVATURE = 2**22  # fold_in(seed) for the curvature estimate at the start
CHUNK = 1000  # steps per jitted call when not checkpointing (progress updates between calls)
MAP_LR = 0.03
STEP_FRACTION = 1.0  # automatic step: eta x lambda_max at the start (see auto_step)
CURVATURE_ROWS = 1024  # rows the start's curvature is measured on (or a batch, if larger; all rows when fewer)
POWER_STEPS = 20  # power-iteration steps for lambda_max at the start
RECHECK = 100  # burn-in steps between curvature measurements after the first few (see _chain_chunk)
RECHECK_POWER = 2  # power-iteration steps of each burn-in measurement, continuing from the last eigenvector
DECAY_POWER = 0.55  # polynomial decay exponent (Welling & Teh 2011)


# -- the step plan: which steps run, which are kept, the step size at each ---------------------------------


@dataclass(frozen=True)
class Plan:
    """Which steps run (0 .. total-1), the draw slot each step fills (-1: not kept), and the schedule."""

    total: int
    slot: np.ndarray  # [total] int32
    kept: np.ndarray  # [samples] the step index of each kept draw
    schedule: str
    warmup: int
    cycle: int  # cycle length of the cyclical schedule (0 otherwise)


def make_plan(s: dict[str, Any]) -> Plan:
    """Constant and decay keep every `thinning`-th step after `warmup`.

    Cyclical (Zhang et al. 2020): after `warmup` steps at full step size, `cycles` cosine cycles; each cycle
    explores in its first half (large steps) and keeps draws only in its second half, where the step size
    falls from step_size / 2 towards 0, every `thinning` steps (`samples / cycles` draws per cycle).
    """
    warmup, samples, thin, schedule = s["warmup"], s["samples"], s["thinning"], s["schedule"]
    cycle = 0
    if schedule == "cyclical":
        per_cycle = math.ceil(samples / s["cycles"])
        cycle = 2 * per_cycle * thin
        k = np.arange(samples)
        kept = warmup + (k // per_cycle) * cycle + cycle // 2 + (k % per_cycle + 1) * thin - 1
    else:
        kept = warmup + (np.arange(samples) + 1) * thin - 1
    total = int(kept[-1]) + 1
    slot = np.full(total, -1, np.int32)
    slot[kept] = np.arange(samples, dtype=np.int32)
    return Plan(total, slot, kept, schedule, warmup, cycle)


def step_multiplier(plan: Plan, t: jnp.ndarray) -> jnp.ndarray:
    """The schedule's factor on step_size at step t (works on numpy and traced values)."""
    t = jnp.asarray(t, jnp.float32)
    if plan.schedule == "decay":
        return (1.0 + t / max(plan.warmup, 1)) ** (-DECAY_POWER)
    if plan.schedule == "cyclical":
        r = jnp.mod(jnp.maximum(t - plan.warmup, 0.0), plan.cycle) / plan.cycle
        return jnp.where(t < plan.warmup, 1.0, 0.5 * (jnp.cos(jnp.pi * r) + 1.0))
    return jnp.ones_like(t)


def auto_step(s: dict[str, Any], batch: int | None, n_rows: int) -> tuple[float, float]:
    """(step_size, friction), filling in the automatic values (setting = 0).

    step_size is relative: the learning rate is step_size / lambda_max, lambda_max the largest eigenvalue of the
    potential's Hessian at the chains' starts, so one value suits data of any size, noise level and units (an
    absolute default, 1e-3 / N, diverged at step 2 on standardised yacht data, where lambda_max / N ~ 2.6e4).
    A quadratic direction of curvature lambda sampled with h = eta x lambda has its variance inflated by
    1 / (1 - h / (2 (2 - friction))) and diverges at h = 2 (2 - friction); flatter directions see smaller h.
    h = 1 inflates only the stiffest direction, by 36% (friction 0.1); on the 1-D example h = 0.25 left chains
    in the modes their MAP fits found (sigma 0.11-0.14 against NUTS's 0.105) and h = 1 gave 0.105-0.109.
    Minibatch gradient noise heats the chain in proportion to eta x (N / batch) / friction (Chen et al.,
    sec. 3.2), so with minibatches the step shrinks with sqrt(batch / N) and the friction rises to 0.5 (more
    friction alone slows full-batch chains, which have no gradient noise to damp).
    """
    ratio = 1.0 if batch is None else batch / max(n_rows, 1)
    step = s["step_size"] or STEP_FRACTION * min(1.0, math.sqrt(ratio))
    friction = s["friction"] or (0.1 if batch is None else 0.5)
    return step, friction


def data_size(problem: Problem) -> int:
    """What one full-data gradient sees: the rows minibatches would cut, else the number of observed values."""
    if problem.rows is not None:
        return problem.n_rows
    return max(1, sum(int(np.size(problem.data[k])) for k in problem.observed if k in problem.data))


def noise_fn(kind: str, dim: int, dtype):
    """Unit-variance noise for `dim` parameters from one key."""
    if kind == "gaussian":
        return lambda key: jax.random.normal(key, (dim,), dtype)
    words = (dim + 31) // 32

    def rademacher(key):
        return rademacher_from_bits(jax.random.bits(key, (words,), jnp.uint32), dim, dtype)

    return rademacher


def rademacher_from_bits(words: jnp.ndarray, dim: int, dtype) -> jnp.ndarray:
    """`dim` values of +-1 from 32-bit words, 32 per word."""
    bits = (words[:, None] >> jnp.arange(32, dtype=jnp.uint32)) & 1
    return bits.reshape(-1)[:dim].astype(dtype) * 2 - 1


# -- the run --------------------------------------------------------------------------------------------------


def run(
    problem: Problem, settings: InferSettings, progress: bool = True, checkpoint: Checkpoint = NO_CHECKPOINT
) -> RunResult:
    s = settings.values
    batch = resolve_batch_size(problem.row_plan, s["batch_size"], "sghmc", auto=AUTO_BATCH)
    plan = make_plan(s)
    step_size, alpha = auto_step(s, batch, problem.n_rows)
    ids = problem.chain_ids(s["chains"])
    n_chains = len(ids)
    n_dev, padded = chain_layout(n_chains, jax.local_device_count())
    run_ids = ids + [ids[0]] * (padded - n_chains)  # padding chains repeat chain ids[0]; their draws are dropped
    mesh = Mesh(np.array(jax.local_devices()[:n_dev]), ("chain",))
    sharded = NamedSharding(mesh, P("chain"))

    flat0, unravel = ravel_pytree(problem.init(jax.random.PRNGKey(0), s["init_radius"]))
    dim, dtype = flat0.size, flat0.dtype
    base = jax.random.PRNGKey(s["seed"])
    chain_keys = jax.device_put(jnp.stack([jax.random.fold_in(base, c) for c in run_ids]), sharded)

    def batch_potential(z, idx, key):
        """The potential on rows `idx` (None: all); `key` redraws context points with a spread, if any."""
        return problem.potential(unravel(z), None if idx is None else problem.take(idx), key=jax.random.fold_in(key, 1))

    curvature = Curvature.build(batch_potential, problem, batch, base, dim)
    template = {
        "z": np.zeros((n_chains, dim), dtype),
        "v": np.zeros((n_chains, dim), dtype),
        "draws": np.zeros((n_chains, s["samples"], dim), dtype),
        "lp": np.zeros((n_chains, s["samples"]), dtype),
        "bad": np.full((n_chains,), -1, np.int32),
        # each chain's curvature scale: measured at the start, raised where burn-in finds more (see RECHECK)
        "lambda_max": np.zeros((n_chains,), np.float32),
        "eigvec": np.zeros((n_chains, dim), dtype),  # its direction, where burn-in's power iteration goes on
    }
    loaded = checkpoint.load(template) if checkpoint.enabled else None
    t_start = time.perf_counter()
    if loaded is not None:
        step0, state = loaded
        map_s = curvature_s = 0.0
    else:
        step0 = 0
        z0 = _starts(problem, s, ids, base, batch, batch_potential, chain_keys, (mesh, n_dev), dim, dtype, progress)
        map_s = time.perf_counter() - t_start
        lam, eigvec = top_curvature(z0, curvature.measure, base, (mesh, n_dev, padded))
        state = {**template, "z": z0, "lambda_max": lam, "eigvec": eigvec}
        curvature_s = time.perf_counter() - t_start - map_s
    state = {k: jax.device_put(pad_chains(np.asarray(v), padded), sharded) for k, v in state.items()}

    chain_chunk = _chain_chunk(problem, s, plan, batch, batch_potential, curvature.refine, step_size, alpha, dim, dtype)
    chunk = max(1, min(checkpoint.every if checkpoint.enabled else CHUNK, plan.total))
    run_chunk = on_devices(chain_chunk, mesh, n_dev, (0, 0, None, None), donate=True)
    slots_all = np.concatenate([plan.slot, np.full(chunk, -1, np.int32)])

    def after(state, acc, begin, stop):
        bad = np.asarray(state["bad"])[:n_chains]
        if (bad >= 0).any():
            i = int(np.argmax(bad >= 0))
            raise messages.sghmc_diverged(ids[i], int(bad[i]) + 1, step_size)
        mult = float(step_multiplier(plan, stop - 1))
        return {"U": float(np.mean(np.asarray(acc)[:n_chains])) / (stop - begin), "step": step_size * mult}

    t_loop = time.perf_counter()
    with Progress(plan.total, "sghmc", enabled=progress, initial=step0) as bar:
        state, clock, _ = run_chunks(
            lambda st, a, b: run_chunk(st, chain_keys, jnp.int32(a), jnp.asarray(slots_all[a : a + chunk])),
            state,
            plan.total,
            chunk,
            bar,
            start=step0,
            after=after,
            checkpoint=checkpoint,
            save=lambda st: {k: np.asarray(v)[:n_chains] for k, v in st.items()},
        )
    sampling_s = time.perf_counter() - t_loop

    draws = jax.device_put(state["draws"], sharded)
    constrained = on_devices(jax.vmap(lambda z: problem.constrain(unravel(z))), mesh, n_dev, (0,))(draws)
    posterior = {k: np.asarray(v)[:n_chains] for k, v in constrained.items()}
    steps_per_draw = np.asarray(step_multiplier(plan, plan.kept))
    sample_stats = {
        "lp": np.asarray(state["lp"])[:n_chains],
        "step_size": np.broadcast_to(step_size * steps_per_draw, (n_chains, s["samples"])).copy(),
    }
    lam_chains = np.asarray(state["lambda_max"])[:n_chains]
    lam = float(lam_chains.max())
    per_step = clock.per_step()
    info = {
        "backend": "sghmc",
        "batch_size": batch if batch is not None else data_size(problem),
        "gradients": n_chains * plan.total * s["leapfrog"],
        "gradients_per_chain": plan.total * s["leapfrog"],
        "step_size": step_size,
        "friction": alpha,
        "lambda_max": lam,  # the largest over chains; each chain samples with step_size / its own
        "lambda_max_per_chain": [float(v) for v in lam_chains],
        "learning_rate": step_size / lam,
        "devices": n_dev,
        "padded_chains": padded - n_chains,
        "init": s["init"],
        "noise": s["noise"],
        "resumed_from_step": step0 or None,
    }
    timings = {
        "map_s": map_s,
        "curvature_s": curvature_s,
        "sampling_s": sampling_s,
        "first_chunk_s": clock.first_s,
        # compile-free: the chunks after the first (None when the run was one chunk)
        "per_gradient_us": 1e6 * per_step / (n_chains * s["leapfrog"]) if per_step is not None else None,
    }
    return RunResult(posterior, sample_stats, timings, info)


def _starts(problem, s, ids, base, batch, batch_potential, chain_keys, layout, dim, dtype, progress) -> np.ndarray:
    """Each chain's start [chains, D]: its deep-ensemble member (Sommer et al. 2024), the best of its MAP
    restarts, or uniform in (-init_radius, init_radius)."""
    mesh, n_dev = layout
    if s["init"] == "ensemble":
        key = jax.random.fold_in(base, KEY_ENSEMBLE)
        ens = ensemble_from_settings(problem, ids, key, s, "sghmc: ensemble starts", progress, batch)
        return np.asarray(ens.positions.astype(dtype))[: len(ids)]
    if s["init"] == "uniform" or s["map_steps"] == 0:
        radius = s["init_radius"]

        def start(key):
            return jax.random.uniform(jax.random.fold_in(key, 1), (dim,), dtype, -radius, radius)

        return np.asarray(on_devices(start, mesh, n_dev, (0,))(chain_keys))[: len(ids)]

    def potential(z, key):
        """The potential on a minibatch drawn from `key` (full data without minibatches)."""
        return batch_potential(z, None if batch is None else jax.random.randint(key, (batch,), 0, problem.n_rows), key)

    z = best_of_restarts(problem, chain_keys, potential, dim, s["map_steps"], s["map_restarts"], MAP_LR, (mesh, n_dev))
    return z[: len(ids)]


def _chain_chunk(problem, s, plan, batch, batch_potential, refine, step_size, alpha, dim, dtype):
    """One chain's compiled chunk: `chunk` SG-HMC steps from step t0, keeping draws in their slots.

    Burn-in measures the curvature again at steps 1, 2, 4, ..., then every RECHECK steps (a chain moves fastest
    away from its start) and slows a chain that reaches sharper regions. Each measurement goes on with the power
    iteration from the chain's last eigenvector for RECHECK_POWER Hessian-vector products on one batch of rows:
    20 fresh products on CURVATURE_ROWS rows every 50 steps cost 10x the gradients themselves
    (benchmarks/results/overhead.md).

    The driver's contract holds (steps past the end leave the state alone), but not through `masked_scan`: the
    state carries the draws buffer, which a per-step select would copy whole at every step; here a cond skips
    the gradient steps past the plan's end and the slots of those steps are -1, so nothing is written."""
    leapfrog = s["leapfrog"]
    noise = noise_fn(s["noise"], dim, dtype)
    words = (dim + 31) // 32

    def rows_and_noise(key):
        """The minibatch rows and the noise of one gradient step.

        Rademacher noise and the rows come from one `bits` call: each threefry call costs ~5-10 us on CPU,
        as much as a small network's gradient. Rows are bits mod N (bias below N / 2^32).
        """
        if s["noise"] != "rademacher":
            kb, kn = jax.random.split(key)
            idx = None if batch is None else jax.random.randint(kb, (batch,), 0, problem.n_rows)
            return idx, noise(kn)
        extra = 0 if batch is None else batch
        bits = jax.random.bits(key, (words + extra,), jnp.uint32)
        idx = None if batch is None else (bits[words:] % jnp.uint32(problem.n_rows)).astype(jnp.int32)
        return idx, rademacher_from_bits(bits[:words], dim, dtype)

    def gradient_step(zv, gkey, mult, lr):
        z, v = zv
        idx, xi = rows_and_noise(gkey)
        value, grad = jax.value_and_grad(batch_potential)(z, idx, gkey)
        noise_sd = jnp.sqrt(2.0 * alpha * lr)
        v = (1.0 - alpha) * v - (mult * lr) * grad + (jnp.sqrt(mult) * noise_sd) * xi
        return (z + v, v), value

    def chain_chunk(st, key, t0, slots):
        knoise = jax.random.fold_in(key, 0)

        def step(carry, i):
            z, v, draws, lp, bad, acc, lam, w = carry
            t = t0 + i
            tkey = jax.random.fold_in(knoise, t)
            mult = step_multiplier(plan, t).astype(dtype)
            recheck = (t > 0) & (t < plan.warmup) & (((t & (t - 1)) == 0) | (t % RECHECK == 0))

            def remeasure(lam_w):
                found, w = refine(z, lam_w[1])
                return jnp.maximum(lam_w[0], found), w

            lam, w = jax.lax.cond(recheck, remeasure, lambda lam_w: lam_w, (lam, w))
            lr = (step_size / lam).astype(dtype)

            def move(zv):
                zv, value = gradient_step(zv, tkey, mult, lr)
                zv = jax.lax.fori_loop(
                    1, leapfrog, lambda lf, zv: gradient_step(zv, jax.random.fold_in(tkey, lf), mult, lr)[0], zv
                )
                return zv, value

            (z2, v2), value = jax.lax.cond(t < plan.total, move, lambda zv: (zv, jnp.zeros((), dtype)), (z, v))
            slot = slots[i]
            keep = slot >= 0
            j = jnp.maximum(slot, 0)
            draws = draws.at[j].set(jnp.where(keep, z, draws[j]))
            lp = lp.at[j].set(jnp.where(keep, -value, lp[j]))
            bad = jnp.where((bad < 0) & ~jnp.isfinite(value), t, bad)
            return (z2, v2, draws, lp, bad, acc + value, lam, w), None

        init = (
            st["z"],
            st["v"],
            st["draws"],
            st["lp"],
            st["bad"],
            jnp.zeros((), dtype),
            st["lambda_max"],
            st["eigvec"],
        )
        (z, v, draws, lp, bad, acc, lam, w), _ = jax.lax.scan(step, init, jnp.arange(slots.shape[0]))
        return {"z": z, "v": v, "draws": draws, "lp": lp, "bad": bad, "lambda_max": lam, "eigvec": w}, acc

    return chain_chunk


@dataclass(frozen=True)
class Curvature:
    """The largest Hessian eigenvalue of the potential, by power iteration (Hessian-vector products: forward over
    reverse mode, about 3 gradients each).

    `measure(z, key) -> (lambda, eigenvector)`: POWER_STEPS products from a random direction on CURVATURE_ROWS rows
    (or one batch, if larger; all rows when fewer), drawn once, which the potential scales up to N: a measurement
    costs the same at any N. Once per chain, at the start.
    `refine(z, w) -> (lambda, eigenvector)`: RECHECK_POWER more products from w, on one batch of those rows (all
    rows without minibatches): burn-in's measurements, at a few gradients each.
    """

    measure: Callable
    refine: Callable

    @staticmethod
    def build(batch_potential, problem: Problem, batch: int | None, base: jax.Array, dim: int) -> Curvature:
        rows = recheck_rows = None
        size = max(batch or 0, CURVATURE_ROWS)
        if batch is not None:
            order = jax.random.permutation(jax.random.fold_in(base, KEY_CURVATURE), problem.n_rows)
            rows = order[:size] if problem.n_rows > size else None
            recheck_rows = order[:batch]
        ctx = jax.random.fold_in(base, KEY_CURVATURE + 1)

        def power(rows_used, steps):
            grad = jax.grad(lambda x: batch_potential(x, rows_used, ctx))

            def iterate(z, w):
                def step(carry, _):
                    w, _ = carry
                    hw = jax.jvp(grad, (z,), (w,))[1]
                    norm = jnp.linalg.norm(hw)
                    return (hw / (norm + 1e-30), norm), None

                (w, lam), _ = jax.lax.scan(step, (w, jnp.zeros((), z.dtype)), None, length=steps)
                return lam, w  # |H w| of the last unit w: at most lambda_max, and close to it once w has converged

            return iterate

        start, again = power(rows, POWER_STEPS), power(recheck_rows, RECHECK_POWER)

        def measure(z, key):
            w0 = jax.random.normal(key, (dim,), z.dtype)
            return start(z, w0 / jnp.linalg.norm(w0))

        return Curvature(measure, again)


def top_curvature(
    z0: np.ndarray, measure, base: jax.Array, layout: tuple[Mesh, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """lambda_max at each chain's start: the largest over chains, for every chain (one step size to start), and
    each chain's eigenvector, where burn-in's measurements go on."""
    mesh, n_dev, n_padded = layout
    n_chains = z0.shape[0]
    keys = jnp.stack([jax.random.fold_in(base, KEY_CURVATURE + 2 + c) for c in range(n_padded)])
    lam, w = on_devices(measure, mesh, n_dev, (0, 0))(jnp.asarray(pad_chains(z0, n_padded)), keys)
    lam = np.asarray(lam)[:n_chains]
    if not np.isfinite(lam).all():
        raise messages.sghmc_curvature(int(np.argmax(~np.isfinite(lam))))
    return np.full(n_chains, max(float(lam.max()), 1e-12), np.float32), np.asarray(w)[:n_chains]
