"""Where chains start, and point estimates: MAP fits and deep ensembles, all Adam on the potential.

Every backend that needs a start or a point estimate comes here: deterministic layers' MAP (`map_fit`), SVI's
warm start (`find_map` with the data counted several times), SG-HMC's `init = map` (`best_of_restarts`), and
the deep ensemble that starts NUTS (`init = ensemble`), SG-HMC and MILE (`fit_ensemble`). The reasoning they
share, once:

- A BNN's plain MAP from a small start is often the network switched off: all weights at zero is a local
  minimum (the likelihood moves only at higher order there while the prior pulls back at first order), and a
  fit from near-zero weights can stall in the "constant output, large noise" optimum. So starts are never
  near zero (prior draws, or fan-in scaled weights), and a tempered fit that counts the data several times
  (`data_weight`) escapes the switched-off network before the plain MAP settles in a good mode.
- A BNN posterior has many separated modes (permutations of hidden units, and genuinely different
  functions); one chain, or chains started at one point, rarely leaves the first mode it finds. Independent
  Adam fits land in different modes, so chains started there cover the posterior the way the ensemble does and
  then explore around each mode (Sommer et al. 2024, "Connecting the dots"; MILE, ICLR 2025). Restarts
  (`best_of_restarts`) catch the fits that stall.
- Fan-in scaled starts (`start = "fan_in"`, the ensemble's default): each dense layer's weights are drawn from
  Normal(0, 1 / sqrt(fan_in)) (LeCun's initialisation, what deep ensembles and MILE's authors start from),
  its biases start at 0, every other parameter at a prior draw. The members start apart and every hidden unit
  switched on, whatever the weight prior: under the Normal(0, 1) prior of MILE's UCI experiments a prior draw
  puts a 50-unit layer's outputs at ~7x the data's scale, and 3 of 4 members of a two-headed network never
  recovered (benchmarks/results/bde_vs_mile.md). `start = "prior"` keeps the prior draws.
- Early stopping on held-out rows: the MAP objective of a flexible network keeps falling after the fit stops
  generalising; members are kept at the step with the best held-out log-likelihood (the same split for every
  member), which puts the chains in modes that predict well. The training objective stays the full-data MAP
  objective, estimated on the training rows with the likelihood scaled to all N rows.
- `fold_in(key, member id)` per member: member m's start, minibatches and so its result depend only on the key
  and its id, not on which other members run with it (hosts each fitting a subset give the same members as
  one host) nor on how the steps are cut into chunks.

All optimisation is Adam with a cosine decay to 1% of the learning rate (`optimizer`): large early steps, a
settled end point.
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
from numpyro import handlers
from numpyro.infer.util import unconstrain_fn

from . import messages
from .devices.chains import chain_mesh, on_devices, pad_chains
from .driver import masked_scan, run_chunks
from .problem import Problem, decentered
from .progress import Progress

SPLIT_FOLD = 2**30  # fold_in(key, SPLIT_FOLD) draws the hold-out split (member ids stay far below it)
MIN_ROWS_FOR_HOLDOUT = 20
TEMPERED = 10.0  # map_fit's first half counts the data this many times
ENSEMBLE_CHUNK = 250  # member steps per compiled call (early stopping is checked between calls)


def optimizer(name: str, lr: float, schedule: str, steps: int) -> optax.GradientTransformation:
    """An optax optimiser with a learning-rate schedule; every start uses ("adam", lr, "cosine", steps)."""
    if schedule == "constant":
        sched = optax.constant_schedule(lr)
    elif schedule == "cosine":
        sched = optax.cosine_decay_schedule(lr, max(steps, 1), alpha=0.01)
    else:  # exponential
        sched = optax.exponential_decay(lr, transition_steps=max(steps, 1), decay_rate=0.01)
    return {
        "adam": lambda: optax.adam(sched),
        "adamw": lambda: optax.adamw(sched, weight_decay=1e-4),
        "sgd": lambda: optax.sgd(sched),
        "rmsprop": lambda: optax.rmsprop(sched),
    }[name]()


def adam(lr: float, steps: int) -> optax.GradientTransformation:
    return optimizer("adam", lr, "cosine", steps)


# -- MAP fits ----------------------------------------------------------------------------------------------


def find_map(
    problem: Problem,
    key: jax.Array,
    steps: int,
    lr: float = 0.01,
    batch_size: int | None = None,
    radius: float | None = None,
    init: dict | None = None,
    data_weight: float = 1.0,
) -> tuple[dict[str, jnp.ndarray], jnp.ndarray]:
    """Unconstrained MAP position and the loss (potential) per step, from `init`, else a prior draw (or uniform
    in (-radius, radius)); step t's minibatch comes from `fold_in(key, t + 1)`."""
    params = init if init is not None else problem.init(jax.random.fold_in(key, 0), radius)
    if steps == 0:
        return params, jnp.zeros((0,))
    opt = adam(lr, steps)
    n = problem.n_rows

    def loss(p, batch):
        return problem.potential(p, batch, data_weight)

    def step(carry, t):
        p, s = carry
        batch = None
        if batch_size is not None:
            idx = jax.random.randint(jax.random.fold_in(key, t + 1), (batch_size,), 0, n)
            batch = problem.take(idx)
        value, grad = jax.value_and_grad(loss)(p, batch)
        updates, s = opt.update(grad, s, p)
        return (optax.apply_updates(p, updates), s), value

    @jax.jit
    def run(p):
        (p, _), losses = jax.lax.scan(step, (p, opt.init(p)), jnp.arange(steps))
        return p, losses

    params, losses = run(params)
    final = float(losses[-1])
    if not math.isfinite(final) or not all(bool(jnp.all(jnp.isfinite(v))) for v in params.values()):
        bad = int(jnp.argmax(~jnp.isfinite(losses))) if not bool(jnp.all(jnp.isfinite(losses))) else steps - 1
        raise messages.map_diverged(final, bad + 1, steps)
    return params, losses


def map_fit(problem: Problem, key: jax.Array, steps: int, lr: float = 0.01, batch_size: int | None = None):
    """A MAP fit that escapes the switched-off network: half the steps tempered (data counted TEMPERED times),
    then plain."""
    first = steps // 2
    params, l1 = find_map(problem, key, first, lr, batch_size, data_weight=TEMPERED)
    params, l2 = find_map(problem, jax.random.fold_in(key, 1), steps - first, lr, batch_size, init=params)
    return params, jnp.concatenate([l1, l2])


def best_of_restarts(
    problem: Problem, chain_keys: jax.Array, potential: Callable, dim: int, steps: int, restarts: int, lr: float, layout
) -> np.ndarray:
    """Each chain's start: the best (lowest full-data potential) of `restarts` Adam MAP fits, each from its own
    prior draw; `potential(z, key)` is the (minibatch) potential of a flat position. Per-chain fits from
    different draws, not one shared fit: chains that start in different modes spread the predictions the way
    independent NUTS chains do."""
    mesh, n_dev = layout
    flat0, unravel = ravel_pytree(problem.init(jax.random.PRNGKey(0), 0.5))
    dtype = flat0.dtype
    names = list(unravel(flat0))
    opt = adam(lr, steps)

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
        raise messages.restarts_diverged(int(np.argmax(~np.isfinite(loss))))
    return z


# -- deep ensembles ----------------------------------------------------------------------------------------


@dataclass
class Ensemble:
    positions: np.ndarray  # [K, D] flat unconstrained positions, one row per member (the early-stopped best)
    unravel: Callable  # flat [D] -> dict of unconstrained sites (ravel_pytree's)
    train_loss: np.ndarray  # [K, T] training potential at each step actually run (before that step's update)
    val_nll: np.ndarray | None  # [K, T] mean held-out negative log-likelihood per row, same points (None: no holdout)
    best_step: np.ndarray  # [K] updates applied to the kept params: val_nll[m, best_step[m]] scores them
    steps_run: int
    info: dict[str, Any]

    def params(self, m: int) -> dict[str, jnp.ndarray]:
        """Member m's kept position as a dict of unconstrained sites."""
        return self.unravel(jnp.asarray(self.positions[m]))


def log_likelihood(problem: Problem, params: dict[str, jnp.ndarray], batch: dict[str, Any] | None = None):
    """Log-likelihood of the observed data (the rows in `batch`, else all) at unconstrained `params`, unscaled.

    Unlike `potential`, no prior and no N / batch scale: a per-row score for held-out rows.
    """
    constrained = problem.constrain(params)
    tr = handlers.trace(handlers.substitute(problem.model, data=constrained)).get_trace(**problem.kwargs_for(batch))
    terms = [
        site["fn"].log_prob(site["value"]).sum()
        for name, site in tr.items()
        if site["type"] == "sample" and name in problem.observed
    ]
    return sum(terms, jnp.zeros(()))


def holdout_split(problem: Problem, key: jax.Array, holdout: float) -> tuple[np.ndarray, np.ndarray] | None:
    """(training rows, held-out rows) from one permutation, the last ceil(holdout * N) held out; None: no split."""
    if holdout <= 0 or problem.rows is None or problem.n_rows < MIN_ROWS_FOR_HOLDOUT:
        return None
    n = problem.n_rows
    n_val = min(math.ceil(holdout * n), n - 1)
    # NumPy, seeded by the key's bits: the same rows for the same key, and no JAX program to compile for it
    seed = np.random.SeedSequence([*np.asarray(key).ravel().tolist(), SPLIT_FOLD])  # a raw uint32 PRNGKey
    perm = np.random.default_rng(seed).permutation(n)
    return perm[: n - n_val], perm[n - n_val :]


def ensemble_from_settings(
    problem: Problem, ids: list[int], key: jax.Array, s: Any, label: str, progress: bool, batch_size: int | None = None
) -> Ensemble:
    """The ensemble of `init = ensemble` (NUTS, SG-HMC) and of MILE: one member per chain id in `ids`, with
    the backend's settings `s` (map_steps, lr, holdout, patience, start) and a progress bar named `label`."""
    with Progress(s["map_steps"], label, progress) as bar:
        return fit_ensemble(
            problem,
            len(ids),
            key,
            s["map_steps"],
            lr=s["lr"],
            batch_size=batch_size,
            holdout=s["holdout"],
            patience=s["patience"],
            member_ids=ids,
            start=s["start"],
            progress=bar,
        )


def fit_ensemble(
    problem: Problem,
    members: int,
    key: jax.Array,
    steps: int,
    lr: float = 0.01,
    batch_size: int | None = None,
    holdout: float = 0.1,
    patience: int = 1000,
    chunk: int = ENSEMBLE_CHUNK,
    member_ids: list[int] | None = None,
    progress: Progress | None = None,
    start: str = "fan_in",
) -> Ensemble:
    """Fit `members` MAP estimates with Adam from `start`s, early-stopped on held-out rows when there are any.

    Member m (global id `member_ids[m]`, default m) uses `fold_in(key, id)`: its start from `fold_in(., 0)`,
    step t's minibatch from `fold_in(., t + 1)`. Without a hold-out split every step runs and the final
    params are kept.
    """
    ids = list(member_ids) if member_ids is not None else list(range(members))
    if len(ids) != members:
        raise ValueError(f"member_ids has {len(ids)} ids for {members} members")
    if steps < 1 or members < 1:
        raise ValueError("fit_ensemble needs steps >= 1 and members >= 1")
    if batch_size is not None and problem.rows is None:
        raise messages.ensemble_cannot_minibatch()
    t_start = time.perf_counter()
    rows = _TrainingRows.of(problem, key, holdout, batch_size)
    shapes = jax.eval_shape(problem.prior_draw, jax.random.PRNGKey(0))  # traced, not run
    _, unravel = ravel_pytree(jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes))
    opt = adam(lr, steps)
    chunk = max(1, min(chunk, steps))
    first, member_step = _member_fns(problem, rows, unravel, opt, start)

    def member_chunk(state, mkey, t0):
        return masked_scan(lambda st, t: member_step(st, mkey, t), state, t0, steps, chunk)

    mesh, n_dev, padded = chain_mesh(members)
    keys = np.asarray(jnp.stack([jax.random.fold_in(key, i) for i in ids]))
    keys = jnp.asarray(pad_chains(keys, padded))  # padding members repeat the first; their results are dropped
    state = on_devices(first, mesh, n_dev, (0,))(keys)
    run_chunk = on_devices(member_chunk, mesh, n_dev, (0, 0, None), donate=True)
    losses: list[np.ndarray] = []
    vals: list[np.ndarray] = []

    def after(state, out, begin, stop):
        loss = np.asarray(out[0])[:members, : stop - begin]
        losses.append(loss)
        vals.append(np.asarray(out[1])[:members, : stop - begin])
        bad = ~np.isfinite(loss)
        if bad.any():
            m = int(np.argmax(bad.any(axis=1)))
            raise messages.member_diverged(ids[m], begin + int(np.argmax(bad[m])) + 1, steps, lr)
        stats = {"loss": float(np.mean(loss[:, -1]))}
        if rows.split is not None:
            stats["val_nll"] = float(np.mean(np.asarray(state["best_val"])[:members]))
        return stats

    def finished(state, done):
        held_out = rows.split is not None
        return held_out and bool(np.all(done - 1 - np.asarray(state["best_step"])[:members] >= patience))

    state, clock, done = run_chunks(
        lambda st, a, b: run_chunk(st, keys, jnp.int32(a)),
        state,
        steps,
        chunk,
        progress if progress is not None else Progress(steps, "", enabled=False),
        after=after,
        finished=finished,
    )
    held_out = rows.split is not None
    best = "best_z" if held_out else "z"
    best_step = np.asarray(state["best_step"])[:members] if held_out else np.full(members, done)
    best_val = np.asarray(state["best_val"])[:members] if held_out else None
    info = {
        "members": members,
        "member_ids": ids,
        "steps": steps,
        "steps_run": done,
        "holdout_rows": rows.n_val,
        "batch_size": rows.batch_size if rows.batch_size is not None else (rows.n_train or None),
        "lr": lr,
        "start": start,
        "seconds": time.perf_counter() - t_start,
        "step_s": clock.per_step(),  # one step of all members, compile-free (None: one chunk)
        "best_val_nll": None if best_val is None else [float(v) for v in best_val],
    }
    return Ensemble(
        positions=np.asarray(state[best])[:members],
        unravel=unravel,
        train_loss=np.concatenate(losses, axis=1),
        val_nll=np.concatenate(vals, axis=1) if held_out else None,
        best_step=best_step.astype(np.int64),
        steps_run=done,
        info=info,
    )


@dataclass
class _TrainingRows:
    """The rows members train on (all, or all but a held-out split) and how each step draws from them."""

    split: tuple[np.ndarray, np.ndarray] | None
    n_train: int
    batch_size: int | None  # None: every step sees all training rows
    train_rows: jax.Array | None
    train_batch: dict[str, Any] | None
    val_batch: dict[str, Any] | None
    n_val: int

    @classmethod
    def of(cls, problem: Problem, key: jax.Array, holdout: float, batch_size: int | None) -> _TrainingRows:
        split = holdout_split(problem, key, holdout)
        n_train = problem.n_rows if split is None else len(split[0])
        if batch_size is not None and batch_size >= n_train:
            batch_size = None
        if split is None:
            return cls(None, n_train, batch_size, None, None, None, 0)
        train_rows = jnp.asarray(split[0])
        val_batch = problem.take(jnp.asarray(split[1]))
        return cls(split, n_train, batch_size, train_rows, problem.take(train_rows), val_batch, len(split[1]))

    def at(self, problem: Problem, mkey: jax.Array, t) -> dict[str, Any] | None:
        """Step t's training rows: all training rows, or a minibatch drawn from them with fold_in(mkey, t + 1)."""
        if self.batch_size is None:
            return self.train_batch
        idx = jax.random.randint(jax.random.fold_in(mkey, t + 1), (self.batch_size,), 0, self.n_train)
        return problem.take(idx if self.train_rows is None else self.train_rows[idx])


def _member_fns(problem: Problem, rows: _TrainingRows, unravel: Callable, opt, start: str):
    """(first(key) -> state, step(state, key, t) -> (state, (loss, held-out nll))) of one member."""

    def first(mkey):
        draw = problem.prior_draw(jax.random.fold_in(mkey, 0))
        if start == "fan_in":
            draw = fan_in_start(problem, draw, jax.random.fold_in(mkey, 1))
        z = ravel_pytree(draw)[0]
        inf = jnp.asarray(jnp.inf, z.dtype)
        return {"z": z, "opt": opt.init(z), "best_z": z, "best_val": inf, "best_step": jnp.int32(0)}

    def step(st, mkey, t):
        z = st["z"]
        loss, grad = jax.value_and_grad(lambda z: problem.potential(unravel(z), rows.at(problem, mkey, t)))(z)
        updates, opt_state = opt.update(grad, st["opt"], z)
        new = {**st, "z": optax.apply_updates(z, updates), "opt": opt_state}
        val = jnp.zeros((), z.dtype)
        if rows.split is not None:
            val = -log_likelihood(problem, unravel(z), rows.val_batch) / rows.n_val
            better = val < st["best_val"]
            new["best_z"] = jnp.where(better, z, st["best_z"])
            new["best_val"] = jnp.where(better, val, st["best_val"])
            new["best_step"] = jnp.where(better, t, st["best_step"])
        return new, (loss, val)

    return first, step


def fan_in_start(problem: Problem, draw: dict[str, jnp.ndarray], key: jax.Array) -> dict[str, jnp.ndarray]:
    """Layers' weights ~ Normal(0, 1 / sqrt(fan_in)), biases 0 and normalisation scales 1 (what deep ensembles
    and MILE's authors start from); other sites keep the prior draw.

    A non-centred weight is stored as its standard draw z (weight = loc + scale * z); z is set so the
    weight is the fan-in start, at the scale the prior draw of its hyperparameters gives (a horseshoe's
    scales are often tiny, and z alone would leave the weights near zero).
    """
    out = dict(draw)
    located = None
    sites = {decentered(site): site for site in problem.noncentered}
    for i, name in enumerate(sorted(draw)):
        site = sites.get(name, name)
        role, fan_in = problem.layer_sites.get(site, ("", 0))
        if role == "weight":
            fan = fan_in if isinstance(fan_in, int) else draw[name].shape[0]  # a dense layer's data-fixed width
            noise = jax.random.normal(jax.random.fold_in(key, i), draw[name].shape, draw[name].dtype)
            target = noise / math.sqrt(fan)
        elif role in _CONSTANT_STARTS:
            target = jnp.full_like(draw[name], _CONSTANT_STARTS[role])
        else:
            continue
        if site != name:
            located = located if located is not None else _loc_scale(problem, draw)
            loc, scale = located[site]
            target = (target - loc) / scale
        out[name] = target
    return out


_CONSTANT_STARTS = {"bias": 0.0, "scale": 1.0}


def _loc_scale(problem: Problem, draw: dict[str, jnp.ndarray]) -> dict[str, tuple[jnp.ndarray, jnp.ndarray]]:
    """Each non-centred site's loc and scale at the hyperparameters in `draw` (unconstrained)."""
    return problem.loc_scale(problem.constrain(draw))
