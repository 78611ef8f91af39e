"""Warm starts: a run that starts from a previous run's posterior (`Model.run(data, init=previous)`).

A sequential update (the same model, a few rows more, or rows corrected) has a posterior close to the previous
one, so the new chains start where the previous ones ended, instead of at random or at a freshly fitted deep
ensemble, and need only a short warmup. What carries over, per backend:

- NUTS: chain c starts at the last draw of previous chain c mod C. Its diagonal inverse mass matrix starts at the
  variance of previous chain c mod C's draws on the unconstrained scale, per chain and not pooled: a BNN's chains
  sit in different modes, and a variance pooled over them measures the distance between the modes, not the width
  of the one the chain starts in (and NUTS adapts each chain's matrix on its own draws). Its step size starts at
  the one that chain adapted, when the previous run was a NUTS run; NUTS then adapts both during the warmup.
- MILE: member m starts at the last draw of previous chain m mod C, with no deep-ensemble fit; its MCLMC tuning
  starts from the previous member's tuned step size and L when the previous run was a MILE run.

The previous draws are stored constrained, as the model's own sites (`posterior.nc`); they are mapped onto this
program's unconstrained space (`Problem.unconstrain`: non-centred sites become their standard draws at each draw's
own hyperparameters), so a run sampled centred can start one sampled non-centred, and the previous backend may be
any backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from . import messages
from .kept import Kept, split_arguments
from .problem import Problem, WarmStart

MIN_DRAWS_FOR_VARIANCE = 10  # fewer previous draws per chain (e.g. a point estimate): the unit mass matrix
REGULARIZE = 5  # variance shrunk towards 1e-3 as NumPyro shrinks its own window estimates (weight n / (n + 5))
MAP_BATCH = 256  # draws mapped to the unconstrained scale per step (bounded memory on large posteriors)
KEPT = 8  # compiled helpers and site tables kept per process (a loop of updates traces them once per shape)
_kept: Kept[Any] = Kept(KEPT)


def program_key(problem: Problem) -> tuple | None:
    """What a kept helper must share with this problem: its program and data shapes (None: not kept, as for a
    model holding values of its own), like the NUTS backend's kept samplers."""
    arrays, _, static_key = split_arguments(problem.data)
    if not problem.program or problem.fixed or problem.keyed or static_key is None:
        return None
    shapes = tuple(sorted((k, tuple(v.shape), str(v.dtype)) for k, v in arrays.items()))
    return (problem.program, problem.noncentered, static_key, shapes, jax.config.jax_enable_x64)


def compiled(problem: Problem, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn(problem, *args)` jitted with the problem's data as arguments, and kept per program and data shapes, so a
    loop of updates on data of one shape traces it once."""
    arrays, static, _ = split_arguments(problem.data)
    key = program_key(problem)

    def make() -> Callable[..., Any]:
        return jax.jit(lambda data, *args: fn(replace(problem, data={**static, **data}), *args))

    jitted = _kept.get(None if key is None else (name, key), make)
    return lambda *args: jitted(arrays, *args)


def sampled_sites(problem: Problem) -> dict[str, tuple[int, ...]]:
    """The model's own sites this program samples, with their shapes, as ArviZ stores them (traced, not run)."""

    def sites(key: jax.Array) -> dict[str, jnp.ndarray]:
        return problem.public(problem.constrain(problem.prior_draw(key)))

    def make() -> dict[str, tuple[int, ...]]:
        shapes = jax.eval_shape(sites, jax.random.PRNGKey(0))
        return {name: tuple(s.shape) for name, s in shapes.items()}

    key = program_key(problem)
    return dict(_kept.get(None if key is None else ("sites", key), make))


def _unconstrain_all(problem: Problem, values: dict[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
    return jax.lax.map(problem.unconstrain, values, batch_size=MAP_BATCH)


def _potentials(problem: Problem, positions: dict[str, jnp.ndarray]) -> jnp.ndarray:
    return jax.vmap(problem.potential)(positions)


def unconstrained_draws(problem: Problem, warm: WarmStart) -> dict[str, np.ndarray]:
    """Every previous draw as a position of this program [chain, draw, ...]; refuses draws outside its support.

    `warm.draws` holds exactly the sites this program samples (`api.warm.check_same_sites` saw to it)."""
    names = sorted(warm.draws)
    chains, draws = warm.draws[names[0]].shape[:2]
    dtype = jnp.result_type(float)  # the run's precision (float64 under --x64), whatever the file stored
    flat = {k: jnp.asarray(warm.draws[k], dtype).reshape((chains * draws,) + warm.draws[k].shape[2:]) for k in names}
    z = compiled(problem, "unconstrain", _unconstrain_all)(flat)
    out = {k: np.asarray(v).reshape((chains, draws) + v.shape[1:]) for k, v in z.items()}
    for name, v in out.items():
        if not np.isfinite(v).all():
            raise messages.warm_start_outside_support(warm.source, name)
    return out


def last_draw(z: dict[str, np.ndarray], chain: int) -> dict[str, np.ndarray]:
    """Previous chain `chain`'s last position."""
    return {k: v[chain, -1] for k, v in z.items()}


def chain_variance(z: dict[str, np.ndarray], chain: int) -> np.ndarray:
    """The variance of previous chain `chain`'s draws per unconstrained coordinate, flat in `ravel_pytree`'s order
    (NumPyro's order for a mass matrix), shrunk a little towards 1e-3 as NumPyro shrinks its own estimates; the unit
    matrix when the chain has too few draws to estimate it (a point estimate)."""
    flat = flatten({k: v[chain] for k, v in z.items()}, leading=1)
    n = flat.shape[0]
    if n < MIN_DRAWS_FOR_VARIANCE:
        return np.ones(flat.shape[1], flat.dtype)
    var = flat.astype(np.float64).var(axis=0, ddof=1)
    var = var * n / (n + REGULARIZE) + 1e-3 * REGULARIZE / (n + REGULARIZE)
    return var.astype(flat.dtype)


def flatten(sites: dict[str, np.ndarray], leading: int) -> np.ndarray:
    """Sites with `leading` batch axes -> [batch..., D], coordinates in `ravel_pytree`'s order (sorted names)."""
    first = next(iter(sites.values()))
    batch = first.shape[:leading]
    return np.concatenate([np.asarray(sites[k]).reshape(batch + (-1,)) for k in sorted(sites)], axis=-1)


def check_starts(problem: Problem, warm: WarmStart, ids: list[int], starts: list[dict[str, Any]]) -> None:
    """Refuse a start where this model's log density is not finite (new rows the previous posterior rules out)."""
    stacked = jax.tree_util.tree_map(lambda *v: jnp.stack([jnp.asarray(a) for a in v]), *starts)
    potential = np.asarray(compiled(problem, "potential", _potentials)(stacked))
    bad = ~np.isfinite(potential)
    if bad.any():
        chain = ids[int(np.argmax(bad))]
        raise messages.warm_start_not_finite(warm.source, chain, warm.source_chain(chain))


@dataclass(frozen=True)
class ChainStarts:
    """Where each new chain starts and what its sampler starts with, from the previous chain it continues."""

    positions: list[dict[str, np.ndarray]]  # per chain id, in `ids` order: unconstrained sites
    variances: list[np.ndarray]  # per chain: flat diagonal inverse mass matrix (previous chain's variance)
    step_sizes: list[float] | None  # per chain: the previous chain's tuned step size (same backend only)
    L: list[float] | None  # per member: MCLMC's tuned L (previous MILE runs only)


def chain_starts(problem: Problem, warm: WarmStart, ids: list[int], backend: str) -> ChainStarts:
    """Each chain id's start from previous chain id mod C (`WarmStart.source_chain`), checked to be finite."""
    z = unconstrained_draws(problem, warm)
    sources = [warm.source_chain(c) for c in ids]
    positions = [last_draw(z, c) for c in sources]
    check_starts(problem, warm, ids, positions)
    variances = {c: chain_variance(z, c) for c in set(sources)}
    tuned = warm.tuned_by(backend)
    steps = [float(warm.step_size[c]) for c in sources] if tuned else None
    L = [float(warm.L[c]) for c in sources] if tuned and warm.L is not None else None
    return ChainStarts(positions, [variances[c] for c in sources], steps, L)


def flat_positions(starts: ChainStarts) -> tuple[np.ndarray, Callable]:
    """The starts as rows of one flat array [chains, D] and the function back to sites (MILE moves flat vectors)."""
    first, unravel = ravel_pytree({k: jnp.asarray(v) for k, v in starts.positions[0].items()})
    rows = np.stack([flatten(p, leading=0) for p in starts.positions])
    return rows.astype(first.dtype), unravel


def describe(warm: WarmStart, ids: list[int], starts: ChainStarts) -> dict[str, Any]:
    """The run summary's record of the warm start: from which run, which chain continues which, what carried over."""
    return {
        "from": warm.source,
        "previous_backend": warm.backend,
        "previous_chains": warm.chains,
        "chains_from": [warm.source_chain(c) for c in ids],
        "step_size": "previous run's" if starts.step_sizes is not None else "tuned afresh",
        **({"L": "previous run's"} if starts.L is not None else {}),
    }
