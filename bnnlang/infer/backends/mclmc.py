"""MCLMC tuning and sampling through one compiled loop (MILE's sampler).

Why not BlackJAX's `mclmc_find_L_and_step_size`: it compiles each tuning phase as its own scan, so the
model's gradient is compiled three or four times over, which cost more than the sampling itself on the 1-D
example (benchmarks/results/design_notes.md#mclmc-one-loop). Here every phase, tuning and
sampling alike, is a call to one jitted `segment`: a fixed number of outer steps, each of `thin` kernel
steps (a traced count, so tuning's thin = 1 and sampling's thin = thinning share the compilation), with
the adaptation switched on and off by traced flags. The kernel is BlackJAX's `mclmc.build_kernel`
(isokinetic McLachlan integrator, partial momentum refresh), unchanged.

The tuning follows Robnik et al. (2023) as BlackJAX and MILE's authors implement it:
1. step size: the energy error's variance per dimension scales as eps^6, so each step's error gives an
   estimate of the step size that would hit `desired_energy_var`; estimates are averaged with weights
   that decay over ~150 steps and shrink estimates far from the target. A step with a non-finite energy
   is undone and caps the step size at 0.8 times the one that failed.
2. the same, while accumulating the position's mean and variance (weighted by step size): L = sqrt(sum of
   variances), the posterior's scale; with preconditioning the variances become the diagonal inverse
   mass, L = sqrt(d), and the step size is tuned again in the rescaled coordinates.
3. L from the autocorrelation: L = 0.4 x step size x mean over coordinates of the integrated
   autocorrelation time (steps per effective sample), from the positions of a short run (NumPyro's ESS, vectorised over coordinates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from numpyro.diagnostics import effective_sample_size

from ..driver import masked_scan

DECAY = (150 - 1.0) / (150 + 1.0)  # the step-size average forgets over ~150 steps (BlackJAX's default)
TRUST = 1.5  # width, in log space / 6, of the weight given to one step's step-size estimate
SHRINK_ON_FAILURE = 0.8
L_FACTOR = 0.4
ESS_DIMS = 2000  # coordinates used for phase 3's autocorrelation (a random subset of larger models)


class Carry(NamedTuple):
    state: Any  # blackjax IntegratorState
    L: jax.Array
    step_size: jax.Array
    inv_mass: jax.Array  # [D]
    adapt: tuple  # (weight sum, weighted sum of xi / eps^6, largest step size without a failure)
    moments: tuple  # (weight sum, weighted mean of x [D], weighted mean of x^2 [D])


@dataclass(frozen=True)
class Phases:
    """Steps of each tuning phase; they add up to the warmup."""

    step_size: int
    moments: int
    retune: int  # step size again after preconditioning (0 without)
    autocorrelation: int

    @classmethod
    def split(cls, warmup: int, fractions: tuple[float, float, float], preconditioning: bool) -> Phases:
        f1, f2, f3 = fractions
        n2 = round(warmup * f2)
        retune = round(n2 / 3) if preconditioning else 0
        n3 = round(warmup * f3)
        return cls(warmup - n2 - retune - n3, n2, retune, n3)


def initial_carry(z0: np.ndarray, member_keys: np.ndarray, L: float | np.ndarray, step_size: float) -> Carry:
    """Members' starting carry [K, ...] built on the host: a random unit momentum, log density and gradient 0.

    The log density and gradient are filled in by `segment` called once with step size 0 (the integrator then
    only evaluates them at the start): no separately compiled init, which cost as much to compile as the
    whole sampling loop's extra gradient on the 1-D example. The momentum comes from NumPy seeded by the
    member's key bits, so it depends on the key alone.
    """
    k, d = z0.shape
    u = np.stack([np.random.default_rng(list(map(int, key))).standard_normal(d) for key in member_keys])
    u = (u / np.linalg.norm(u, axis=1, keepdims=True)).astype(z0.dtype)
    zeros = np.zeros(k, z0.dtype)
    state = blackjax.mcmc.integrators.IntegratorState(z0, u, zeros, np.zeros_like(z0))
    return Carry(
        state=state,
        L=np.full(k, L, z0.dtype),
        step_size=np.full(k, step_size, z0.dtype),
        inv_mass=np.ones_like(z0),
        adapt=(zeros, zeros, np.full(k, np.inf, z0.dtype)),
        moments=(zeros, np.zeros_like(z0), np.zeros_like(z0)),
    )


def build_segment(logdensity, dim: int, desired_energy_var: float, outer: int):
    """segment(carry, key, start, thin, n_active, adapt, collect) -> (carry, per outer step outputs).

    Outer step t (global index start + t, active while t < n_active) runs `thin` kernel steps with keys
    fold_in(fold_in(key, start + t), i): the draws depend on the step's index, not on how the run is cut
    into calls. Outputs per outer step: position, log density, mean squared energy error per dimension,
    count of undone (non-finite) steps.
    """
    kernel = blackjax.mcmc.mclmc.build_kernel(desired_energy_var=desired_energy_var)

    def one(c: Carry, key, adapt, collect):
        new, info = kernel(key, c.state, logdensity, c.inv_mass, c.L, c.step_size)
        ok = info.nonans & jnp.isfinite(info.energy_change) & jnp.isfinite(new.logdensity)
        state = jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, c.state)
        de = jnp.where(ok, info.energy_change, 0.0)
        # step size (phase 1 and 2): Var[dE] / d ~ eps^6
        w_sum, x_sum, eps_max = c.adapt
        eps_max = jnp.where(ok, eps_max, SHRINK_ON_FAILURE * c.step_size)
        xi = jnp.square(de) / (dim * desired_energy_var) + 1e-8
        w = jnp.exp(-0.5 * jnp.square(jnp.log(xi) / (6.0 * TRUST)))
        x_sum = DECAY * x_sum + w * xi / c.step_size**6
        w_sum = DECAY * w_sum + w
        eps = jnp.minimum((x_sum / w_sum) ** (-1.0 / 6.0), eps_max)
        eps = jnp.where(jnp.isfinite(eps) & (eps > 0), eps, c.step_size * SHRINK_ON_FAILURE)
        adapted = c._replace(step_size=eps, adapt=(w_sum, x_sum, eps_max))
        c = jax.tree_util.tree_map(lambda a, b: jnp.where(adapt, a, b), adapted, c)
        # posterior moments (phase 2)
        m_w, m1, m2 = c.moments
        weight = jnp.where(collect & ok, c.step_size, 0.0)
        total = m_w + weight
        share = jnp.where(total > 0, weight / total, 0.0)
        x = state.position
        moments = (total, m1 + share * (x - m1), m2 + share * (x * x - m2))
        return c._replace(state=state, moments=moments), de * de / dim, 1 - ok.astype(jnp.int32)

    def segment(c: Carry, key, start, thin, n_active, adapt, collect):
        def outer_step(c, t):
            k = jax.random.fold_in(key, start + t)

            def inner(i, acc):
                c, e_sum, bad = acc
                c, e, b = one(c, jax.random.fold_in(k, i), adapt, collect)
                return c, e_sum + e, bad + b

            zero = jnp.zeros((), c.step_size.dtype)
            moved, e_sum, bad = jax.lax.fori_loop(0, thin, inner, (c, zero, jnp.int32(0)))
            return moved, (moved.state.position, moved.state.logdensity, e_sum / thin, bad)

        return masked_scan(outer_step, c, jnp.int32(0), n_active, outer)

    return segment


def moments_to_scale(moments: tuple, fallback: np.ndarray) -> np.ndarray:
    """Per-coordinate posterior variances [K, D] from phase 2; a member with no usable steps keeps `fallback`."""
    w, m1, m2 = (np.asarray(a, np.float64) for a in moments)
    var = m2 - m1 * m1
    out = np.array(fallback, np.float64)
    for m in range(var.shape[0]):
        v = var[m]
        good = np.isfinite(v) & (v > 0)
        if w[m] > 0 and good.mean() > 0.5:
            floor = 1e-6 * np.median(v[good])
            out[m] = np.where(good, np.maximum(v, floor), np.median(v[good]))
    return out


def autocorrelation_L(positions: np.ndarray, step_size: np.ndarray, L: np.ndarray, seed: int) -> np.ndarray:
    """Phase 3: L = 0.4 x eps x mean integrated autocorrelation time (steps), per member; L kept if undefined."""
    k, n, d = positions.shape
    cols = np.random.default_rng(seed).permutation(d)[:ESS_DIMS] if d > ESS_DIMS else slice(None)
    out = np.array(L, np.float64)
    for m in range(k):
        x = positions[m][:, cols].astype(np.float64)
        if n < 8 or not np.isfinite(x).all():
            continue
        ess = np.asarray(effective_sample_size(x[None]), np.float64)
        tau = n / ess[np.isfinite(ess) & (ess > 0)]
        if tau.size:
            out[m] = L_FACTOR * float(step_size[m]) * float(np.mean(tau))
    return out
