"""MILE: Microcanonical Langevin Ensembles (Sommer et al., ICLR 2025).

NUTS on a BNN saturates its tree depth on almost every draw, and its chains
still land in different modes. MILE splits the work: a deep ensemble finds the
modes (`ensemble.fit_ensemble`: K members optimised from prior draws, early
stopped on held-out rows), then each member starts one chain of Microcanonical
Langevin Monte Carlo (Robnik et al. 2023) that explores around its mode. MCLMC
has no accept/reject and a fixed cost per step, so the run's cost is known
before it starts: K x (ensemble steps + tuning steps + samples x thinning)
gradient evaluations (x 2 for the McLachlan integrator).

BlackJAX's `mclmc` kernel and `mclmc_find_L_and_step_size` tune each member's
step size and momentum-decoherence length L; members are vmapped and split
over the local devices like SG-HMC's chains. Member m's randomness comes from
fold_in(PRNGKey(seed), m) alone: same seed, same draws, whatever the device
count.
"""

from __future__ import annotations

import sys
import time

import blackjax
import jax
import jax.numpy as jnp
import numpy as np
from blackjax.adaptation.mclmc_adaptation import MCLMCAdaptationState
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from ..check.settings import InferSettings
from ..errors import BnnError, Location
from .chains import chain_mesh, on_devices, pad_chains
from .checkpoint import NO_CHECKPOINT, Checkpoint
from .ensemble import fit_ensemble
from .problem import Problem, resolve_batch_size
from .progress import Progress
from .result import RunResult, draws_to_idata

KEY_ENSEMBLE, KEY_SAMPLER = 1, 2
GRADS_PER_STEP = 2  # isokinetic McLachlan: two gradient evaluations per step
# Shares of the tuning steps: step size (1), step size with the diagonal preconditioner (2), L from the ESS (3).
# BlackJAX adds a third of phase 2's steps for the preconditioner: 0.4 + 0.3 * 4/3 + 0.2 = 1.
TUNE_FRACTIONS = (0.4, 0.3, 0.2)
# Tuning starts as the method's authors do: L at max(sqrt(d), 15) and the step size at the ensemble's learning
# rate. BlackJAX's defaults (L = sqrt(d), step = sqrt(d) / 4) suit a unit-scale target; at an ensemble member's
# sharp mode the first steps then have energy errors of order one and a short tuning never shrinks the step
# enough (draws too wide, noise overestimated). Measured on the 1-D example: benchmarks/results/mile_1d.md.


def gradient_budget(s: dict, members: int) -> dict[str, int]:
    """Gradient evaluations per member and in all, known before the run starts."""
    sampling = GRADS_PER_STEP * (s["warmup"] + s["samples"] * s["thinning"])
    per_member = s["map_steps"] + sampling
    return {"ensemble": s["map_steps"], "sampling": sampling, "per_member": per_member, "total": members * per_member}


def check_tuning(ids: list[int], step_size: np.ndarray, L: np.ndarray, warmup: int) -> None:
    """Refuse to sample with a collapsed tuning: a zero or non-finite step size would freeze the chain."""
    bad = ~(np.isfinite(step_size) & np.isfinite(L) & (step_size > 1e-8) & (L > 1e-8))
    if bad.any():
        m = int(np.argmax(bad))
        raise BnnError(
            f"MCLMC tuning of MILE member {ids[m]} collapsed after {warmup} steps "
            f"(step size {float(step_size[m]):.3g}, L {float(L[m]):.3g}): its chain would not move.",
            Location("<inference>", 0),
            hint="Raise warmup, lower lr (the tuning starts from it), or standardise the data and check the "
            "priors' scales.",
        )


def run_mile(
    problem: Problem, settings: InferSettings, progress: bool = True, checkpoint: Checkpoint = NO_CHECKPOINT
) -> RunResult:
    """MILE has no checkpoints yet: a killed run starts again (it is short by design)."""
    s = settings.values
    ids = problem.chain_ids(s["chains"])
    base = jax.random.PRNGKey(s["seed"])
    t0 = time.perf_counter()
    batch = resolve_batch_size(problem, s["batch_size"], "mile", None)
    with Progress(s["map_steps"], "mile: ensemble", progress) as bar:
        ens = fit_ensemble(
            problem,
            len(ids),
            jax.random.fold_in(base, KEY_ENSEMBLE),
            s["map_steps"],
            lr=s["lr"],
            batch_size=batch,
            holdout=s["holdout"],
            patience=s["patience"],
            member_ids=ids,
            progress=bar,
        )
    ensemble_s = time.perf_counter() - t0
    dim = ens.positions.shape[1]
    if dim < 2:
        raise BnnError(
            "MILE needs at least two parameters to sample (MCLMC moves on a sphere of momenta).",
            Location("<settings>", 0),
            hint="Use nuts for a one-parameter model.",
        )
    budget = gradient_budget(s, len(ids))
    per_step = ens.info.get("step_s")  # one gradient for all members, compile-free
    if progress and per_step:
        print(
            f"mile: sampling {len(ids)} members x {budget['sampling']:,} gradients: about "
            f"{per_step * budget['sampling']:.0f} s plus compilation (from the ensemble's "
            f"{1e3 * per_step:.2f} ms per gradient step)",
            file=sys.stderr,
        )

    unravel = ens.unravel

    def logdensity(z):
        return -problem.potential(unravel(z))

    kernel = blackjax.mcmc.mclmc.build_kernel(desired_energy_var=s["desired_energy_var"])

    def tune(z0, key):
        k_init, k_tune = jax.random.split(key)
        state = blackjax.mcmc.mclmc.init(z0, logdensity, k_init)
        f1, f2, f3 = TUNE_FRACTIONS
        state, params, _ = blackjax.mclmc_find_L_and_step_size(
            kernel,
            num_steps=s["warmup"],
            state=state,
            rng_key=k_tune,
            logdensity_fn=logdensity,
            frac_tune1=f1,
            frac_tune2=f2,
            frac_tune3=f3,
            desired_energy_var=s["desired_energy_var"],
            diagonal_preconditioning=s["preconditioning"],
            params=MCLMCAdaptationState(jnp.maximum(jnp.sqrt(dim), 15.0), s["lr"], jnp.ones_like(z0)),
        )
        return state, params.L, params.step_size, jnp.broadcast_to(params.inverse_mass_matrix, z0.shape)

    draws_per_chunk = max(1, min(s["samples"], 100))

    def chunk(state, L, step_size, inv_mass, key, start):
        def one(st, k):
            st, info = kernel(k, st, logdensity, inv_mass, L, step_size)
            return st, info.energy_change**2

        def draw(st, t):
            keys = jax.random.split(jax.random.fold_in(key, t), s["thinning"])
            st, energy_sq = jax.lax.scan(one, st, keys)
            return st, (st.position, st.logdensity, energy_sq.mean())

        return jax.lax.scan(draw, state, start + jnp.arange(draws_per_chunk))

    mesh, n_dev, padded = chain_mesh(len(ids))
    sharded = NamedSharding(mesh, P("chain"))
    keys = jnp.stack([jax.random.fold_in(jax.random.fold_in(base, KEY_SAMPLER), i) for i in ids])
    keys = jax.device_put(pad_chains(np.asarray(keys), padded), sharded)
    z0 = jax.device_put(pad_chains(ens.positions, padded), sharded)

    t1 = time.perf_counter()
    with Progress(s["samples"], "mile: sampling", progress) as bar:
        state, L, step_size, inv_mass = on_devices(tune, mesh, n_dev, (0, 0))(z0, keys)
        tune_s = time.perf_counter() - t1
        check_tuning(ids, np.asarray(step_size)[: len(ids)], np.asarray(L)[: len(ids)], s["warmup"])
        run_chunk = on_devices(chunk, mesh, n_dev, (0, 0, 0, 0, 0, None))
        sample_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)
        positions, lps, energy = [], [], []
        done = 0
        while done < s["samples"]:
            state, (pos, lp, e2) = run_chunk(state, L, step_size, inv_mass, sample_keys, jnp.asarray(done))
            take = min(draws_per_chunk, s["samples"] - done)
            positions.append(np.asarray(pos)[:, :take])
            lps.append(np.asarray(lp)[:, :take])
            energy.append(np.asarray(e2)[:, :take])
            done += take
            bar.update(take)
    sampling_s = time.perf_counter() - t1 - tune_s
    k = len(ids)
    flat = np.concatenate(positions, axis=1)[:k]
    lp = np.concatenate(lps, axis=1)[:k]
    if not np.isfinite(lp).all():
        member = int(np.argmax(~np.isfinite(lp).all(axis=1)))
        raise BnnError(
            f"MILE member {ids[member]} produced a non-finite log density while sampling.",
            Location("<inference>", 0),
            hint="Check the priors' scales and the data's units (standardise), or lower desired_energy_var.",
        )
    t2 = time.perf_counter()
    constrained = jax.jit(jax.vmap(jax.vmap(lambda z: problem.constrain(unravel(z)))))(jnp.asarray(flat))
    posterior = {name: np.asarray(v) for name, v in constrained.items()}
    L_np, eps = np.asarray(L)[:k], np.asarray(step_size)[:k]
    sample_stats = {
        "lp": lp,
        "step_size": np.broadcast_to(eps[:, None], lp.shape).copy(),
        "energy_change_sq": np.concatenate(energy, axis=1)[:k] / dim,
    }
    idata = draws_to_idata(problem, posterior, sample_stats)
    info = {
        "backend": "mile",
        "members": k,
        "devices": n_dev,
        "gradient_budget": budget,
        "L": [float(v) for v in L_np],
        "step_size": [float(v) for v in eps],
        "ensemble": ens.info,
    }
    timings = {
        "ensemble_s": ensemble_s,
        "tune_s": tune_s,
        "sampling_s": sampling_s,
        "to_arviz_s": time.perf_counter() - t2,
    }
    return RunResult(idata, timings, info)
