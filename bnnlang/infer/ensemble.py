"""Deep ensembles: K MAP fits from K random starts, each member's end point the start of one MCMC chain.

Why: a BNN posterior has many separated modes (permutations of hidden units, and genuinely different
functions); one chain, or chains started at one point, rarely leaves the first mode it finds. Independent
Adam fits land in different modes, so chains started there cover the posterior the way the ensemble does
and then explore around each mode (Sommer et al. 2024, "Connecting the dots"; MILE, ICLR 2025).

Why fan-in scaled starts (`start = "fan_in"`, the default): each dense layer's weights are drawn from
Normal(0, 1 / sqrt(fan_in)) (LeCun's initialisation, what deep ensembles and MILE's authors start from), its
biases start at 0, every other parameter (noise scales, hierarchical scales) at a prior draw. The members
start apart and every hidden unit switched on, whatever the weight prior: a prior draw is a good start under
a fan-in scaled prior, but under the Normal(0, 1) prior of MILE's UCI experiments it puts a 50-unit layer's
outputs at ~7x the data's scale, and 3 of 4 members of a two-headed network never recovered
(benchmarks/results/bde_vs_mile.md). `start = "prior"` keeps the prior draws. From near-zero weights a tanh
network's fit can stall in the "constant output, large noise" optimum, so neither start is near zero.

Why early stopping on held-out rows: the MAP objective of a flexible network keeps falling after the fit
stops generalising; the members are kept at the step with the best held-out log-likelihood (the same split
for every member), which puts the chains in modes that predict well. The training objective stays the
full-data MAP objective, estimated on the training rows with the likelihood scaled to all N rows.

Why `fold_in(key, member id)` per member: member m's start, minibatches and so its result depend only on
the key and its id, not on which other members run with it (several hosts each fitting a subset give the
same members as one host) nor on how the steps are cut into jitted chunks.
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

from ..errors import BnnError, Location
from .chains import chain_mesh, on_devices, pad_chains
from .optimize import adam_schedule
from .problem import Problem, base_distribution, decentered
from .progress import Progress

SPLIT_FOLD = 2**30  # fold_in(key, SPLIT_FOLD) draws the hold-out split (member ids stay far below it)
MIN_ROWS_FOR_HOLDOUT = 20


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


def fit_ensemble_from_settings(
    problem: Problem,
    ids: list[int],
    key: jax.Array,
    s: Any,
    label: str,
    progress: bool,
    batch_size: int | None = None,
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
    chunk: int = 250,
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
        raise BnnError(
            "Ensemble fits with minibatches need a model that can be cut into rows.",
            Location("<settings>", 0),
            hint="Set batch_size = 0 (full data).",
        )
    t_start = time.perf_counter()
    split = holdout_split(problem, key, holdout)
    n_train = problem.n_rows if split is None else len(split[0])
    if batch_size is not None and batch_size >= n_train:
        batch_size = None
    train_rows = None if split is None else jnp.asarray(split[0])
    train_batch = None if split is None else problem.take(train_rows)
    val_batch = None if split is None else problem.take(jnp.asarray(split[1]))
    n_val = 0 if split is None else len(split[1])

    shapes = jax.eval_shape(problem.prior_draw, jax.random.PRNGKey(0))  # traced, not run
    _, unravel = ravel_pytree(jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes))
    opt = adam_schedule(lr, steps)
    chunk = max(1, min(chunk, steps))

    def batch_at(mkey, t):
        """Step t's training rows: all training rows, or a minibatch drawn from them."""
        if batch_size is None:
            return train_batch
        idx = jax.random.randint(jax.random.fold_in(mkey, t + 1), (batch_size,), 0, n_train)
        return problem.take(idx if train_rows is None else train_rows[idx])

    def val_nll(z):
        return -log_likelihood(problem, unravel(z), val_batch) / n_val

    def first(mkey):
        draw = problem.prior_draw(jax.random.fold_in(mkey, 0))
        if start == "fan_in":
            draw = fan_in_start(problem, draw, jax.random.fold_in(mkey, 1))
        z = ravel_pytree(draw)[0]
        return {
            "z": z,
            "opt": opt.init(z),
            "best_z": z,
            "best_val": jnp.asarray(jnp.inf, z.dtype),
            "best_step": jnp.int32(0),
        }

    def member_chunk(state, mkey, t0):
        def step(st, i):
            t = t0 + i
            active = t < steps  # the last chunk's tail past `steps` leaves the state alone
            z = st["z"]
            loss, grad = jax.value_and_grad(lambda z: problem.potential(unravel(z), batch_at(mkey, t)))(z)
            st = dict(st)
            if split is not None:
                val = val_nll(z)
                better = active & (val < st["best_val"])
                st["best_z"] = jnp.where(better, z, st["best_z"])
                st["best_val"] = jnp.where(better, val, st["best_val"])
                st["best_step"] = jnp.where(better, t, st["best_step"])
            else:
                val = jnp.zeros((), z.dtype)
            updates, opt_state = opt.update(grad, st["opt"], z)
            new = {"z": optax.apply_updates(z, updates), "opt": opt_state}
            old = {"z": z, "opt": st["opt"]}
            st.update(jax.tree_util.tree_map(lambda a, b: jnp.where(active, a, b), new, old))
            return st, (loss, val)

        return jax.lax.scan(step, state, jnp.arange(chunk))

    mesh, n_dev, padded = chain_mesh(members)
    keys = np.asarray(jnp.stack([jax.random.fold_in(key, i) for i in ids]))
    keys = jnp.asarray(pad_chains(keys, padded))  # padding members repeat the first; their results are dropped
    state = on_devices(first, mesh, n_dev, (0,))(keys)
    run_chunk = on_devices(member_chunk, mesh, n_dev, (0, 0, None), donate=True)

    losses: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    done = 0
    t_chunks, first_chunk_s = time.perf_counter(), None
    while done < steps:
        state, (loss, val) = run_chunk(state, keys, jnp.int32(done))
        n = min(chunk, steps - done)
        loss = np.asarray(loss)[:members, :n]
        if first_chunk_s is None:  # holds the compilation
            first_chunk_s = time.perf_counter() - t_chunks
        losses.append(loss)
        vals.append(np.asarray(val)[:members, :n])
        bad = ~np.isfinite(loss)
        if bad.any():
            raise diverged(ids, bad, done, steps, lr)
        done += n
        if progress is not None:
            stats = {"loss": float(np.mean(loss[:, -1]))}
            if split is not None:
                stats["val_nll"] = float(np.mean(np.asarray(state["best_val"])[:members]))
            progress.update(n, **stats)
        if split is not None and np.all(done - 1 - np.asarray(state["best_step"])[:members] >= patience):
            break

    if split is not None:
        positions = np.asarray(state["best_z"])[:members]
        best_step = np.asarray(state["best_step"])[:members].astype(np.int64)
        best_val = np.asarray(state["best_val"])[:members]
    else:
        positions = np.asarray(state["z"])[:members]
        best_step = np.full(members, done, np.int64)
        best_val = None
    info = {
        "members": members,
        "member_ids": ids,
        "steps": steps,
        "steps_run": done,
        "holdout_rows": n_val,
        "batch_size": batch_size if batch_size is not None else (n_train or None),
        "lr": lr,
        "start": start,
        "seconds": time.perf_counter() - t_start,
        # compile-free cost of one step for all members, from the chunks after the first (None: one chunk)
        "step_s": (time.perf_counter() - t_chunks - first_chunk_s) / (done - chunk) if done > chunk else None,
        "best_val_nll": None if best_val is None else [float(v) for v in best_val],
    }
    return Ensemble(
        positions=positions,
        unravel=unravel,
        train_loss=np.concatenate(losses, axis=1),
        val_nll=None if split is None else np.concatenate(vals, axis=1),
        best_step=best_step,
        steps_run=done,
        info=info,
    )


def fan_in_start(problem: Problem, draw: dict[str, jnp.ndarray], key: jax.Array) -> dict[str, jnp.ndarray]:
    """Dense layers' weights ~ Normal(0, 1 / sqrt(fan_in)) and biases 0; other sites keep the prior draw.

    A non-centred weight is stored as its standard draw z (weight = loc + scale * z); z is set so the
    weight is the fan-in start, at the scale the prior draw of its hyperparameters gives (a horseshoe's
    scales are often tiny, and z alone would leave the weights near zero).
    """
    out = dict(draw)
    located = None
    sites = {decentered(site): site for site in problem.noncentered}
    for i, name in enumerate(sorted(draw)):
        site = sites.get(name, name)
        dims = problem.site_dims.get(site, [])
        layer = site.rsplit(".", 1)[0]
        if site.endswith(".weight") and dims == [f"{layer}.in", f"{layer}.out"] and draw[name].ndim == 2:
            fan_in = draw[name].shape[0]
            noise = jax.random.normal(jax.random.fold_in(key, i), draw[name].shape, draw[name].dtype)
            target = noise / math.sqrt(fan_in)
        elif site.endswith(".bias") and dims == [f"{layer}.out"]:
            target = jnp.zeros_like(draw[name])
        else:
            continue
        if site != name:
            located = located if located is not None else _loc_scale(problem, draw)
            loc, scale = located[site]
            target = (target - loc) / scale
        out[name] = target
    return out


def _loc_scale(problem: Problem, draw: dict[str, jnp.ndarray]) -> dict[str, tuple[jnp.ndarray, jnp.ndarray]]:
    """Each non-centred site's loc and scale at the hyperparameters in `draw` (unconstrained)."""
    values = problem.constrain(draw)
    tr = handlers.trace(handlers.substitute(problem.plain_model, data=values)).get_trace(**problem.data)
    out = {}
    for site in problem.noncentered:
        if decentered(site) not in draw:  # held fixed (conditioned): not sampled, nothing to start
            continue
        fn = base_distribution(tr[site]["fn"])
        shape = jnp.shape(draw[decentered(site)])
        out[site] = (jnp.broadcast_to(fn.loc, shape), jnp.broadcast_to(fn.scale, shape))
    return out


def diverged(ids: list[int], bad: np.ndarray, offset: int, steps: int, lr: float) -> BnnError:
    """The error for the first member (in run order) whose training loss became NaN or infinite."""
    m = int(np.argmax(bad.any(axis=1)))
    t = offset + int(np.argmax(bad[m]))
    return BnnError(
        f"Ensemble member {ids[m]} diverged: its training loss became infinite or NaN at step {t + 1} of {steps}.",
        Location("<inference>", 0),
        hint=f"Lower the learning rate (now {lr:g}; try {lr / 10:g}), or check the priors' scales and the data's "
        "units (standardise).",
    )
