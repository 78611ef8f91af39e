"""SG-HMC: minibatch stochastic-gradient HMC (Chen, Fox & Guestrin 2014) on NumPyro's unconstrained space.

Each gradient step, in the "SGD with momentum" form of Chen et al. (their eq. 15), with friction alpha and
learning rate eta_t = step_size_t / lambda_max (lambda_max: the Hessian's largest eigenvalue at the start, which
sets the stable step whatever the data's size, noise or units, so step_size need not):

    v <- (1 - alpha) v - eta_t * grad U~(z) + sqrt(2 alpha eta_t) * xi,    z <- z + v

where U~ is the potential on a minibatch drawn with replacement (its likelihood already scaled by N / batch by
the generated program's plates) and xi is unit-variance noise, one number per parameter.

Why a fused kernel instead of `blackjax.sghmc`: BlackJAX draws Gaussian noise leaf by leaf with threefry, which
costs ~5x the minibatch gradient itself on CPU (shared/notes/baselines.md); here the update runs on one flat
vector (`ravel_pytree`) inside one jitted `lax.scan` per chunk, and the default noise is Rademacher (+-1 from
threefry bits, 32 per word): the update is a weak-order-1 Euler scheme, and replacing its Gaussian increments by
symmetric two-point ones of the same variance keeps weak order 1 (Kloeden & Platen's simplified weak Euler
scheme), while costing ~1/30 of the Gaussian draws. `noise = gaussian` gives the textbook update.
Measured (N = 1000, batch 32, the 50-50 tanh MLP, 10 gradients per step, 1 chain, loaded 2-core CPU): 52-61 us
per gradient against 36-39 us for the raw jitted minibatch loss + gradient, 1.35-1.7x (Gaussian noise:
2.8-3.3x; BlackJAX: 5.8x).

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
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from numpyro import handlers
from numpyro.infer.util import unconstrain_fn

from ..check.settings import InferSettings
from ..errors import BnnError, Location
from .chains import chain_layout, on_devices, pad_chains
from .checkpoint import NO_CHECKPOINT, Checkpoint
from .ensemble import fit_ensemble_from_settings
from .optimize import adam_schedule
from .problem import Problem, resolve_batch_size
from .progress import Progress
from .result import RunResult, draws_to_idata

AUTO_BATCH = 128  # rows per minibatch when batch_size = 0; smaller data sets use full-batch gradients
KEY_ENSEMBLE = 2**21  # fold_in(seed) for the ensemble fit (as NUTS); chains use fold_in(seed, chain)
KEY_CURVATURE = 2**22  # fold_in(seed) for the curvature estimate at the start
CHUNK = 1000  # steps per jitted call when not checkpointing (progress updates between calls)
MAP_LR = 0.03
STEP_FRACTION = 1.0  # automatic step: eta x lambda_max at the start (see auto_step)
CURVATURE_ROWS = 1024  # rows the start's curvature is measured on (or a batch, if larger; all rows when fewer)
POWER_STEPS = 20  # power-iteration steps for lambda_max
RECHECK = 50  # burn-in steps between curvature measurements (~6% more gradients during burn-in)
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


def run_sghmc(
    problem: Problem, settings: InferSettings, progress: bool = True, checkpoint: Checkpoint = NO_CHECKPOINT
) -> RunResult:
    s = settings.values
    batch = resolve_batch_size(problem, s["batch_size"], "sghmc", auto=AUTO_BATCH)
    plan = make_plan(s)
    step_size, alpha = auto_step(s, batch, problem.n_rows)
    leapfrog = s["leapfrog"]

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

    def potential(z, key):
        """The potential on a minibatch drawn from `key` (full data without minibatches)."""
        return batch_potential(z, None if batch is None else jax.random.randint(key, (batch,), 0, problem.n_rows), key)

    t_start = time.perf_counter()
    template = {
        "z": np.zeros((n_chains, dim), dtype),
        "v": np.zeros((n_chains, dim), dtype),
        "draws": np.zeros((n_chains, s["samples"], dim), dtype),
        "lp": np.zeros((n_chains, s["samples"]), dtype),
        "bad": np.full((n_chains,), -1, np.int32),
        # each chain's curvature scale: measured at the start, raised where burn-in finds more (see RECHECK)
        "lambda_max": np.zeros((n_chains,), np.float32),
    }
    loaded = checkpoint.load(template) if checkpoint.enabled else None
    top = curvature_fn(batch_potential, problem, batch, base, dim)
    map_s = curvature_s = 0.0
    if loaded is not None:
        step0, state = loaded
    else:
        step0 = 0
        if s["init"] == "ensemble":  # one deep-ensemble member starts each chain (Sommer et al. 2024)
            key = jax.random.fold_in(base, KEY_ENSEMBLE)
            ens = fit_ensemble_from_settings(problem, ids, key, s, "sghmc: ensemble starts", progress, batch)
            z0 = ens.positions.astype(dtype)
        else:
            z0 = initial_positions(s, chain_keys, problem, potential, unravel, mesh, n_dev)
        map_s = time.perf_counter() - t_start
        z0 = np.asarray(z0)[:n_chains]
        t_curv = time.perf_counter()
        lam = top_curvature(z0, top, base, (mesh, n_dev, padded))
        state = {**template, "z": z0, "lambda_max": lam}
        curvature_s = time.perf_counter() - t_curv
    state = {k: jax.device_put(pad_chains(np.asarray(v), padded), sharded) for k, v in state.items()}

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

    chunk = checkpoint.every if checkpoint.enabled else CHUNK
    chunk = max(1, min(chunk, plan.total))

    def chain_chunk(st, key, t0, slots):
        knoise = jax.random.fold_in(key, 0)

        def gradient_step(zv, gkey, mult, lr):
            z, v = zv
            idx, xi = rows_and_noise(gkey)
            value, grad = jax.value_and_grad(batch_potential)(z, idx, gkey)
            noise_sd = jnp.sqrt(2.0 * alpha * lr)
            v = (1.0 - alpha) * v - (mult * lr) * grad + (jnp.sqrt(mult) * noise_sd) * xi
            return (z + v, v), value

        def step(carry, i):
            z, v, draws, lp, bad, acc, lam = carry
            t = t0 + i
            tkey = jax.random.fold_in(knoise, t)
            mult = step_multiplier(plan, t).astype(dtype)
            # burn-in only: a chain that reaches sharper regions than its start slows down; sampling keeps one step
            # at steps 1, 2, 4, ..., then every RECHECK steps: a chain moves fastest away from its start
            recheck = (t > 0) & (t < plan.warmup) & (((t & (t - 1)) == 0) | (t % RECHECK == 0))
            lam = jax.lax.cond(recheck, lambda: jnp.maximum(lam, top(z, jax.random.fold_in(tkey, 2**20))), lambda: lam)
            lr = (step_size / lam).astype(dtype)

            def move(zv):
                zv, value = gradient_step(zv, jax.random.fold_in(tkey, 0), mult, lr)
                zv = jax.lax.fori_loop(
                    1, leapfrog, lambda lf, zv: gradient_step(zv, jax.random.fold_in(tkey, lf), mult, lr)[0], zv
                )
                return zv, value

            # steps past the end (the last chunk's tail) leave the state alone; slots there are -1
            (z2, v2), value = jax.lax.cond(t < plan.total, move, lambda zv: (zv, jnp.zeros((), dtype)), (z, v))
            slot = slots[i]
            keep = slot >= 0
            j = jnp.maximum(slot, 0)
            draws = draws.at[j].set(jnp.where(keep, z, draws[j]))
            lp = lp.at[j].set(jnp.where(keep, -value, lp[j]))
            bad = jnp.where((bad < 0) & ~jnp.isfinite(value), t, bad)
            return (z2, v2, draws, lp, bad, acc + value, lam), None

        init = (st["z"], st["v"], st["draws"], st["lp"], st["bad"], jnp.zeros((), dtype), st["lambda_max"])
        (z, v, draws, lp, bad, acc, lam), _ = jax.lax.scan(step, init, jnp.arange(chunk))
        return {"z": z, "v": v, "draws": draws, "lp": lp, "bad": bad, "lambda_max": lam}, acc

    run_chunk = on_devices(chain_chunk, mesh, n_dev, (0, 0, None, None), donate=True)
    slots_all = np.concatenate([plan.slot, np.full(chunk, -1, np.int32)])
    t_loop = time.perf_counter()
    first_chunk_s = None
    with Progress(plan.total, "sghmc", enabled=progress, initial=step0) as bar:
        step = step0
        while step < plan.total:
            slots = jnp.asarray(slots_all[step : step + chunk])
            state, acc = run_chunk(state, chain_keys, jnp.int32(step), slots)
            done = min(chunk, plan.total - step)
            step += done
            bad = np.asarray(state["bad"])[:n_chains]
            if (bad >= 0).any():
                raise diverged(ids, bad, step_size)
            if first_chunk_s is None:
                first_chunk_s = time.perf_counter() - t_loop
            mult = float(step_multiplier(plan, step - 1))
            bar.update(done, U=float(np.mean(np.asarray(acc)[:n_chains])) / done, step=step_size * mult)
            if checkpoint.enabled and step < plan.total:
                checkpoint.save(step, {k: np.asarray(v)[:n_chains] for k, v in state.items()})
    sampling_s = time.perf_counter() - t_loop

    t1 = time.perf_counter()
    draws = jax.device_put(state["draws"], sharded)
    constrained = on_devices(jax.vmap(lambda z: problem.constrain(unravel(z))), mesh, n_dev, (0,))(draws)
    posterior = {k: np.asarray(v)[:n_chains] for k, v in constrained.items()}
    sample_stats = {
        "lp": np.asarray(state["lp"])[:n_chains],
        "step_size": np.broadcast_to(
            step_size * np.asarray(step_multiplier(plan, plan.kept)), (n_chains, s["samples"])
        ).copy(),
    }
    idata = draws_to_idata(problem, posterior, sample_stats)
    grads = n_chains * plan.total * leapfrog
    lam_chains = np.asarray(state["lambda_max"])[:n_chains]
    lam = float(lam_chains.max())
    info = {
        "backend": "sghmc",
        "batch_size": batch if batch is not None else data_size(problem),
        "gradients": grads,
        "gradients_per_chain": plan.total * leapfrog,
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
        "first_chunk_s": first_chunk_s or 0.0,
        # compile-free: the chunks after the first (None when the run was one chunk)
        "per_gradient_us": (
            1e6 * (sampling_s - first_chunk_s) / (n_chains * (plan.total - step0 - chunk) * leapfrog)
            if plan.total - step0 > chunk and first_chunk_s is not None
            else None
        ),
        "to_arviz_s": time.perf_counter() - t1,
    }
    return RunResult(idata, timings, info)


def curvature_fn(batch_potential, problem: Problem, batch: int | None, base: jax.Array, dim: int):
    """`top(z, key)`: the largest Hessian eigenvalue of the potential at z, by power iteration.

    POWER_STEPS Hessian-vector products (forward over reverse mode), about 3 x POWER_STEPS gradients. With
    minibatches the curvature is measured on CURVATURE_ROWS rows (or one batch, if larger), drawn once, which
    the potential scales up to N: a measurement costs the same at any N.
    """
    rows = None
    size = max(batch or 0, CURVATURE_ROWS)
    if batch is not None and problem.n_rows > size:
        rows = jax.random.permutation(jax.random.fold_in(base, KEY_CURVATURE), problem.n_rows)[:size]
    ctx = jax.random.fold_in(base, KEY_CURVATURE + 1)

    def top(z, key):
        grad = jax.grad(lambda x: batch_potential(x, rows, ctx))

        def hvp(w):
            return jax.jvp(grad, (z,), (w,))[1]

        def step(w, _):
            hw = hvp(w)
            return hw / (jnp.linalg.norm(hw) + 1e-30), None

        w0 = jax.random.normal(key, (dim,), z.dtype)
        w, _ = jax.lax.scan(step, w0 / jnp.linalg.norm(w0), None, length=POWER_STEPS)
        return jnp.abs(jnp.vdot(w, hvp(w)))

    return top


def top_curvature(z0: np.ndarray, top, base: jax.Array, layout: tuple[Mesh, int, int]) -> np.ndarray:
    """lambda_max at each chain's start: the largest over chains, for every chain (one step size to start)."""
    mesh, n_dev, n_padded = layout
    n_chains = z0.shape[0]
    keys = jnp.stack([jax.random.fold_in(base, KEY_CURVATURE + 2 + c) for c in range(n_padded)])
    lam = np.asarray(on_devices(top, mesh, n_dev, (0, 0))(jnp.asarray(pad_chains(z0, n_padded)), keys))[:n_chains]
    if not np.isfinite(lam).all():
        raise BnnError(
            f"The curvature at the start of SG-HMC chain {int(np.argmax(~np.isfinite(lam)))} is not finite, so no "
            "step size can be set.",
            Location("<inference>", 0),
            hint="Check the priors' scales and the data's units (standardise), or start with init = uniform.",
        )
    return np.full(n_chains, max(float(lam.max()), 1e-12), np.float32)


# -- helpers --------------------------------------------------------------------------------------------------


def initial_positions(s: dict[str, Any], chain_keys, problem: Problem, potential, unravel, mesh: Mesh, n_dev: int):
    """Each chain's start: init = uniform: uniform in (-r, r) on the unconstrained scale; init = map: the best
    (lowest full-data potential) of `map_restarts` Adam MAP fits, each started from its own draw from the prior.

    Per-chain MAP fits from different random starts, not one shared fit: a BNN posterior has many modes, and
    chains that start in different ones spread the predictions the way independent NUTS chains do. Prior draws
    as starts (not small uniform values) give every layer its prior's scale: from near-zero weights Adam falls
    into the "constant output, large noise" optimum on every restart. Restarts catch the fits that stall there.
    """
    flat0, _ = ravel_pytree(problem.init(jax.random.PRNGKey(0), 0.5))
    dim, dtype = flat0.size, flat0.dtype
    steps, restarts = s["map_steps"], s["map_restarts"]
    names = list(unravel(flat0))

    if s["init"] == "uniform" or steps == 0:
        radius = s["init_radius"]

        def start(key):
            return jax.random.uniform(jax.random.fold_in(key, 1), (dim,), dtype, -radius, radius)

        return np.asarray(on_devices(start, mesh, n_dev, (0,))(chain_keys))

    opt = adam_schedule(MAP_LR, steps)

    def prior_draw(key):
        tr = handlers.trace(handlers.seed(problem.model, key)).get_trace(**problem.data)
        values = unconstrain_fn(problem.model, (), problem.data, {k: tr[k]["value"] for k in names})
        return ravel_pytree(values)[0].astype(dtype)

    def fit(key):
        z = prior_draw(jax.random.fold_in(key, 0))

        def step(carry, t):
            z, st = carry
            grad = jax.grad(potential)(z, jax.random.fold_in(key, t + 1))
            updates, st = opt.update(grad, st, z)
            return (optax.apply_updates(z, updates), st), None

        (z, _), _ = jax.lax.scan(step, (z, opt.init(z)), jnp.arange(steps))
        loss = problem.potential(unravel(z))
        return z, jnp.where(jnp.isfinite(loss) & jnp.isfinite(z).all(), loss, jnp.inf)

    def start(key):
        kinit = jax.random.fold_in(key, 1)
        zs, losses = jax.lax.map(fit, jnp.stack([jax.random.fold_in(kinit, r) for r in range(restarts)]))
        best = jnp.argmin(losses)
        return zs[best], losses[best]

    z, loss = on_devices(start, mesh, n_dev, (0,))(chain_keys)
    z, loss = np.asarray(z), np.asarray(loss)
    if not np.isfinite(loss).all():
        raise BnnError(
            f"The MAP fits that start SG-HMC chain {int(np.argmax(~np.isfinite(loss)))} all diverged.",
            Location("<inference>", 0),
            hint="Start from random values with init = uniform, or check the priors' scales and the data's "
            "units (standardise).",
        )
    return z


def diverged(ids: list[int], bad: np.ndarray, step_size: float) -> BnnError:
    i = int(np.argmax(bad >= 0))
    return BnnError(
        f"SG-HMC chain {ids[i]} diverged: the potential became infinite or NaN at step {int(bad[i]) + 1}.",
        Location("<inference>", 0),
        hint=f"Use a smaller step_size (now {step_size:g}; try {step_size / 10:g}), or more friction.",
    )
