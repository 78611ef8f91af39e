"""Stochastic variational inference: a guide fitted by a jitted optax loop, then draws from it.

Guides live on the raveled unconstrained parameter vector (one flat array, as
AutoDiagonalNormal does) rather than one variational site per model site: the
step is then a few fused array operations plus one gradient of the potential,
which keeps it level with a hand-written mean-field step (AutoNormal costs
1.3-1.6x that; shared/notes/baselines.md). The ELBO's entropy term is exact
(closed form), so only the expected potential is estimated by Monte Carlo.

guide = normal   mean-field Gaussian (loc, softplus scale)
guide = lowrank  Gaussian with covariance F F' + diag(s)^2, F of `rank` columns
guide = map      a point (delta guide): the loop is a MAP fit
guide = laplace  the MAP, then a Gaussian with the inverse Hessian of the potential there

The loop runs as a jitted `lax.scan` over fixed-length chunks; step t takes
its minibatch and noise from `fold_in(key, t)`, so how the loop is cut into
chunks (progress updates, checkpoints, a resume) never changes the result.
Defaults that keep a BNN from collapsing to its prior: a MAP warm start for
the mean of the normal and low-rank guides, a small initial scale, and a
cosine-decayed learning rate (see `BACKENDS["svi"]`).
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
import optax
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ..check.settings import InferSettings
from ..errors import BnnError, Location
from .checkpoint import NO_CHECKPOINT, Checkpoint
from .optimize import find_map
from .problem import Problem, resolve_batch_size
from .progress import Progress
from .result import RunResult, draws_to_idata

GUIDES = ("normal", "lowrank", "map", "laplace")
AUTO_FULL_ROWS = 4096  # up to this many rows a step uses all the data; above, minibatches of AUTO_BATCH rows
AUTO_BATCH = 1024
LAPLACE_MAX_PARAMS = 20_000  # a dense Hessian of 20k parameters is 1.6 GB in float32
WHERE = Location("<inference>", 0)

# Offsets for fold_in so the warm start, the loop and the draws never share a key.
KEY_LOOP, KEY_INIT, KEY_DRAWS = 0, 1, 2


def _softplus_inverse(x: float) -> float:
    return float(x + math.log(-math.expm1(-x)))


@dataclass(frozen=True)
class FlatGuide:
    """A variational family over the raveled unconstrained vector; params are a dict of arrays."""

    kind: str
    size: int
    rank: int = 0

    def init(self, loc: jnp.ndarray, init_scale: float, key: jax.Array) -> dict[str, jnp.ndarray]:
        params = {"loc": loc.astype(jnp.float32)}
        if self.kind in ("normal", "lowrank"):
            params["scale"] = jnp.full((self.size,), _softplus_inverse(init_scale), jnp.float32)
        if self.kind == "lowrank":
            # small random columns: a zero factor would sit at a saddle of the entropy term
            f = jax.random.normal(key, (self.size, self.rank), jnp.float32)
            params["factor"] = f * (0.1 * init_scale / math.sqrt(self.rank))
        return params

    def sample(self, params: dict[str, jnp.ndarray], key: jax.Array) -> jnp.ndarray:
        """One reparameterised draw of the flat vector."""
        z = params["loc"]
        if self.kind in ("normal", "lowrank"):
            z = z + jax.nn.softplus(params["scale"]) * jax.random.normal(key, (self.size,), z.dtype)
        if self.kind == "lowrank":
            eps = jax.random.normal(jax.random.fold_in(key, 1), (self.rank,), z.dtype)
            z = z + params["factor"] @ eps
        return z

    def entropy(self, params: dict[str, jnp.ndarray]) -> jnp.ndarray:
        """Entropy up to a constant (the constant does not move the optimum, and is left out of the loss)."""
        if self.kind not in ("normal", "lowrank"):
            return jnp.zeros((), jnp.float32)
        s = jax.nn.softplus(params["scale"])
        out = jnp.sum(jnp.log(s))
        if self.kind == "lowrank":
            # log det(F F' + S^2) = 2 sum log s + log det(I + F' S^-2 F)  (matrix determinant lemma)
            g = params["factor"] / s[:, None]
            inner = jnp.eye(self.rank, dtype=s.dtype) + g.T @ g
            out = out + 0.5 * jnp.linalg.slogdet(inner)[1]
        return out


def _schedule(name: str, lr: float, steps: int) -> optax.Schedule:
    if name == "constant":
        return optax.constant_schedule(lr)
    if name == "cosine":
        return optax.cosine_decay_schedule(lr, max(steps, 1), alpha=0.01)
    return optax.exponential_decay(lr, transition_steps=max(steps, 1), decay_rate=0.01)  # exponential


def make_optimizer(name: str, lr: float, schedule: str, steps: int) -> optax.GradientTransformation:
    sched = _schedule(schedule, lr, steps)
    return {
        "adam": lambda: optax.adam(sched),
        "adamw": lambda: optax.adamw(sched, weight_decay=1e-4),
        "sgd": lambda: optax.sgd(sched),
        "rmsprop": lambda: optax.rmsprop(sched),
    }[name]()


def check_settings(problem: Problem, s: dict[str, Any]) -> int | None:
    """Refuse settings the settings table cannot (guide names are checked there); returns the batch size."""
    if s["guide"] not in GUIDES:  # the table refuses these already; this guards direct callers
        raise BnnError(
            f"Setting 'guide' of svi must be one of {', '.join(GUIDES)}; got '{s['guide']}'.",
            Location("<settings>", 0),
            hint="normal (mean-field), lowrank, map (point estimate) or laplace.",
        )
    if not s["lr"] > 0:
        raise BnnError(
            f"Setting 'lr' of svi must be a number > 0; got {s['lr']}.",
            Location("<settings>", 0),
            hint="Try lr = 0.01.",
        )
    auto = AUTO_BATCH if problem.n_rows > AUTO_FULL_ROWS else None
    return resolve_batch_size(problem, s["batch_size"], "svi", auto=auto)


@dataclass
class Fitted:
    """A fitted guide: the family, its parameters, and how flat vectors map back to sites."""

    guide: FlatGuide
    params: dict[str, jnp.ndarray]
    unravel: Callable[[jnp.ndarray], dict[str, jnp.ndarray]]
    losses: np.ndarray
    batch_size: int | None
    devices: int
    clock: dict[str, float]  # first chunk (with compilation) and the later chunks' time and steps
    laplace: dict[str, jnp.ndarray] | None = None  # mean, eigvecs, eigvals of the Hessian (laplace guide)

    def mean(self) -> jnp.ndarray:
        return self.params["loc"]

    def covariance(self) -> jnp.ndarray:
        """The guide's covariance of the flat vector (dense: for small models and tests)."""
        g = self.guide
        if g.kind == "laplace":
            v, lam = self.laplace["vecs"], self.laplace["vals"]
            return (v / lam) @ v.T
        if g.kind == "map":
            return jnp.zeros((g.size, g.size))
        s = jax.nn.softplus(self.params["scale"])
        cov = jnp.diag(s**2)
        if g.kind == "lowrank":
            cov = cov + self.params["factor"] @ self.params["factor"].T
        return cov

    def draws(self, key: jax.Array, n: int) -> jnp.ndarray:
        """[n, size] flat draws from the fitted guide."""
        keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n))
        if self.guide.kind == "laplace":
            v, lam = self.laplace["vecs"], self.laplace["vals"]
            eps = jax.vmap(lambda k: jax.random.normal(k, (self.guide.size,)))(keys)
            return self.params["loc"] + (eps / jnp.sqrt(lam)) @ v.T
        return jax.vmap(lambda k: self.guide.sample(self.params, k))(keys)


def _mesh(batch_rows: int | None) -> Mesh | None:
    """A one-axis mesh over the local devices when there are several and the rows divide evenly."""
    devices = jax.local_devices()
    if len(devices) < 2 or batch_rows is None or batch_rows % len(devices):
        return None
    return Mesh(np.array(devices), ("rows",))


def fit(
    problem: Problem,
    settings: InferSettings,
    progress: bool = False,
    checkpoint: Checkpoint = NO_CHECKPOINT,
) -> Fitted:
    """Optimise the guide's ELBO (or, for map/laplace, the potential); resumes from `checkpoint`."""
    s = settings.values
    batch_size = check_settings(problem, s)
    steps = int(s["steps"])
    base = jax.random.PRNGKey(s["seed"])
    loop_key = jax.random.fold_in(base, KEY_LOOP)
    kind = s["guide"]
    start_params = problem.init(jax.random.fold_in(base, KEY_INIT), s["init_radius"])
    flat0, unravel = ravel_pytree(start_params)
    guide = FlatGuide("map" if kind == "laplace" else kind, flat0.size, min(int(s["rank"]), flat0.size))
    opt = make_optimizer(s["optimizer"], float(s["lr"]), s["schedule"], steps)
    particles = int(s["particles"])

    def fresh_state(loc: jnp.ndarray) -> dict[str, Any]:
        params = guide.init(loc, float(s["init_scale"]), jax.random.fold_in(base, KEY_INIT + 100))
        return {"params": params, "opt": opt.init(params)}

    template = {**fresh_state(flat0), "loss": np.zeros((steps,), np.float32)}
    loaded = checkpoint.load(template) if checkpoint.enabled else None
    if loaded is not None:
        done, saved = loaded
        losses = np.array(saved.pop("loss"))
        state = saved
    else:
        done, losses = 0, np.full((steps,), np.nan, np.float32)
        loc = flat0
        if kind in ("normal", "lowrank") and s["init"] == "map" and s["map_steps"] > 0:
            warm, _ = find_map(
                problem, jax.random.fold_in(base, KEY_INIT), int(s["map_steps"]), float(s["lr"]), batch_size,
                init=start_params,
            )
            loc = ravel_pytree(warm)[0]
        state = fresh_state(loc)

    # The data travel as arguments (not constants baked into the program), sharded over rows when possible.
    rows_per_step = batch_size if batch_size is not None else (problem.n_rows if problem.rows else None)
    mesh = _mesh(rows_per_step)
    data = problem.batch_data() if problem.rows else {}
    if mesh is not None:
        spec = PartitionSpec() if batch_size is not None else PartitionSpec("rows")
        data = jax.device_put(data, NamedSharding(mesh, spec))
        state = jax.device_put(state, NamedSharding(mesh, PartitionSpec()))

    def cut(data: dict[str, jnp.ndarray], key: jax.Array) -> dict[str, jnp.ndarray] | None:
        if not problem.rows:
            return None
        if batch_size is None:
            return data
        idx = jax.random.randint(key, (batch_size,), 0, problem.n_rows)
        batch = {k: v[idx] for k, v in data.items()}
        if mesh is not None:
            batch = jax.lax.with_sharding_constraint(batch, NamedSharding(mesh, PartitionSpec("rows")))
        return batch

    def loss_fn(params, key, batch):
        def one(k):
            return problem.potential(unravel(guide.sample(params, k)), batch)

        if guide.kind == "map":
            expected = one(key)
        elif particles == 1:
            expected = one(jax.random.fold_in(key, 1))
        else:
            expected = jnp.mean(jax.vmap(one)(jax.random.split(jax.random.fold_in(key, 1), particles)))
        return expected - guide.entropy(params)

    def step(state, t, data):
        key = jax.random.fold_in(loop_key, t)
        batch = cut(data, jax.random.fold_in(key, 0))
        loss, grads = jax.value_and_grad(loss_fn)(state["params"], key, batch)
        updates, opt_state = opt.update(grads, state["opt"], state["params"])
        return {"params": optax.apply_updates(state["params"], updates), "opt": opt_state}, loss

    chunk = max(1, min(steps, 2000, math.ceil(steps / 50)))

    @jax.jit
    def run_chunk(state, data, start, stop):
        """`chunk` steps from `start`; those at or past `stop` leave the state alone (one compiled length)."""

        def body(state, i):
            t = start + i
            live = lambda st: step(st, t, data)  # noqa: E731
            idle = lambda st: (st, jnp.float32(jnp.nan))  # noqa: E731
            return jax.lax.cond(t < stop, live, idle, state)

        return jax.lax.scan(body, state, jnp.arange(chunk, dtype=jnp.int32))

    every = checkpoint.every if checkpoint.enabled else 0
    clock = {"first_chunk_s": 0.0, "later_chunks_s": 0.0, "later_steps": 0}
    with Progress(steps, "svi", enabled=progress, initial=done) as bar:
        while done < steps:
            tick = time.perf_counter()
            stop = min(steps, (done // chunk + 1) * chunk)
            if every:
                stop = min(stop, (done // every + 1) * every)
            state, chunk_losses = run_chunk(state, data, jnp.int32(done), jnp.int32(stop))
            got = np.asarray(chunk_losses)[: stop - done]
            if clock["first_chunk_s"] == 0.0:  # the first chunk includes compiling the loop
                clock["first_chunk_s"] = time.perf_counter() - tick
            else:
                clock["later_chunks_s"] += time.perf_counter() - tick
                clock["later_steps"] += len(got)
            losses[done:stop] = got
            bad = np.flatnonzero(~np.isfinite(got))
            if bad.size:
                raise BnnError(
                    f"SVI diverged: the loss became {got[bad[0]]} at step {done + int(bad[0]) + 1} of {steps}.",
                    WHERE,
                    hint=f"Lower the learning rate (lr = {s['lr']:g} now, try {s['lr'] / 10:g}), or check the priors' "
                    "scales and the data's units (standardise).",
                )
            done = stop
            if every and (done % every == 0 or done == steps):
                checkpoint.save(done, {**state, "loss": losses})
            bar.update(len(got), loss=float(np.mean(got[-100:])))

    fitted = Fitted(guide, state["params"], unravel, losses, batch_size, mesh.size if mesh is not None else 1, clock)
    if kind == "laplace":
        fitted.guide = FlatGuide("laplace", guide.size)
        fitted.laplace = laplace_at(problem, fitted.params["loc"], unravel)
    return fitted


def laplace_at(problem: Problem, mode: jnp.ndarray, unravel: Callable) -> dict[str, jnp.ndarray]:
    """Eigen-decomposition of the full-data Hessian of the potential at `mode`.

    Eigenvalues that are not clearly positive (a MAP that has not converged, or
    a flat direction) are raised to a floor, so draws stay finite; how many is
    reported.
    """
    size = mode.size
    if size > LAPLACE_MAX_PARAMS:
        raise BnnError(
            f"The laplace guide needs the dense Hessian of all {size} parameters; the limit is {LAPLACE_MAX_PARAMS}.",
            WHERE,
            hint="Use guide = lowrank (or normal) for a model this size.",
        )

    def grad_at(z):
        return jax.grad(lambda z: problem.potential(unravel(z)))(z)

    @jax.jit
    def hessian(z):
        def hvp(v):
            return jax.jvp(grad_at, (z,), (v,))[1]

        return jax.lax.map(hvp, jnp.eye(size, dtype=z.dtype), batch_size=min(size, 256))

    h = np.asarray(hessian(mode), np.float64)
    vals, vecs = np.linalg.eigh(0.5 * (h + h.T))
    floor = max(1e-6 * float(np.abs(vals).max(initial=1.0)), 1e-6)
    clipped = int((vals < floor).sum())
    vals = np.maximum(vals, floor)
    return {"vecs": jnp.asarray(vecs, jnp.float32), "vals": jnp.asarray(vals, jnp.float32), "clipped": clipped}


def run_svi(
    problem: Problem, settings: InferSettings, progress: bool = True, checkpoint: Checkpoint = NO_CHECKPOINT
) -> RunResult:
    s = settings.values
    t0 = time.perf_counter()
    fitted = fit(problem, settings, progress, checkpoint)
    sampling = time.perf_counter() - t0
    t1 = time.perf_counter()
    n = 1 if s["guide"] == "map" else int(s["samples"])
    flat = fitted.draws(jax.random.fold_in(jax.random.PRNGKey(s["seed"]), KEY_DRAWS), n)
    sites = jax.lax.map(lambda z: problem.constrain(fitted.unravel(z)), flat, batch_size=min(n, 100))
    posterior = {k: np.asarray(v)[None] for k, v in sites.items()}
    lp = -jax.lax.map(lambda z: problem.potential(fitted.unravel(z)), flat, batch_size=min(n, 100))
    idata = draws_to_idata(problem, posterior, {"lp": np.asarray(lp)[None]})
    info = {
        "backend": "svi",
        "guide": s["guide"],
        "steps": int(s["steps"]),
        "final_loss": float(fitted.losses[-1]),
        "batch_size": fitted.batch_size if fitted.batch_size is not None else problem.n_rows,
        "devices": fitted.devices,
        "parameters": int(fitted.guide.size),
    }
    if fitted.laplace is not None:
        info["laplace_clipped_eigenvalues"] = int(fitted.laplace["clipped"])
    timings = {"sampling_s": sampling, "draws_s": time.perf_counter() - t1, "first_chunk_s": fitted.clock["first_chunk_s"]}
    if fitted.clock["later_steps"]:
        timings["step_us"] = 1e6 * fitted.clock["later_chunks_s"] / fitted.clock["later_steps"]
    return RunResult(idata, timings, info, {"loss": np.asarray(fitted.losses)})
