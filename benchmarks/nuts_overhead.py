"""What bnnlang's NUTS costs per leapfrog against hand-written NumPyro, and the predictive ESS per second of its defaults.

Everything runs in one process on ONE JAX CPU device (XLA_FLAGS gets --xla_force_host_platform_device_count=1
before JAX starts), so each number is the cost of one chain; XLA may still use every core inside one product.
The model is the canonical BNN of shared/notes/baselines.md: x -> dense(50, tanh) -> dense(50, tanh) -> dense(1),
Normal(0, 1) on every weight and bias, Gamma(3, 1) on the noise precision; y = sin(3x) + 0.1 noise with x in
[-2, -0.5] U [0.5, 2] (a gap in the middle).

Part 1, per leapfrog (N = 100 and N = 1000; compilation excluded everywhere):
  raw                one value_and_grad of the full-data potential per step in a jitted lax.scan: the floor.
                     Once with a hand-written jnp potential, once with bnnc's generated one (Problem.potential).
  NumPyro, hand      NumPyro's NUTS kernel on the BNN written by hand in NumPyro.
  NumPyro, compiled  NumPyro's NUTS kernel on the program bnnc generates (the same settings).
                     Both: `kernel.sample` in a jitted fori_loop (MCMC.run compiles again on every call); warmup
                     once, then each round times the same number of draws from the adapted state; wall over
                     sum(num_steps).
  bnnlang backend    `run_inference` with backend nuts (bnnlang's defaults, 1 chain). Its `sampling_s` holds
                     tracing, compiling and warmup, so two runs that differ only in `samples` are timed and the
                     difference is divided by the difference in leapfrogs (the same seed gives the same first
                     draws, which is checked).
  The methods take turns within each round (a busy spell on the shared machine hits all of them); medians.

Part 2, predictive ESS per second (N = 100): bnnlang's NUTS with its defaults (init_radius 0.5, target_accept 0.8,
max_tree_depth 10, 500 warmup, 500 draws) against hand-written NumPyro with NumPyro's defaults (NUTS(model), whose
init is uniform in (-2, 2)), the same chains and draws. Score: the median over a grid of test inputs (including the
gap) of ArviZ's bulk ESS of the network output f(x*), divided by the wall time of warmup + sampling, INCLUDING
tracing and compiling on both sides (the persistent compilation cache is on and warm; compile is a few seconds of
a ~100-200 s run). Quality beside it: test log predictive density, predictive and epistemic sd in the gap.

Part 3, exploration: other settings of bnnlang's NUTS scored the same way (max_tree_depth 6-8, init_radius 2,
init = ensemble), so a default that reaches the target can be chosen on data. Not tried (time): target_accept,
and dense_mass (a 2,702 x 2,702 mass matrix: a product with it per leapfrog, a Cholesky per adaptation window).

JSON (beside the markdown, same stem):
  provenance           provenance.facts()
  quick                true for --quick (small settings; the numbers only check the script)
  took_s               the whole script's wall time
  per_leapfrog         one record per N: n, params, numpyro_warmup, numpyro_samples, bnnlang_runs (warmup,
                       short_samples, extra_samples), max_tree_depth, rounds, potential_mismatch; medians in µs per
                       leapfrog (or per gradient for raw): raw_hand_us, raw_generated_us, numpyro_hand_us,
                       numpyro_compiled_us, bnnlang_backend_us; ratios compiled_over_hand, bnnlang_over_hand,
                       hand_over_raw, compiled_over_raw, bnnlang_over_raw; target_met (compiled_over_hand <=
                       1.05); leapfrogs_per_draw (per method);
                       same_prefix (the bnnlang difference runs agreed on their common draws); times (every round)
  predictive           n, chains, warmup, samples, grid (the test inputs), runs (one record per method and seed:
                       method, seed, wall_s, leapfrogs, median_ess_bulk, median_ess_bulk_gap, ess_per_s,
                       ess_per_s_gap (median ESS over the gap inputs / wall),
                       ess_per_1000_leapfrogs, test_lpd, pred_sd_gap, epistemic_sd_gap, divergences,
                       max_rhat_f), and summary: bnnlang_ess_per_s, numpyro_ess_per_s (medians over seeds),
                       ratio, target (2.0), met; also depth_cap (quick only)
  exploration          one record per bnnlang setting tried: config, overrides, and the run fields above
                       (medians over its seeds), plus ratio_to_numpyro and keeps_quality (test LPD >= the
                       defaults' - 0.05 and predictive sd in the gap within 25% of the defaults'), gap_ratio_to_defaults
                       (its ESS/s in the gap over bnnlang's defaults')

    python benchmarks/nuts_overhead.py            # full: writes benchmarks/results/nuts_overhead.md and .json
    python benchmarks/nuts_overhead.py --quick    # N = 100, small trees, few draws (about a minute)
    python benchmarks/nuts_overhead.py --from-json RUN.json -o OUT.md   # the tables of a stored run, again
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


def one_device_flags(flags: str) -> str:
    """XLA_FLAGS with exactly one host device: the numbers are per chain, not per machine."""
    kept = [f for f in flags.split() if not f.startswith("--xla_force_host_platform_device_count")]
    return " ".join([*kept, "--xla_force_host_platform_device_count=1"])


if __name__ == "__main__":  # only as a script: a test importing the helpers must not change its process's devices
    os.environ["XLA_FLAGS"] = one_device_flags(os.environ.get("XLA_FLAGS", ""))

import arviz as az  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402
from numpyro.infer import MCMC, NUTS, init_to_uniform  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from canonical import LAYERS, gap_data, numpyro_model, source  # noqa: E402

from bnnlang.api import Model  # noqa: E402
from bnnlang.infer.devices.setup import enable_compilation_cache  # noqa: E402
from bnnlang.infer.run import run_inference  # noqa: E402

WIDTH = 50
LOG_2PI = math.log(2 * math.pi)
GAP = (-0.5, 0.5)
TARGET_PER_LEAPFROG = 1.05  # compiled within 5% of hand-written
TARGET_ESS_RATIO = 2.0  # bnnlang's defaults at least 2x NumPyro's in predictive ESS per second

SOURCE = source(WIDTH)


@dataclass(frozen=True)
class Plan:
    """What one mode measures."""

    per_leapfrog_n: tuple[int, ...]
    lf_warmup: dict[int, int]  # per N: NumPyro kernels' warmup before the timed draws (once)
    lf_samples: dict[int, int]  # per N: NumPyro kernels' timed draws per round
    bn_runs: dict[int, tuple[int, int, int]]  # per N: bnnlang backend's warmup, short run's draws, long run's extra
    lf_depth: int
    rounds: int
    pred_n: int
    chains: int
    warmup: int | None  # None: the backends' defaults (500, 500)
    samples: int | None
    pred_seeds: tuple[int, ...]
    depth_cap: int | None  # quick only: both sides of part 2 get this max_tree_depth
    explore: tuple[tuple[str, dict, int], ...]  # label, bnnlang overrides, number of seeds (1, 2, ...)


FULL = Plan(
    per_leapfrog_n=(100, 1000),
    lf_warmup={100: 150, 1000: 40},
    lf_samples={100: 100, 1000: 30},
    bn_runs={100: (30, 30, 300), 1000: (10, 10, 60)},
    lf_depth=10,
    rounds=3,
    pred_n=100,
    chains=2,
    warmup=None,
    samples=None,
    pred_seeds=(1, 2),
    depth_cap=None,
    explore=(
        ("max_tree_depth = 8", {"max_tree_depth": 8}, 2),
        ("max_tree_depth = 7", {"max_tree_depth": 7}, 2),
        ("max_tree_depth = 6", {"max_tree_depth": 6}, 2),
        ("init_radius = 2 (NumPyro's)", {"init_radius": 2.0}, 1),
        ("init = ensemble", {"init": "ensemble"}, 1),
        ("init = ensemble, max_tree_depth = 7", {"init": "ensemble", "max_tree_depth": 7}, 2),
    ),
)
QUICK = Plan(
    per_leapfrog_n=(100,),
    lf_warmup={100: 50},
    lf_samples={100: 50},
    bn_runs={100: (50, 50, 200)},
    lf_depth=6,
    rounds=1,
    pred_n=100,
    chains=2,
    warmup=50,
    samples=50,
    pred_seeds=(1,),
    depth_cap=6,
    explore=(("init_radius = 2 (NumPyro's)", {"init_radius": 2.0}, 1),),  # the same compiled program: cheap
)


# -- data, the hand-written model, predictions ----------------------------------------------------------------


def heldout_data(n: int = 500, seed: int = 12345) -> tuple[np.ndarray, np.ndarray]:
    """Held-out points on the whole of [-2, 2], gap included, for the log predictive density."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, n)
    y = np.sin(3 * x) + 0.1 * rng.standard_normal(n)
    return x.reshape(-1, 1).astype(np.float32), y.astype(np.float32)


GRID = np.linspace(-2.0, 2.0, 41).astype(np.float32)  # test inputs for ESS; 9 of them lie in the gap


def hand_model(x: jnp.ndarray, y: jnp.ndarray) -> None:
    """The canonical BNN written by hand in NumPyro, as a user would."""
    numpyro_model(x, y, WIDTH)


def hand_potential(p: dict[str, jnp.ndarray], x: jnp.ndarray, y: jnp.ndarray) -> jnp.ndarray:
    """The same negative log joint in plain jnp, unconstrained (log precision, with its Jacobian)."""
    f = forward(p, x)
    log_prior = sum(-0.5 * jnp.sum(p[k] ** 2) - 0.5 * LOG_2PI * p[k].size for k in LAYERS)
    u = p["log_prec"]
    prec = jnp.exp(u)
    log_prior = log_prior + 3.0 * u - prec - math.log(2.0)  # Gamma(3, 1) of prec times d prec / du
    log_lik = jnp.sum(0.5 * u - 0.5 * LOG_2PI - 0.5 * prec * (y - f) ** 2)
    return -(log_prior + log_lik)


def forward(p: dict[str, jnp.ndarray], x: jnp.ndarray) -> jnp.ndarray:
    h = jnp.tanh(x @ p["w0"] + p["b0"])
    h = jnp.tanh(h @ p["w1"] + p["b1"])
    return (h @ p["w2"] + p["b2"])[:, 0]


def hand_names(posterior: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """bnnlang's site names (mlp.0.weight, ...) -> the hand-written ones (w0, ...); hand names pass through."""
    out = {}
    for k, v in posterior.items():
        if k.startswith("mlp."):
            _, layer, kind = k.split(".")
            k = f"{kind[0]}{layer}"
        out[k] = np.asarray(v)
    return out


def network_draws(posterior: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """f(x) for every draw: [chain, draw, len(x)]."""
    p = {k: jnp.asarray(posterior[k]) for k in LAYERS}
    chains, draws = p["w0"].shape[:2]
    flat = {k: v.reshape(chains * draws, *v.shape[2:]) for k, v in p.items()}
    f = jax.jit(jax.vmap(lambda q: forward(q, jnp.asarray(x))))(flat)
    return np.asarray(f).reshape(chains, draws, -1)


# -- pure helpers (unit-tested in tests/test_nuts_overhead.py) ------------------------------------------------


def bulk_ess(f: np.ndarray) -> np.ndarray:
    """ArviZ bulk ESS of each column of f [chain, draw, point]."""
    ds = az.convert_to_dataset({"f": np.asarray(f, dtype=np.float64)})
    return np.asarray(az.ess(ds, method="bulk")["f"].values)


def max_rhat(f: np.ndarray) -> float:
    ds = az.convert_to_dataset({"f": np.asarray(f, dtype=np.float64)})
    return float(np.max(az.rhat(ds)["f"].values))


def per_unit_us(seconds: float, units: float) -> float:
    """Microseconds per leapfrog (or gradient)."""
    if units <= 0:
        raise ValueError(f"no units to divide {seconds} s by")
    return 1e6 * seconds / units


def difference_per_unit_us(short: tuple[float, int], long: tuple[float, int]) -> float:
    """µs per leapfrog from two runs (seconds, leapfrogs) that share everything but their length.

    Fixed costs (tracing, compiling, warmup, the common draws) cancel; what is left is the extra draws' cost.
    """
    (t_short, l_short), (t_long, l_long) = short, long
    return per_unit_us(t_long - t_short, l_long - l_short)


def log_predictive_density(f: np.ndarray, sigma: np.ndarray, y: np.ndarray) -> float:
    """Mean over points of log mean over draws of Normal(y | f, sigma); f [draws, points], sigma [draws]."""
    s = np.asarray(sigma, dtype=np.float64)[:, None]
    logp = -0.5 * LOG_2PI - np.log(s) - 0.5 * ((np.asarray(y)[None, :] - f) / s) ** 2
    top = logp.max(axis=0)
    return float(np.mean(top + np.log(np.mean(np.exp(logp - top), axis=0))))


def median_of(records: list[dict], key: str) -> float:
    return float(statistics.median(r[key] for r in records))


# -- part 1: per leapfrog -------------------------------------------------------------------------------------


@dataclass
class Case:
    """One measured thing: `once(round)` returns µs per leapfrog or gradient, compilation excluded."""

    name: str
    once: Callable[[int], float]
    prepare: Callable[[], None] = lambda: None
    times: list[float] = field(default_factory=list)
    facts: dict = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def raw_case(name: str, potential: Callable, z0: jnp.ndarray, steps: int) -> Case:
    """value_and_grad in a jitted scan, moving z a hair each step so nothing is hoisted: the floor."""
    vg = jax.value_and_grad(potential)

    @jax.jit
    def loop(z):
        def body(c, _):
            value, grad = vg(c[0])
            return (c[0] - 1e-7 * grad, c[1] + value), None

        return jax.lax.scan(body, (z, jnp.zeros((), z.dtype)), None, length=steps)[0]

    def once(_: int) -> float:
        tick = time.perf_counter()
        jax.block_until_ready(loop(z0))
        return per_unit_us(time.perf_counter() - tick, steps)

    return Case(name, once, prepare=lambda: jax.block_until_ready(loop(z0)))


def numpyro_case(name: str, model: Callable, kwargs: dict, plan: Plan, n: int) -> Case:
    """NumPyro's NUTS kernel stepped by a jitted fori_loop: warm up once, then time the same draws each round.

    Why not `MCMC.run`: it traces and compiles its loop again on every call (a new collection function each
    time), so its wall time always holds a compile. The loop here is the one `MCMC` runs, minus the collection
    of draws (a copy of 2,702 floats per draw, nothing beside ~1,000 leapfrogs).
    """
    kernel = NUTS(model, max_tree_depth=plan.lf_depth, init_strategy=init_to_uniform(radius=0.5))
    state = kernel.init(jax.random.PRNGKey(0), plan.lf_warmup[n], None, (), kwargs)

    @jax.jit
    def advance(st, draws):
        def body(_, carry):
            st, steps = carry
            st = kernel.sample(st, (), kwargs)
            return st, steps + st.num_steps

        return jax.lax.fori_loop(0, draws, body, (st, jnp.zeros((), jnp.int32)))

    adapted = {}
    case = Case(name, lambda r: 0.0)

    def prepare() -> None:  # compiles, then adapts the step size and mass (warmup), untimed
        adapted["state"] = jax.block_until_ready(advance(state, plan.lf_warmup[n]))[0]
        jax.block_until_ready(advance(adapted["state"], 1))  # a retrace for the adapted state's types, if any

    def once(r: int) -> float:
        st = adapted["state"]._replace(rng_key=jax.random.PRNGKey(100 + r))
        tick = time.perf_counter()
        _, steps = jax.block_until_ready(advance(st, plan.lf_samples[n]))
        took = time.perf_counter() - tick
        case.facts.setdefault("leapfrogs_per_draw", []).append(int(steps) / plan.lf_samples[n])
        return per_unit_us(took, int(steps))

    case.prepare, case.once = prepare, once
    return case


def bnnlang_case(name: str, model: Model, problem, plan: Plan, n: int) -> Case:
    """bnnlang's nuts backend (its defaults, 1 chain): the difference of a short and a long run."""
    case = Case(name, lambda r: 0.0)
    warmup, short, extra = plan.bn_runs[n]

    def once(r: int) -> float:
        runs, draws = [], []
        for samples in (short, short + extra):
            s = model.settings(chains=1, warmup=warmup, samples=samples, seed=r + 1, max_tree_depth=plan.lf_depth)
            result = run_inference(problem, s, progress=False)
            runs.append((float(result.timings["sampling_s"]), int(result.info["leapfrogs"])))
            draws.append(np.asarray(result.posterior["prec"][0]))
        same = bool(np.array_equal(draws[0], draws[1][:short]))
        case.facts.setdefault("same_prefix", []).append(same)
        case.facts.setdefault("leapfrogs_per_draw", []).append((runs[1][1] - runs[0][1]) / extra)
        return difference_per_unit_us(runs[0], runs[1])

    def prepare() -> None:  # both programs into the persistent cache, so that neither timed run compiles cold
        once(-1)
        case.facts.clear()

    case.prepare, case.once = prepare, once
    return case


def measure_per_leapfrog(model: Model, problem, x: np.ndarray, y: np.ndarray, plan: Plan, n: int) -> dict:
    p0 = {k: 0.3 * v for k, v in zip(LAYERS, _normal_like(WIDTH), strict=True)} | {"log_prec": jnp.zeros(())}
    hand_flat, hand_unravel = ravel_pytree(p0)
    gen = {f"mlp.{i}.{kind}": p0[f"{kind[0]}{i}"] for i in range(3) for kind in ("weight", "bias")}
    gen_flat, gen_unravel = ravel_pytree({**gen, "prec": p0["log_prec"]})
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    mismatch = abs(float(problem.potential(gen_unravel(gen_flat))) / float(hand_potential(p0, xj, yj)) - 1)
    if mismatch > 1e-4:
        raise AssertionError(f"hand-written and generated potentials differ by {mismatch:.1e} (relative)")
    raw_steps = 20_000 if n <= 100 else 4000
    cases = [
        raw_case("raw_hand", lambda z: hand_potential(hand_unravel(z), xj, yj), hand_flat, raw_steps),
        raw_case("raw_generated", lambda z: problem.potential(gen_unravel(z)), gen_flat, raw_steps),
        numpyro_case("numpyro_hand", hand_model, {"x": xj, "y": yj}, plan, n),
        numpyro_case("numpyro_compiled", problem.model, problem.data, plan, n),
        bnnlang_case("bnnlang_backend", model, problem, plan, n),
    ]
    for case in cases:
        tick = time.perf_counter()
        case.prepare()
        print(f"  N={n}: prepared {case.name} in {time.perf_counter() - tick:.1f} s", flush=True)
    for r in range(plan.rounds):
        tick = time.perf_counter()
        for case in cases:
            case.times.append(case.once(r))
        shown = ", ".join(f"{c.name} {c.times[-1]:.1f}" for c in cases)
        print(f"  N={n} round {r + 1}/{plan.rounds} ({time.perf_counter() - tick:.0f} s), µs: {shown}", flush=True)
    med = {f"{c.name}_us": c.median for c in cases}
    by = {c.name: c for c in cases}
    return {
        "n": n,
        "params": int(hand_flat.size),
        "numpyro_warmup": plan.lf_warmup[n],
        "numpyro_samples": plan.lf_samples[n],
        "bnnlang_runs": dict(zip(("warmup", "short_samples", "extra_samples"), plan.bn_runs[n], strict=True)),
        "max_tree_depth": plan.lf_depth,
        "rounds": plan.rounds,
        "potential_mismatch": mismatch,
        **med,
        "compiled_over_hand": med["numpyro_compiled_us"] / med["numpyro_hand_us"],
        "target_met": med["numpyro_compiled_us"] / med["numpyro_hand_us"] <= TARGET_PER_LEAPFROG,
        "bnnlang_over_hand": med["bnnlang_backend_us"] / med["numpyro_hand_us"],
        "hand_over_raw": med["numpyro_hand_us"] / med["raw_hand_us"],
        "compiled_over_raw": med["numpyro_compiled_us"] / med["raw_generated_us"],
        "bnnlang_over_raw": med["bnnlang_backend_us"] / med["raw_generated_us"],
        "leapfrogs_per_draw": {
            k: statistics.median(by[k].facts["leapfrogs_per_draw"])
            for k in ("numpyro_hand", "numpyro_compiled", "bnnlang_backend")
        },
        "same_prefix": all(by["bnnlang_backend"].facts["same_prefix"]),
        "times": {c.name: c.times for c in cases},
    }


def _normal_like(width: int) -> list[jnp.ndarray]:
    shapes = [(1, width), (width,), (width, width), (width,), (width, 1), (1,)]
    keys = jax.random.split(jax.random.PRNGKey(3), len(shapes))
    return [jax.random.normal(k, s) for k, s in zip(keys, shapes, strict=True)]


# -- part 2 and 3: predictive ESS per second ------------------------------------------------------------------


def score(posterior: dict[str, np.ndarray], wall_s: float, leapfrogs: int, divergences: int) -> dict:
    """ESS of f on GRID, held-out LPD and the spread in the gap, for draws {site: [chain, draw, ...]}."""
    post = hand_names(posterior)
    f = network_draws(post, GRID.reshape(-1, 1))
    ess = bulk_ess(f)
    in_gap = (GRID > GAP[0]) & (GRID < GAP[1])
    sigma = 1.0 / np.sqrt(post["prec"].reshape(-1))
    xt, yt = heldout_data()
    ft = network_draws(post, xt).reshape(len(sigma), -1)
    flat = f.reshape(-1, f.shape[-1])
    med = float(np.median(ess))
    return {
        "wall_s": wall_s,
        "leapfrogs": leapfrogs,
        "median_ess_bulk": med,
        "median_ess_bulk_gap": float(np.median(ess[in_gap])),
        "ess_per_s": med / wall_s,
        "ess_per_s_gap": float(np.median(ess[in_gap])) / wall_s,
        "ess_per_1000_leapfrogs": 1000 * med / leapfrogs,
        "test_lpd": log_predictive_density(ft, sigma, yt),
        "pred_sd_gap": float(np.mean(np.sqrt(flat[:, in_gap].var(axis=0) + np.mean(sigma**2)))),
        "epistemic_sd_gap": float(np.mean(flat[:, in_gap].std(axis=0))),
        "sigma": float(np.mean(sigma)),
        "divergences": divergences,
        "max_rhat_f": max_rhat(f),
    }


def run_bnnlang(model: Model, problem, plan: Plan, seed: int, overrides: dict) -> dict:
    over = dict(overrides)
    if plan.depth_cap is not None:
        over["max_tree_depth"] = min(plan.depth_cap, over.get("max_tree_depth", plan.depth_cap))
    counts = {k: v for k, v in (("warmup", plan.warmup), ("samples", plan.samples)) if v is not None}
    s = model.settings(chains=plan.chains, seed=seed, **counts, **over)
    result = run_inference(problem, s, progress=False)
    wall = float(result.timings["sampling_s"] + result.timings.get("ensemble_s", 0.0))
    posterior = {k: np.asarray(v) for k, v in problem.public(result.posterior).items()}
    out = score(posterior, wall, int(result.info["leapfrogs"]), int(result.info["divergences"]))
    return {"method": "bnnlang", "seed": seed, "overrides": over, **out}


def run_numpyro_defaults(model: Model, plan: Plan, x: np.ndarray, y: np.ndarray, seed: int) -> dict:
    """What a user writes by hand: NUTS(model) with NumPyro's defaults, the same chains and draws."""
    defaults = model.settings()
    warmup = plan.warmup if plan.warmup is not None else defaults["warmup"]
    samples = plan.samples if plan.samples is not None else defaults["samples"]
    kernel = NUTS(hand_model) if plan.depth_cap is None else NUTS(hand_model, max_tree_depth=plan.depth_cap)
    mcmc = MCMC(
        kernel,
        num_warmup=warmup,
        num_samples=samples,
        num_chains=plan.chains,
        chain_method="sequential",  # what NumPyro falls back to on one device
        progress_bar=False,
    )
    tick = time.perf_counter()
    mcmc.run(jax.random.PRNGKey(seed), jnp.asarray(x), jnp.asarray(y), extra_fields=("num_steps", "diverging"))
    jax.block_until_ready(mcmc.last_state)
    wall = time.perf_counter() - tick
    extra = mcmc.get_extra_fields()
    posterior = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    out = score(posterior, wall, int(np.sum(extra["num_steps"])), int(np.sum(extra["diverging"])))
    return {"method": "numpyro", "seed": seed, "overrides": {}, **out}


def median_record(runs: list[dict]) -> dict:
    keys = [k for k, v in runs[0].items() if isinstance(v, (int, float)) and k != "seed"]
    return {k: median_of(runs, k) for k in keys}


def measure_predictive(model: Model, problem, x: np.ndarray, y: np.ndarray, plan: Plan) -> tuple[dict, list[dict]]:
    runs: list[dict] = []
    for seed in plan.pred_seeds:  # the two methods take turns
        for method in ("bnnlang", "numpyro"):
            tick = time.perf_counter()
            if method == "bnnlang":
                rec = run_bnnlang(model, problem, plan, seed, {})
            else:
                rec = run_numpyro_defaults(model, plan, x, y, seed)
            runs.append(rec)
            print(
                f"  predictive {method} seed {seed}: {time.perf_counter() - tick:.0f} s, median ESS "
                f"{rec['median_ess_bulk']:.1f}, ESS/s {rec['ess_per_s']:.3f}, LPD {rec['test_lpd']:.3f}",
                flush=True,
            )
    ours = median_record([r for r in runs if r["method"] == "bnnlang"])
    theirs = median_record([r for r in runs if r["method"] == "numpyro"])
    ratio = ours["ess_per_s"] / theirs["ess_per_s"]
    summary = {
        "bnnlang_ess_per_s": ours["ess_per_s"],
        "numpyro_ess_per_s": theirs["ess_per_s"],
        "ratio": ratio,
        "target": TARGET_ESS_RATIO,
        "met": ratio >= TARGET_ESS_RATIO,
    }
    explored = []
    for config, overrides, n_seeds in plan.explore:
        recs = []
        for seed in range(1, n_seeds + 1):  # seeds 1, 2 are part 2's
            tick = time.perf_counter()
            recs.append(run_bnnlang(model, problem, plan, seed, overrides))
            print(
                f"  explore {config} seed {seed}: {time.perf_counter() - tick:.0f} s, median ESS "
                f"{recs[-1]['median_ess_bulk']:.1f}, ESS/s {recs[-1]['ess_per_s']:.3f}, LPD {recs[-1]['test_lpd']:.3f}",
                flush=True,
            )
        med = median_record(recs)
        explored.append(
            {
                "config": config,
                "overrides": overrides,
                "seeds": [r["seed"] for r in recs],
                **med,
                "ratio_to_numpyro": med["ess_per_s"] / theirs["ess_per_s"],
                "keeps_quality": keeps_quality(med, ours),
                "gap_ratio_to_defaults": med["ess_per_s_gap"] / ours["ess_per_s_gap"],
            }
        )
    predictive = {
        "n": plan.pred_n,
        "chains": plan.chains,
        "warmup": plan.warmup or model.settings()["warmup"],
        "samples": plan.samples or model.settings()["samples"],
        "depth_cap": plan.depth_cap,
        "grid": GRID.tolist(),
        "runs": runs,
        "summary": summary,
    }
    return predictive, explored


# -- the report -----------------------------------------------------------------------------------------------


def _f(v: float) -> str:
    return f"{v:,.1f}" if abs(v) < 1000 else f"{v:,.0f}"


def per_leapfrog_table(rows: list[dict]) -> list[str]:
    head = (
        "| N | params | raw µs/grad (hand jnp) | raw µs/grad (generated) | NumPyro hand µs/leapfrog "
        "| NumPyro compiled µs/leapfrog | compiled ×hand | bnnlang backend µs/leapfrog | bnnlang ×hand "
        "| hand ×raw | compiled ×raw | bnnlang ×raw | leapfrogs/draw (hand, compiled, bnnlang) |"
    )
    out = [head, "|" + "---|" * 13]
    for r in rows:
        lpd = r["leapfrogs_per_draw"]
        cells = [
            str(r["n"]), f"{r['params']:,}", _f(r["raw_hand_us"]), _f(r["raw_generated_us"]),
            _f(r["numpyro_hand_us"]), _f(r["numpyro_compiled_us"]), f"{r['compiled_over_hand']:.3f}",
            _f(r["bnnlang_backend_us"]), f"{r['bnnlang_over_hand']:.3f}", f"{r['hand_over_raw']:.2f}",
            f"{r['compiled_over_raw']:.2f}", f"{r['bnnlang_over_raw']:.2f}",
            f"{lpd['numpyro_hand']:.0f}, {lpd['numpyro_compiled']:.0f}, {lpd['bnnlang_backend']:.0f}",
        ]  # fmt: skip
        out.append("| " + " | ".join(cells) + " |")
    return out


def round_ratios(row: dict, num: str, den: str) -> str:
    """The ratio of two methods in each round, in round order."""
    return ", ".join(f"{t / u:.2f}" for t, u in zip(row["times"][num], row["times"][den], strict=True))


RUN_HEAD = (
    "| wall s | leapfrogs | median bulk ESS of f | median ESS (gap) | ESS/s | ESS/s (gap) | ESS per 1000 leapfrogs "
    "| test LPD | pred. sd (gap) | epistemic sd (gap) | sigma | divergences | max R-hat of f |"
)


def run_cells(r: dict) -> list[str]:
    return [
        f"{r['wall_s']:.1f}", f"{r['leapfrogs']:,.0f}", f"{r['median_ess_bulk']:.1f}", f"{r['median_ess_bulk_gap']:.1f}",
        f"{r['ess_per_s']:.3f}", f"{r['ess_per_s_gap']:.3f}", f"{r['ess_per_1000_leapfrogs']:.3f}", f"{r['test_lpd']:.3f}",
        f"{r['pred_sd_gap']:.3f}", f"{r['epistemic_sd_gap']:.3f}", f"{r['sigma']:.3f}", f"{r['divergences']:.0f}",
        f"{r['max_rhat_f']:.2f}",
    ]  # fmt: skip


def predictive_tables(pred: dict, explored: list[dict]) -> list[str]:
    out = ["| method | seed " + RUN_HEAD, "|" + "---|" * 15]
    for r in pred["runs"]:
        name = "bnnlang defaults" if r["method"] == "bnnlang" else "NumPyro defaults (hand-written)"
        out.append("| " + " | ".join([name, str(r["seed"]), *run_cells(r)]) + " |")
    s = pred["summary"]
    out += [
        "",
        f"**Predictive ESS per second, bnnlang defaults ÷ NumPyro defaults: {s['ratio']:.2f}** (medians over seeds: "
        f"{s['bnnlang_ess_per_s']:.3f} against {s['numpyro_ess_per_s']:.3f}; target ≥ {s['target']:.0f}: "
        f"{'met' if s['met'] else 'NOT met'}).",
        "",
    ]
    if explored:
        out += [
            "Exploration: bnnlang's NUTS with one default changed (all else its defaults, same chains and draws, "
            "seeds as listed); ×NumPyro is its ESS/s over the NumPyro-defaults median above.",
            "",
            "| bnnlang setting | seeds | ×NumPyro " + RUN_HEAD,
            "|" + "---|" * 16,
        ]
        for e in explored:
            seeds = ", ".join(str(v) for v in e["seeds"])
            out.append("| " + " | ".join([e["config"], seeds, f"{e['ratio_to_numpyro']:.2f}", *run_cells(e)]) + " |")
        ours = median_record([r for r in pred["runs"] if r["method"] == "bnnlang"])
        keep = [e for e in explored if keeps_quality(e, ours)]
        best = max(keep, key=lambda e: e["ratio_to_numpyro"], default=None)
        gap = [e for e in keep if e["ess_per_s_gap"] >= ours["ess_per_s_gap"]]
        best_gap = max(gap, key=lambda e: e["ratio_to_numpyro"], default=None)

        def said(e: dict | None) -> str:
            if e is None:
                return "none"
            g = e["ess_per_s_gap"] / ours["ess_per_s_gap"]
            return f"{e['config']}, {e['ratio_to_numpyro']:.2f}× NumPyro's defaults (ESS/s in the gap {g:.2f}× bnnlang's defaults')"

        out += [
            "",
            f"Kept quality (test LPD at least the defaults' minus {LPD_SLACK}, predictive sd in the gap within "
            f"{100 * SD_SLACK:.0f}% of the defaults'): " + (", ".join(e["config"] for e in keep) or "none") + ". "
            f"Fastest of those: {said(best)}. Fastest of those whose ESS/s in the gap is also at least the "
            f"defaults' ({ours['ess_per_s_gap']:.3f}): {said(best_gap)}.",
            "",
        ]
    return out


LPD_SLACK = 0.05  # nats per point
SD_SLACK = 0.25  # relative


def keeps_quality(run: dict, reference: dict) -> bool:
    """Predictions as good as the reference's: held-out LPD and the spread in the gap close to it."""
    close_sd = abs(run["pred_sd_gap"] / reference["pred_sd_gap"] - 1) <= SD_SLACK
    return run["test_lpd"] >= reference["test_lpd"] - LPD_SLACK and close_sd


def report(record: dict, head: str) -> str:
    """The markdown of a run's record (as written to the JSON); `head` is the provenance paragraph."""
    rows, pred, explored = record["per_leapfrog"], record["predictive"], record["exploration"]
    depth = f", max_tree_depth {pred['depth_cap']} on both sides (quick only)" if pred["depth_cap"] else ""
    r0 = rows[0]
    return "\n".join(
        [
            "# NUTS: bnnlang against hand-written NumPyro, per leapfrog and in predictive ESS per second",
            "",
            head,
            "",
            "Model: the canonical BNN (x -> dense(50, tanh) -> dense(50, tanh) -> dense(1), Normal(0, 1) weights "
            "and biases, Gamma(3, 1) noise precision), y = sin(3x) + 0.1 noise, x in [-2, -0.5] U [0.5, 2].",
            "",
            "## Per leapfrog (compilation excluded)",
            "",
            f"NUTS with max_tree_depth {r0['max_tree_depth']}, target_accept 0.8, diagonal mass, init uniform in "
            "(-0.5, 0.5), 1 chain. NumPyro columns: NumPyro's `NUTS` kernel on the model written by hand (hand) "
            "and on the program bnnc generates (compiled), stepped by `kernel.sample` in a jitted `fori_loop` "
            "(the loop `MCMC` runs, without collecting draws: `MCMC.run` traces and compiles again on every call). "
            "Warmup once, untimed ("
            + ", ".join(f"{r['numpyro_warmup']} draws at N = {r['n']}" for r in rows)
            + "); then each round times the same number of draws from the adapted state ("
            + ", ".join(f"{r['numpyro_samples']} at N = {r['n']}" for r in rows)
            + "); µs = wall / sum(num_steps). bnnlang backend: `run_inference` (backend nuts, its defaults, chains "
            "1), a short and a long run with the same seed and warmup ("
            + ", ".join(
                f"N = {r['n']}: warmup {b['warmup']}, {b['short_samples']} draws, then {b['extra_samples']} more"
                for r in rows
                for b in [r["bnnlang_runs"]]
            )
            + "); µs = difference in `sampling_s` / difference in leapfrogs, which cancels tracing, compiling "
            f"(persistent cache on) and warmup (the common draws were identical in every round: "
            f"{all(r['same_prefix'] for r in rows)}). raw = one `value_and_grad` of the full-data potential per "
            "step in a jitted `lax.scan`: the floor. The generated and hand-written potentials agree to "
            f"{max(r['potential_mismatch'] for r in rows):.0e} (relative). Medians of {r0['rounds']} round(s); the "
            "methods take turns within each round. Target: compiled within "
            f"{100 * (TARGET_PER_LEAPFROG - 1):.0f}% of hand-written.",
            "",
            *per_leapfrog_table(rows),
            "",
            "Target (compiled within 5% of hand-written per leapfrog): "
            + "; ".join(
                f"N = {r['n']}: {'met' if r['compiled_over_hand'] <= TARGET_PER_LEAPFROG else 'NOT met'} "
                f"({r['compiled_over_hand']:.3f})"
                for r in rows
            )
            + ".",
            "",
            "Per round (the spread behind the medians): "
            + "; ".join(
                f"N = {r['n']}: compiled ×hand {round_ratios(r, 'numpyro_compiled', 'numpyro_hand')}, "
                f"bnnlang ×hand {round_ratios(r, 'bnnlang_backend', 'numpyro_hand')}"
                for r in rows
            )
            + ".",
            "",
            f"## Predictive ESS per second (N = {pred['n']})",
            "",
            f"{pred['chains']} chains (run one after the other on the one device), {pred['warmup']} warmup and "
            f"{pred['samples']} draws each{depth}. bnnlang defaults = `run_inference` with the nuts backend's "
            "defaults (init uniform in (-0.5, 0.5), target_accept 0.8, max_tree_depth 10, diagonal mass). NumPyro "
            "defaults = `MCMC(NUTS(model), ...)` on the model written by hand (init uniform in (-2, 2), the rest "
            "the same). ESS = ArviZ bulk ESS of the network output f(x*) at each of 41 inputs on [-2, 2] (9 in "
            "the gap (-0.5, 0.5)), median over inputs. Wall = warmup + sampling, tracing and compiling INCLUDED on "
            "both sides (persistent compilation cache on and warm; bnnlang traces once per chain, NumPyro once), "
            "plus the ensemble fit where init = ensemble. Test LPD: mean log predictive density of 500 held-out "
            "points on [-2, 2] (gap included). Pred. sd (gap): sqrt(var f + mean sigma²), mean over the gap inputs.",
            "",
            *predictive_tables(pred, explored),
            "Notes:",
            "- Timings on a shared 2-core machine move by 10% and more between rounds (see the per-round ratios); "
            "compare ratios within one run.",
            "- Weights are not identifiable; the ESS of f(x*) is what decides whether the predictions can be "
            "trusted. With 2 chains in different modes, bulk ESS is small whatever the sampler's speed.",
            "- The bnnlang backend's µs per leapfrog is the difference of two whole runs: a change of load between "
            "them, or in their tracing time, lands in it, and when its leapfrogs per draw are below the NumPyro "
            "kernels' (a short warmup leaves the step size unadapted), per-draw costs weigh more in it. Read it as "
            "a cross-check: the backend runs NumPyro's `MCMC` on the compiled program, the loop of the compiled "
            "column plus the collection of draws.",
            "- ESS/s (gap) is the median ESS over the 9 inputs in the gap, where the epistemic uncertainty lives, "
            "per second. Cutting trees short costs more there than in the data range (see the exploration).",
            "- ESS/s counts tracing and compiling: a few seconds per chain, which weigh more in the short runs of "
            "small tree depths; ESS per 1000 leapfrogs leaves them out.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="N = 100, small trees, few draws (about a minute)")
    ap.add_argument("-o", "--out", default=str(ROOT / "benchmarks" / "results" / "nuts_overhead.md"))
    ap.add_argument("--from-json", metavar="PATH", help="write the tables of a stored run's JSON again (no measuring)")
    args = ap.parse_args(argv)
    if args.from_json:
        record = complete(json.loads(Path(args.from_json).read_text()))
        note = run_note(record) + " Tables written again from the run's JSON by `--from-json`."
        write(record, stored_provenance(record["provenance"], note), Path(args.out))
        return
    plan = QUICK if args.quick else FULL
    start = time.perf_counter()
    enable_compilation_cache()  # as `Model.run` does
    model = Model.from_source(SOURCE, "nuts_overhead.bnn")
    rows, pred, explored = [], None, []
    with tempfile.TemporaryDirectory() as tmp:

        def problem_for(n: int):
            x, y = gap_data(n, seed=n)
            path = Path(tmp) / f"train{n}.npz"
            np.savez(path, x=x, y=y)
            return model.problem(model.data(path)), x, y

        for n in plan.per_leapfrog_n:
            problem, x, y = problem_for(n)
            rows.append(measure_per_leapfrog(model, problem, x, y, plan, n))
        problem, x, y = problem_for(plan.pred_n)
        pred, explored = measure_predictive(model, problem, x, y, plan)
    from provenance import facts, provenance

    record = {
        "provenance": facts(),
        "quick": args.quick,
        "took_s": time.perf_counter() - start,
        "per_leapfrog": rows,
        "predictive": pred,
        "exploration": explored,
    }
    write(record, provenance(run_note(record)), Path(args.out))


def run_note(record: dict) -> str:
    mode = "--quick: small settings that check the script, not numbers to quote" if record["quick"] else "full mode"
    return (
        "One JAX CPU device (`--xla_force_host_platform_device_count=1`): every number is one chain's cost. "
        f"{mode}; the whole script took {record['took_s'] / 60:.1f} min."
    )


def stored_provenance(f: dict, extra: str) -> str:
    """The provenance paragraph of a stored run (its own date, commit and versions, not today's)."""
    versions = ", ".join(f"{p} {v}" for p, v in f["versions"].items())
    mem = f", {f['memory_gib']:.0f} GiB" if f.get("memory_gib") else ""
    text = (
        f"Measured {f['date']} at commit {f['commit']}; Python {f['python']}, {versions}; "
        f"{f['cpu']}, {f['cores']} cores{mem}, JAX on the CPU"
    )
    return text + (f"; XLA_FLAGS={f['xla_flags']}" if f.get("xla_flags") else "") + f". {extra}"


def complete(record: dict) -> dict:
    """Fill the fields derived from measured ones that a record written by an older version lacks."""
    for r in record["per_leapfrog"]:
        r.setdefault("target_met", r["compiled_over_hand"] <= TARGET_PER_LEAPFROG)
    pred = record["predictive"]
    for r in [*pred["runs"], *record["exploration"]]:
        r.setdefault("ess_per_s_gap", r["median_ess_bulk_gap"] / r["wall_s"])
    ours = median_record([r for r in pred["runs"] if r["method"] == "bnnlang"])
    for e in record["exploration"]:
        e.setdefault("keeps_quality", keeps_quality(e, ours))
        e.setdefault("gap_ratio_to_defaults", e["ess_per_s_gap"] / ours["ess_per_s_gap"])
    return record


def write(record: dict, head: str, out: Path) -> None:
    text = report(record, head)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    print(text)
    print(f"wrote {out} and {out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
