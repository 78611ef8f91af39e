"""MAP fits with optax: the start of SG-HMC chains and the point estimate of deterministic layers.

The whole optimisation is one jitted `lax.scan`; step t's minibatch and noise
come from `fold_in(key, t)`, so results do not depend on how the loop is cut.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import optax

from ..errors import BnnError, Location
from .problem import Problem


def adam_schedule(lr: float, steps: int) -> optax.GradientTransformation:
    """Adam with a cosine decay to 1% of `lr`: large early steps, a settled end point."""
    return optax.adam(optax.cosine_decay_schedule(lr, max(steps, 1), alpha=0.01))


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
    """Unconstrained MAP position and the loss (potential) per step; starts from a prior draw unless `radius`.

    `data_weight` > 1 counts the likelihood that many times (a tempered start: see `map_fit`).
    """
    params = init if init is not None else problem.init(jax.random.fold_in(key, 0), radius)
    if steps == 0:
        return params, jnp.zeros((0,))
    opt = adam_schedule(lr, steps)
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
        raise BnnError(
            f"The MAP fit diverged: the loss became {final} at step {bad + 1} of {steps}.",
            Location("<inference>", 0),
            hint="Lower the learning rate, or check the priors' scales and the data's units (standardise).",
        )
    return params, losses


def map_fit(problem: Problem, key: jax.Array, steps: int, lr: float = 0.01, batch_size: int | None = None):
    """A MAP fit that escapes the switched-off network: half the steps with the data counted 10 times, then plain.

    At a BNN's plain MAP from a small start all weights can sit at zero (a local
    minimum: the likelihood moves only at higher order there while the prior
    pulls back at first order). Counting the data 10 times escapes it; the plain
    MAP then settles in a good mode.
    """
    first = steps // 2
    params, l1 = find_map(problem, key, first, lr, batch_size, data_weight=10.0)
    params, l2 = find_map(problem, jax.random.fold_in(key, 1), steps - first, lr, batch_size, init=params)
    return params, jnp.concatenate([l1, l2])
