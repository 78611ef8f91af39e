"""Stochastic variational inference: a guide fitted by a jitted optax loop, then draws from it.

Guides live on the raveled unconstrained parameter vector (one flat array, as
AutoDiagonalNormal does) rather than one variational site per model site: the
step is then a few fused array operations plus one gradient of the potential,
which keeps it level with a hand-written mean-field step (AutoNormal is slower:
benchmarks/results/design_notes.md#svi-flat-guide). The ELBO's entropy term is exact
(closed form), so only the expected potential is estimated by Monte Carlo.

guide = lastlayer  hidden layers at the MAP (the run holds them fixed), laplace on the rest (Daxberger et al. 2021)
guide = normal   mean-field Gaussian (loc, softplus scale)
guide = lowrank  Gaussian with covariance F F' + diag(s)^2, F of `rank` columns
guide = map      a point (delta guide): the loop is a MAP fit
guide = laplace  the MAP, then a Gaussian with the inverse Hessian of the potential there

The loop runs through the chunked driver (`bnnlang.infer.driver`); step t takes
its minibatch and noise from `fold_in(key, t)`, so how the loop is cut into
chunks (progress updates, checkpoints, a resume) never changes the result.
Defaults that keep a BNN from collapsing to its prior: a MAP warm start for
the mean of the normal and low-rank guides, a small initial scale, and a
cosine-decayed learning rate (see the svi entry of `bnnlang.check.backends`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ...check.settings import InferSettings
from .. import messages
from ..checkpoint import NO_CHECKPOINT, Checkpoint
from ..driver import Clock, masked_scan, run_chunks
from ..problem import Problem
from ..progress import Progress
from ..result import RunResult
from ..rows import resolve_batch_size
from ..starts import optimizer

GUIDES = ("lastlayer", "normal", "lowrank", "map", "laplace")
AUTO_FULL_ROWS = 4096  # up to this many rows a step uses all the data; above, minibatches of AUTO_BATCH rows
AUTO_BATCH = 1024
LAPLACE_MAX_PARAMS = 20_000  # a dense Hessian of 20k parameters is 1.6 GB in float32

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


def check_settings(problem: Problem, s: dict[str, Any]) -> int | None:
    """Refuse settings the settings table cannot (guide names are checked there); returns the batch size."""
    if s["guide"] not in GUIDES:  # the table refuses these already; this guards direct callers
        raise messages.svi_bad_guide(s["guide"], GUIDES)
    if not s["lr"] > 0:
        raise messages.svi_bad_lr(s["lr"])
    auto = AUTO_BATCH if problem.n_rows > AUTO_FULL_ROWS else None
    return resolve_batch_size(problem.row_plan, s["batch_size"], "svi", auto=auto)


@dataclass
class Fitted:
    """A fitted guide: the family, its parameters, and how flat vectors map back to sites."""

    guide: FlatGuide
    params: dict[str, jnp.ndarray]
    unravel: Callable[[jnp.ndarray], dict[str, jnp.ndarray]]
    losses: np.ndarray
    batch_size: int | None
    devices: int
    clock: Clock  # the first chunk (with compilation) apart from the later ones
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


@dataclass
class Loop:
    """One optimisation: a guide, an optax optimiser, how rows are cut, and the loss it minimises."""

    problem: Problem
    guide: FlatGuide
    unravel: Callable
    opt: optax.GradientTransformation
    key: jax.Array
    steps: int
    batch_size: int | None
    particles: int = 1
    data_weight: float = 1.0
    label: str = "svi"

    def run(
        self,
        state: dict[str, Any],
        progress: bool,
        checkpoint: Checkpoint = NO_CHECKPOINT,
        done: int = 0,
        losses: np.ndarray | None = None,
    ) -> tuple[dict[str, Any], np.ndarray, Clock, int]:
        """Steps `done`..`steps`: (state, loss per step, clock, devices used)."""
        problem, steps = self.problem, self.steps
        losses = np.full((steps,), np.nan, np.float32) if losses is None else losses
        # The data travel as arguments (not constants baked into the program), sharded over rows when possible.
        rows_per_step = self.batch_size if self.batch_size is not None else (problem.n_rows if problem.rows else None)
        mesh = _mesh(rows_per_step)
        data = problem.batch_data() if problem.rows else {}
        if mesh is not None:
            spec = PartitionSpec() if self.batch_size is not None else PartitionSpec("rows")
            data = jax.device_put(data, NamedSharding(mesh, spec))
            state = jax.device_put(state, NamedSharding(mesh, PartitionSpec()))
        step = self._step_fn(mesh)
        chunk = max(1, min(steps, 2000, max(50, math.ceil(steps / 50))))  # >= 50 steps per dispatch

        @partial(jax.jit, donate_argnums=(0,))
        def run_chunk(state, data, start, stop):
            return masked_scan(lambda st, t: step(st, t, data), state, start, stop, chunk)

        def after(state, chunk_losses, begin, stop):
            got = np.asarray(chunk_losses)[: stop - begin]
            losses[begin:stop] = got
            bad = np.flatnonzero(~np.isfinite(got))
            if bad.size:
                raise messages.svi_diverged(self.label, got[bad[0]], begin + int(bad[0]) + 1, self.steps)
            return {"loss": float(np.mean(got[-100:]))}

        with Progress(steps, self.label, enabled=progress, initial=done) as bar:
            state, clock, _ = run_chunks(
                lambda st, a, b: run_chunk(st, data, jnp.int32(a), jnp.int32(b)),
                state,
                steps,
                chunk,
                bar,
                start=done,
                after=after,
                checkpoint=checkpoint,
                save=lambda st: {**st, "loss": losses},
            )
        return state, losses, clock, mesh.size if mesh is not None else 1

    def _step_fn(self, mesh: Mesh | None) -> Callable:
        problem, guide, unravel, particles = self.problem, self.guide, self.unravel, self.particles
        batch_size, weight = self.batch_size, self.data_weight

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
                return problem.potential(unravel(guide.sample(params, k)), batch, weight, jax.random.fold_in(k, 2))

            if guide.kind == "map":
                expected = one(key)
            elif particles == 1:
                expected = one(jax.random.fold_in(key, 1))
            else:
                expected = jnp.mean(jax.vmap(one)(jax.random.split(jax.random.fold_in(key, 1), particles)))
            return expected - guide.entropy(params)

        def step(state, t, data):
            key = jax.random.fold_in(self.key, t)
            batch = cut(data, jax.random.fold_in(key, 0))
            loss, grads = jax.value_and_grad(loss_fn)(state["params"], key, batch)
            updates, opt_state = self.opt.update(grads, state["opt"], state["params"])
            return {"params": optax.apply_updates(state["params"], updates), "opt": opt_state}, loss

        return step


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
    # lastlayer: the run holds the hidden layers at their MAP (`Backend.fixes_hidden_layers`); Laplace on the rest
    kind = "laplace" if s["guide"] == "lastlayer" else s["guide"]
    start_params = problem.init(jax.random.fold_in(base, KEY_INIT), s["init_radius"])
    flat0, unravel = ravel_pytree(start_params)
    guide = FlatGuide("map" if kind == "laplace" else kind, flat0.size, min(int(s["rank"]), flat0.size))
    opt = optimizer(s["optimizer"], float(s["lr"]), s["schedule"], steps)
    main = Loop(
        problem, guide, unravel, opt, jax.random.fold_in(base, KEY_LOOP), steps, batch_size, int(s["particles"])
    )

    def fresh_state(loc: jnp.ndarray) -> dict[str, Any]:
        params = guide.init(loc, float(s["init_scale"]), jax.random.fold_in(base, KEY_INIT + 1))
        return {"params": params, "opt": opt.init(params)}

    template = {**fresh_state(flat0), "loss": np.zeros((steps,), np.float32)}
    loaded = checkpoint.load(template) if checkpoint.enabled else None
    if loaded is not None:
        done, saved = loaded
        losses = np.array(saved.pop("loss"))
        state = saved
    else:
        done, losses = 0, None
        loc = flat0
        if s["init"] == "map" and s["map_steps"] > 0:
            loc = warm_start(problem, s, flat0, unravel, batch_size, jax.random.fold_in(base, KEY_INIT + 2), progress)
        state = fresh_state(loc)
    state, losses, clock, devices = main.run(state, progress, checkpoint, done, losses)
    fitted = Fitted(guide, state["params"], unravel, losses, batch_size, devices, clock)
    if kind == "laplace":
        fitted.guide = FlatGuide("laplace", guide.size)
        fitted.laplace = laplace_at(problem, fitted.params["loc"], unravel)
    return fitted


def warm_start(
    problem: Problem,
    s: dict[str, Any],
    flat0: jnp.ndarray,
    unravel: Callable,
    batch_size: int | None,
    key: jax.Array,
    progress: bool,
) -> jnp.ndarray:
    """Where the guide's mean starts: the MAP with the data counted `map_data_weight` times, fitted by this
    module's own loop with a point guide (why tempered: `bnnlang.infer.starts`); a guide started at the plain
    MAP, often the network switched off, stays collapsed."""
    steps = int(s["map_steps"])
    opt = optimizer("adam", float(s["lr"]), "cosine", steps)
    guide = FlatGuide("map", flat0.size)
    loop = Loop(
        problem,
        guide,
        unravel,
        opt,
        key,
        steps,
        batch_size,
        data_weight=float(s["map_data_weight"]),
        label="svi (MAP start)",
    )
    params = guide.init(flat0, 1.0, key)
    state, _, _, _ = loop.run({"params": params, "opt": opt.init(params)}, progress)
    return state["params"]["loc"]


def laplace_at(problem: Problem, mode: jnp.ndarray, unravel: Callable) -> dict[str, Any]:
    """Precision at `mode`: the prior's Hessian plus the positive part of the likelihood's, eigen-decomposed.

    A BNN's likelihood Hessian at a MAP found by a finite optimisation has
    some negative or near-zero curvature; inverting it as is gives draws that
    leave the data far behind. Dropping the likelihood's negative curvature
    (as a Gauss-Newton matrix would) keeps every direction at most as wide as
    the prior, and changes nothing where the likelihood is log-concave (exact
    for Bayesian linear regression). Models that cannot be split (no row
    plate) use the whole Hessian; eigenvalues below a floor are raised to it
    and counted.
    """
    size = mode.size
    if size > LAPLACE_MAX_PARAMS:
        raise messages.laplace_too_large(size, LAPLACE_MAX_PARAMS)

    def hessian(weight: float) -> np.ndarray:
        def grad_at(z):
            return jax.grad(lambda z: problem.potential(unravel(z), None, weight))(z)

        @jax.jit
        def dense(z):
            return jax.lax.map(lambda v: jax.jvp(grad_at, (z,), (v,))[1], jnp.eye(size, dtype=z.dtype), batch_size=256)

        h = np.asarray(dense(mode), np.float64)
        return 0.5 * (h + h.T)

    full = hessian(1.0)
    negative = 0
    if problem.rows:
        lik = hessian(2.0) - full  # the data counted twice, less once: the likelihood's Hessian
        prior = full - lik
        lik_vals, lik_vecs = np.linalg.eigh(lik)
        negative = int((lik_vals < 0).sum())
        full = prior + (lik_vecs * np.abs(lik_vals)) @ lik_vecs.T
    vals, vecs = np.linalg.eigh(full)
    floor = max(1e-6 * float(np.abs(vals).max(initial=1.0)), 1e-6)
    clipped = int((vals < floor).sum())
    vals = np.maximum(vals, floor)
    return {
        "vecs": jnp.asarray(vecs, jnp.float32),
        "vals": jnp.asarray(vals, jnp.float32),
        "clipped": clipped,
        "negative_curvature": negative,
    }


def draws_per_pass(draws: int, rows: int, parameters: int) -> int:
    """How many guide draws one full-data pass evaluates at once: up to 100, fewer for big data and networks.

    A draw's pass holds about rows x sqrt(parameters) activations; 100 draws at once asked for 40 GB at
    N = 1e6 and width 500 (benchmarks/results/scaling.md). Keep a pass near 2**26 floats (256 MB).
    """
    per_draw = max(1, rows * math.isqrt(max(1, parameters)))
    return max(1, min(draws, 100, 2**26 // per_draw))


def run(
    problem: Problem, settings: InferSettings, progress: bool = True, checkpoint: Checkpoint = NO_CHECKPOINT
) -> RunResult:
    s = settings.values
    t0 = time.perf_counter()
    fitted = fit(problem, settings, progress, checkpoint)
    sampling = time.perf_counter() - t0
    t1 = time.perf_counter()
    n = 1 if s["guide"] == "map" else int(s["samples"])
    flat = fitted.draws(jax.random.fold_in(jax.random.PRNGKey(s["seed"]), KEY_DRAWS), n)
    batch = draws_per_pass(n, problem.n_rows, int(fitted.guide.size))
    sites = jax.lax.map(lambda z: problem.constrain(fitted.unravel(z)), flat, batch_size=batch)
    posterior = {k: np.asarray(v)[None] for k, v in sites.items()}
    lp = -jax.lax.map(lambda z: problem.potential(fitted.unravel(z)), flat, batch_size=batch)
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
        info["laplace_negative_curvature_dropped"] = int(fitted.laplace["negative_curvature"])
    timings = {
        "sampling_s": sampling,
        "draws_s": time.perf_counter() - t1,
        "first_chunk_s": fitted.clock.first_s,
        "steps_run": fitted.clock.steps,  # fewer than `steps` after a resume
    }
    if fitted.clock.per_step() is not None:
        timings["step_us"] = 1e6 * fitted.clock.per_step()
    return RunResult(posterior, {"lp": np.asarray(lp)[None]}, timings, info, {"loss": np.asarray(fitted.losses)})
