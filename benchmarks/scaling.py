"""Scaling: what one SG-HMC gradient, one SVI step and one NUTS leapfrog cost as the network and the data grow.

Users pick a minibatch method when N or the network is large; this measures what that buys. Every point runs in
a fresh process (`python scaling.py --child SPEC`) with one JAX CPU device
(XLA_FLAGS=--xla_force_host_platform_device_count=1) and the compilation cache off (BNNLANG_NO_CACHE=1), so its
peak resident memory (ru_maxrss) is its own. Points run one after another, never side by side.

Model: x (8 inputs) -> dense(W, tanh) -> dense(W, tanh) -> dense(1), Normal(0, 1) weights and biases, Gamma(3, 1)
noise precision (the canonical BNN of shared/notes/baselines.md, with 8 inputs instead of 1). Data: x uniform on
[-2, 2]^8, y = sin(x.a) + 0.5 tanh(x.b) + 0.1 noise (fixed a, b), float32, written as NPZ to a temporary folder.

Measured on bnnlang's Model API (`Model.data`, `Model.problem`, then `run_inference` for SG-HMC and SVI),
compilation excluded:
  SG-HMC  µs per gradient: the backend's `per_gradient_us` (chunks after its first jitted chunk of 1000 steps,
          which holds the compile). 1 chain, minibatch 128 rows (the backend's default size), leapfrog 1, init
          uniform, 10 kept draws.
  SVI     µs per step: the backend's `step_us` (chunks after the first). Mean-field guide (guide = normal),
          minibatch 128 rows (set through batch_size; SVI's own default is full batch up to 4096 rows and 1024
          rows above), one draw per step, init uniform, 10 draws from the fitted guide.
  NUTS    µs per leapfrog and seconds per draw, with the kernel bnnlang's nuts backend builds (NumPyro's NUTS,
          same settings) on the generated model: 30 warmup draws, then one sampling call whose time, less the
          time JAX spent tracing and compiling inside it (JAX's own compile events, `jax.monitoring`), is
          divided by its exact leapfrog count. 1 chain, full-data gradients, max_tree_depth 6 (default 10) so
          that N = 1e5 fits the time budget; the cost per leapfrog does not depend on it.
  memory  each point's peak resident set (ru_maxrss of its process), beside a process that only imports JAX,
          NumPyro and bnnlang and starts JAX's CPU backend (the baseline), and the data's own size.
Sweeps: widths 50-2000 at N = 10,000; N = 1e3-1e6 at widths 50 and 500; NUTS at N = 100-100,000, width 50.
Growth rates: least-squares slopes of log(time) against log(width), log(parameters) and log(N).

    python benchmarks/scaling.py            # the full run (~20 minutes on 2 cores); benchmarks/results/scaling.md
    python benchmarks/scaling.py --quick    # widths 50, 200; N 1e3, 1e4; NUTS N 100, 1000 (about a minute)

JSON written beside the markdown (same stem):
  benchmark        "scaling"
  quick            true for --quick
  provenance       provenance.facts(): date, commit, versions, CPU, XLA_FLAGS
  settings         the fixed settings: input_dim, sghmc_batch, svi_batch, sghmc_leapfrog, nuts_max_tree_depth,
                   nuts_warmup, nuts_samples (per N), width_sweep_n, widths, n_values, n_sweep_widths, nuts_n,
                   nuts_width, timeout_s, nuts_timeout_s
  baseline_rss_mib peak resident MiB of the import-only process (null if it failed)
  points           one per process: kind (baseline | sghmc | svi | nuts), sweeps (which tables: width, n, nuts),
                   width, n, params, data_mib, status (ok | timeout | killed | error | pending), detail (why, if not ok),
                   us_per_unit with unit (gradient | step | leapfrog), peak_rss_mib, rss_increment_mib (peak less
                   the baseline), rss_after_import_mib, rss_after_load_mib, compile_s (JAX tracing + compiling
                   inside the run), load_s (data loading and checks, Model.problem), run_s (the backend call), wall_s
                   (the whole process), import_s, devices; sghmc: gradients, batch_size; svi: steps, batch_size;
                   nuts: draws, warmup, leapfrogs, leapfrogs_per_draw, s_per_draw, tree_depth_hits, warmup_s
  complete         false while points are still to run (the files are rewritten after every point)
  total_s          the benchmark's wall time so far
  fits             kind, against (width | params | n), at (the fixed width or N), lo, hi (range of the
                   variable), points, exponent (slope of log time on log variable)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from canonical import source

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "scaling.md"

INPUT_DIM = 8
SGHMC_BATCH = 128
SVI_BATCH = 128
SGHMC_KEPT = 10  # draws kept by SG-HMC (thinning 1): few, they are not what is timed
SVI_DRAWS = 10  # draws taken from the fitted guide
SGHMC_CHUNK = 1000  # bnnlang.infer.backends.sghmc.CHUNK: the first chunk (with the compile) is left out of the timing
SGHMC_STEP_SIZE = 1e-5  # small enough that no width diverges from a random start; the cost does not depend on it
NUTS_MAX_TREE_DEPTH = 6  # capped (default 10) so that N = 1e5 fits the budget; the cost per leapfrog is the same
NUTS_WIDTH = 50


@dataclass(frozen=True)
class Plan:
    """What one run measures; step counts are per width (nearest listed width for others)."""

    widths: tuple[int, ...]
    width_sweep_n: int
    n_values: tuple[int, ...]
    n_sweep_widths: tuple[int, ...]
    nuts_n: tuple[int, ...]
    sghmc_steps: dict[int, int]  # total steps (= gradients, leapfrog 1); the first SGHMC_CHUNK hold the compile
    svi_steps: dict[int, int]  # total steps; the first chunk (50 steps, more above 2500) holds the compile
    nuts_samples: dict[int, int]  # draws per N, after nuts_warmup warmup draws
    nuts_warmup: int
    timeout_s: float
    nuts_timeout_s: float


FULL = Plan(
    widths=(50, 200, 500, 1000, 2000),
    width_sweep_n=10_000,
    n_values=(1_000, 10_000, 100_000, 1_000_000),
    n_sweep_widths=(50, 500),
    nuts_n=(100, 1_000, 10_000, 100_000),
    sghmc_steps={50: 41_000, 200: 9_000, 500: 4_000, 1000: 2_000, 2000: 2_000},
    svi_steps={50: 20_000, 200: 4_000, 500: 1_000, 1000: 300, 2000: 150},
    nuts_samples={100: 400, 1_000: 100, 10_000: 20, 100_000: 5},
    nuts_warmup=30,
    timeout_s=420,
    nuts_timeout_s=300,
)
QUICK = Plan(
    widths=(50, 200),
    width_sweep_n=10_000,
    n_values=(1_000, 10_000),
    n_sweep_widths=(50,),
    nuts_n=(100, 1_000),
    sghmc_steps={50: 3_000, 200: 2_000},
    svi_steps={50: 1_000, 200: 300},
    nuts_samples={100: 40, 1_000: 10},
    nuts_warmup=20,
    timeout_s=90,
    nuts_timeout_s=90,
)


def nearest(table: dict[int, int], key: int) -> int:
    return table[min(table, key=lambda k: abs(math.log(k) - math.log(key)))]


def n_params(width: int, d: int = INPUT_DIM) -> int:
    """Weights and biases of the two hidden layers and the output layer, plus the noise precision."""
    return (d + 1) * width + (width + 1) * width + (width + 1) + 1


# -- pure helpers (tested in tests/test_scaling_benchmark.py) ---------------------------------------------------


def loglog_slope(xs: list[float], ys: list[float]) -> float | None:
    """Least-squares slope of log(y) on log(x): the exponent k in y ~ x^k. None with fewer than 2 distinct x."""
    pairs = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x > 0 and y is not None and y > 0]
    if len({p[0] for p in pairs}) < 2:
        return None
    lx = np.array([p[0] for p in pairs])
    ly = np.array([p[1] for p in pairs])
    dx = lx - lx.mean()
    return float(np.sum(dx * (ly - ly.mean())) / np.sum(dx * dx))


def union_seconds(spans: list[tuple[float, float]], start: float, stop: float) -> float:
    """Length of the union of (begin, end) spans clipped to [start, stop]: nested compile events count once."""
    clipped = sorted((max(a, start), min(b, stop)) for a, b in spans if b > start and a < stop)
    total, end = 0.0, -math.inf
    for a, b in clipped:
        if b <= end:
            continue
        total += b - max(a, end)
        end = b
    return total


def describe_exponent(k: float) -> str:
    """Words for a growth exponent."""
    if abs(k) < 0.15:
        return "flat"
    if k < 0:
        return "falls (fixed costs or noise)"
    if 0.85 <= k <= 1.15:
        return "about linear"
    if 1.85 <= k <= 2.15:
        return "about quadratic"
    if k < 1:
        return "sublinear"
    return "between linear and quadratic" if k < 2 else "faster than quadratic"


# -- the child: one point in a fresh process ------------------------------------------------------------------


def rss_mib() -> float:
    """Peak resident set of this process so far (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_point(spec: dict[str, Any]) -> dict[str, Any]:
    """Import, load the data, run one backend; every time and memory figure of one point."""
    t_start = time.perf_counter()
    import jax
    import jax.numpy as jnp

    from bnnlang.api import Model
    from bnnlang.infer.devices.setup import enable_compilation_cache
    from bnnlang.infer.run import run_inference

    enable_compilation_cache()  # a no-op under BNNLANG_NO_CACHE=1, which the parent sets
    jnp.zeros(()).block_until_ready()  # start the CPU backend, as every point does before its data
    out: dict[str, Any] = {
        "import_s": time.perf_counter() - t_start,
        "rss_after_import_mib": rss_mib(),
        "devices": jax.local_device_count(),
    }
    if spec["kind"] == "baseline":
        return out

    spans: list[tuple[float, float]] = []
    compile_events = ("jaxpr_trace_duration", "jaxpr_to_mlir_module_duration", "backend_compile_duration")

    def on_span(event: str, begin: float, end: float, **_: Any) -> None:
        if event.endswith(compile_events):
            spans.append((begin, end))

    jax.monitoring.register_event_time_span_listener(on_span)

    kind, width = spec["kind"], spec["width"]
    model = Model.from_source(source(width, inputs="D"), "scaling.bnn")
    if kind == "sghmc":
        overrides = dict(
            backend="sghmc", chains=1, batch_size=SGHMC_BATCH, leapfrog=1, init="uniform", step_size=SGHMC_STEP_SIZE,
            samples=SGHMC_KEPT, thinning=1, warmup=spec["steps"] - SGHMC_KEPT,
        )  # fmt: skip
    elif kind == "svi":
        overrides = dict(
            backend="svi", guide="normal", batch_size=SVI_BATCH, steps=spec["steps"], samples=SVI_DRAWS, init="uniform"
        )
    else:
        overrides = dict(
            backend="nuts", chains=1, warmup=spec["warmup"], samples=spec["steps"],
            max_tree_depth=NUTS_MAX_TREE_DEPTH, init="uniform",
        )  # fmt: skip
    tick = time.perf_counter()
    settings = model.settings(**overrides)
    problem = model.problem(model.data(spec["data"]), settings)
    out["load_s"] = time.perf_counter() - tick
    out["rss_after_load_mib"] = rss_mib()

    if kind == "nuts":
        out.update(nuts_point(problem, settings, spans))
        out["peak_rss_mib"] = rss_mib()
        return out
    wall0 = time.time()
    tick = time.perf_counter()
    result = run_inference(problem, settings, progress=False)
    out["run_s"] = time.perf_counter() - tick
    out["compile_s"] = union_seconds(spans, wall0, time.time())
    t, info = result.timings, result.info
    if kind == "sghmc":
        out.update(unit="gradient", us_per_unit=t["per_gradient_us"], gradients=info["gradients_per_chain"])
    else:
        out.update(unit="step", us_per_unit=t["step_us"], steps=t["steps_run"])
    out["batch_size"] = info["batch_size"]
    out["peak_rss_mib"] = rss_mib()
    return out


def nuts_point(problem, settings, spans: list[tuple[float, float]]) -> dict[str, Any]:
    """NUTS's cost per leapfrog and per draw, after a short warmup.

    Why NumPyro's MCMC here and not `run_inference`: bnnlang's nuts backend is NumPyro's NUTS built with these
    settings (bnnlang/infer/nuts.py), but it runs warmup and sampling in one call and NumPyro reports leapfrog
    counts only for kept draws, so its time cannot be split per leapfrog. Here the same kernel on the generated
    model warms up (compiling, and paying the process's one-time costs), then samples from the warmed-up state;
    the sampling call's time less JAX's compile events inside it, over its leapfrogs (exact), is the cost.
    """
    import jax
    from numpyro.infer import MCMC, NUTS, init_to_uniform

    s = settings.values
    kernel = NUTS(
        problem.model,
        target_accept_prob=s["target_accept"],
        max_tree_depth=s["max_tree_depth"],
        dense_mass=s["dense_mass"],
        init_strategy=init_to_uniform(radius=s["init_radius"]),
    )
    mcmc = MCMC(kernel, num_warmup=s["warmup"], num_samples=s["samples"], num_chains=1, progress_bar=False)
    key = jax.random.PRNGKey(s["seed"])
    tick = time.perf_counter()
    mcmc.warmup(key, **problem.data)
    warmup_s = time.perf_counter() - tick
    wall0 = time.time()
    tick = time.perf_counter()
    mcmc.run(jax.random.fold_in(key, 1), extra_fields=("num_steps",), **problem.data)
    jax.block_until_ready(mcmc.last_state)
    took = time.perf_counter() - tick
    compile_s = union_seconds(spans, wall0, time.time())
    steps = np.asarray(mcmc.get_extra_fields()["num_steps"], dtype=np.int64)
    net = took - compile_s
    return {
        "unit": "leapfrog",
        "us_per_unit": 1e6 * net / int(steps.sum()),
        "draws": len(steps),
        "warmup": s["warmup"],
        "leapfrogs": int(steps.sum()),
        "leapfrogs_per_draw": float(steps.mean()),
        "s_per_draw": net / len(steps),
        "tree_depth_hits": int((steps >= 2 ** s["max_tree_depth"] - 1).sum()),
        "warmup_s": warmup_s,
        "compile_s": compile_s,
        "run_s": took,
    }


def child_main(spec_json: str) -> None:
    out = run_point(json.loads(spec_json))
    print("RESULT " + json.dumps(out), flush=True)


# -- the parent: data, one process per point, tables ----------------------------------------------------------


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """y = sin(x.a) + 0.5 tanh(x.b) + 0.1 noise on x uniform in [-2, 2]^8; a and b are the same for every N."""
    directions = np.random.default_rng(12345).standard_normal((2, INPUT_DIM)) / math.sqrt(INPUT_DIM)
    rng = np.random.default_rng(seed + n)
    x = rng.uniform(-2.0, 2.0, (n, INPUT_DIM))
    y = np.sin(x @ directions[0]) + 0.5 * np.tanh(x @ directions[1]) + 0.1 * rng.standard_normal(n)
    return x.astype(np.float32), y.astype(np.float32)


@dataclass
class Point:
    kind: str
    width: int
    n: int
    steps: int
    sweeps: list[str] = field(default_factory=list)
    result: dict[str, Any] = field(default_factory=dict)


def child_env() -> dict[str, str]:
    """One host device and no compilation cache: each point pays its own compile, and it is left out."""
    env = dict(os.environ)
    kept = [f for f in env.get("XLA_FLAGS", "").split() if not f.startswith("--xla_force_host_platform_device_count")]
    env["XLA_FLAGS"] = " ".join([*kept, "--xla_force_host_platform_device_count=1"])
    env["BNNLANG_NO_CACHE"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def run_child(point: Point, data: str | None, timeout: float, warmup: int) -> dict[str, Any]:
    spec = {
        "kind": point.kind,
        "width": point.width,
        "n": point.n,
        "steps": point.steps,
        "data": data,
        "warmup": warmup,
    }
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    tick = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=child_env(), cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "detail": f"timed out after {timeout:.0f} s", "wall_s": timeout}
    wall = time.perf_counter() - tick
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode == 0 and lines:
        return {"status": "ok", "wall_s": wall, **json.loads(lines[-1][len("RESULT ") :])}
    if proc.returncode < 0:
        why = f"killed by signal {-proc.returncode}" + (" (out of memory?)" if proc.returncode == -9 else "")
        return {"status": "killed", "detail": why, "wall_s": wall}
    tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1][:300]
    return {"status": "error", "detail": f"exit {proc.returncode}: {tail}", "wall_s": wall}


def make_points(plan: Plan) -> list[Point]:
    """Baseline, width sweep, N sweep(s), NUTS; a point shared by two sweeps runs once."""
    points: dict[tuple[str, int, int], Point] = {}

    def add(kind: str, width: int, n: int, steps: int, sweep: str) -> None:
        p = points.setdefault((kind, width, n), Point(kind, width, n, steps))
        p.sweeps.append(sweep)

    add("baseline", 0, 0, 0, "baseline")
    for w in plan.widths:
        for kind, table in (("sghmc", plan.sghmc_steps), ("svi", plan.svi_steps)):
            add(kind, w, plan.width_sweep_n, nearest(table, w), "width")
    for w in plan.n_sweep_widths:
        for n in plan.n_values:
            for kind, table in (("sghmc", plan.sghmc_steps), ("svi", plan.svi_steps)):
                add(kind, w, n, nearest(table, w), "n")
    for n in plan.nuts_n:
        add("nuts", NUTS_WIDTH, n, nearest(plan.nuts_samples, n), "nuts")
    return list(points.values())


def measure(plan: Plan, folder: Path, after_each: Callable[[list[Point], dict[int, float]], None]) -> None:
    """Run every point; `after_each` sees the points so far (so a run cut short still leaves its tables)."""
    ns = sorted({p.n for p in make_points(plan) if p.n})
    data_mib = {}
    for n in ns:
        x, y = synthetic(n)
        np.savez(folder / f"data{n}.npz", x=x, y=y)
        data_mib[n] = (x.nbytes + y.nbytes) / 2**20
    points = make_points(plan)
    for i, p in enumerate(points):
        data = str(folder / f"data{p.n}.npz") if p.n else None
        timeout = plan.nuts_timeout_s if p.kind == "nuts" else plan.timeout_s
        p.result = run_child(p, data, timeout, plan.nuts_warmup)
        r = p.result
        shown = f"{r['us_per_unit']:,.1f} µs/{r['unit']}" if r.get("us_per_unit") else r.get("detail", "")
        print(
            f"[{i + 1}/{len(points)}] {p.kind:8s} width {p.width:5d} N {p.n:9,d}: {r['status']} {shown}, "
            f"peak {r.get('peak_rss_mib', r.get('rss_after_import_mib', float('nan'))):,.0f} MiB, "
            f"{r['wall_s']:.1f} s",
            flush=True,
        )
        after_each(points, data_mib)


# -- tables ---------------------------------------------------------------------------------------------------


def fmt(v: float | None, digits: int = 1) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    return f"{v:,.{digits}f}" if abs(v) < 1000 else f"{v:,.0f}"


def cell(p: Point | None, key: str, digits: int = 1) -> str:
    """A number from a point, or why there is none (a failed point is a row that says so, never a gap)."""
    if p is None:
        return "not run"
    if p.result.get("status") != "ok":
        return p.result.get("detail") or p.result.get("status", "pending")
    return fmt(p.result.get(key), digits)


def ratio(a: Point | None, b: Point | None) -> str:
    ok = a and b and a.result.get("status") == "ok" and b.result.get("status") == "ok"
    return f"{a.result['us_per_unit'] / b.result['us_per_unit']:.2f}" if ok else "–"


def find(points: list[Point], kind: str, width: int, n: int) -> Point | None:
    return next((p for p in points if (p.kind, p.width, p.n) == (kind, width, n)), None)


def fits(plan: Plan, points: list[Point]) -> list[dict[str, Any]]:
    """Exponents of time against width (all widths, and the widest three), parameters and N."""
    ok = [p for p in points if p.result.get("status") == "ok" and p.result.get("us_per_unit")]
    out = []

    def fit(kind: str, against: str, at: int, chosen: list[Point]) -> None:
        xs = [{"width": p.width, "params": n_params(p.width), "n": p.n}[against] for p in chosen]
        k = loglog_slope(xs, [p.result["us_per_unit"] for p in chosen])
        if k is not None:
            out.append({"kind": kind, "against": against, "at": at, "lo": min(xs), "hi": max(xs), "points": len(xs)})
            out[-1]["exponent"] = k

    for kind in ("sghmc", "svi"):
        sweep = sorted((p for p in ok if p.kind == kind and p.n == plan.width_sweep_n), key=lambda p: p.width)
        sweep = [p for p in sweep if p.width in plan.widths]
        fit(kind, "width", plan.width_sweep_n, sweep)
        if len(sweep) > 3:
            fit(kind, "width", plan.width_sweep_n, sweep[-3:])
        fit(kind, "params", plan.width_sweep_n, sweep)
        for w in plan.n_sweep_widths:
            fit(kind, "n", w, sorted((p for p in ok if p.kind == kind and p.width == w), key=lambda p: p.n))
    nuts = sorted((p for p in ok if p.kind == "nuts"), key=lambda p: p.n)
    fit("nuts", "n", NUTS_WIDTH, nuts)
    if len(nuts) > 2:
        fit("nuts", "n", NUTS_WIDTH, nuts[1:])
    return out


NAMES = {"sghmc": "SG-HMC µs per gradient", "svi": "SVI µs per step", "nuts": "NUTS µs per leapfrog"}


def fit_lines(found: list[dict[str, Any]]) -> list[str]:
    rows = ["| time | against | range | at | points | exponent | reading |", "|---|---|---|---|---|---|---|"]
    for f in found:
        at = f"N = {f['at']:,}" if f["against"] in ("width", "params") else f"width {f['at']}"
        rows.append(
            f"| {NAMES[f['kind']]} | {f['against']} | {f['lo']:,}–{f['hi']:,} | {at} | {f['points']} "
            f"| {f['exponent']:.2f} | {describe_exponent(f['exponent'])} |"
        )
    return rows


def statements(found: list[dict[str, Any]]) -> list[str]:
    """One sentence per fit, from the numbers: the growth rates the issue asks to state."""
    lines = []
    for f in found:
        var = {"width": "width", "params": "parameters", "n": "N"}[f["against"]]
        at = f"N = {f['at']:,}" if f["against"] != "n" else f"width {f['at']}"
        lines.append(
            f"- {NAMES[f['kind']]} grows as {var}^{f['exponent']:.2f} over {var} {f['lo']:,}–{f['hi']:,} at {at} "
            f"({describe_exponent(f['exponent']) or 'see the table'})."
        )
    return lines


def report(plan: Plan, quick: bool, points: list[Point], data_mib: dict[int, float], found: list[dict]) -> str:
    from provenance import provenance

    base = next(p for p in points if p.kind == "baseline").result
    base_rss = base.get("rss_after_import_mib") if base.get("status") == "ok" else None
    n0 = plan.width_sweep_n

    def rss(p: Point | None) -> str:
        if p is None or p.result.get("status") != "ok":
            return cell(p, "peak_rss_mib", 0)
        inc = p.result["peak_rss_mib"] - base_rss if base_rss else None
        return f"{fmt(p.result['peak_rss_mib'], 0)} (+{fmt(inc, 0)})"

    width_rows = []
    for w in plan.widths:
        s, v = find(points, "sghmc", w, n0), find(points, "svi", w, n0)
        width_rows.append(
            f"| {w:,} | {n_params(w):,} | {cell(s, 'us_per_unit')} | {cell(v, 'us_per_unit')} | {ratio(v, s)} "
            f"| {rss(s)} | {rss(v)} | {cell(s, 'compile_s')} | {cell(v, 'compile_s')} |"
        )
    n_rows = []
    for w in plan.n_sweep_widths:
        for n in plan.n_values:
            s, v = find(points, "sghmc", w, n), find(points, "svi", w, n)
            n_rows.append(
                f"| {w} | {n:,} | {fmt(data_mib[n], 2)} | {cell(s, 'us_per_unit')} | {cell(v, 'us_per_unit')} "
                f"| {rss(s)} | {rss(v)} | {cell(s, 'load_s', 2)} | {cell(s, 'compile_s')} | {cell(v, 'compile_s')} |"
            )
    nuts_rows = []
    for n in plan.nuts_n:
        p = find(points, "nuts", NUTS_WIDTH, n)
        s = find(points, "sghmc", NUTS_WIDTH, n)
        per_lf = p.result.get("us_per_unit") if p and p.result.get("status") == "ok" else None
        saturated = fmt(1023 * per_lf / 1e6, 2) if per_lf else "–"
        nuts_rows.append(
            f"| {n:,} | {fmt(data_mib[n], 2)} | {cell(p, 'draws', 0)} | {cell(p, 'leapfrogs_per_draw', 0)} "
            f"| {cell(p, 'us_per_unit')} | {cell(p, 's_per_draw', 2)} | {saturated} "
            f"| {cell(s, 'us_per_unit') if s else 'not run'} | {ratio(p, s)} | {rss(p)} | {cell(p, 'compile_s')} |"
        )
    failed = [p for p in points if p.result and p.result.get("status") != "ok"]
    pending = [p for p in points if not p.result]
    widest = max(plan.widths)
    draws_gib = n_params(widest) * 4 / 2**30
    extra = (
        "Each point ran in its own process, one after another, on one JAX CPU device "
        "(`--xla_force_host_platform_device_count=1`; XLA may still use both cores inside one matrix product) with "
        "the compilation cache off (`BNNLANG_NO_CACHE=1`)." + (" **--quick**: small settings." if quick else "")
    )
    return "\n".join(
        [
            "# Scaling: SG-HMC, SVI and NUTS cost against network width and N",
            "",
            provenance(extra),
            "",
            f"Model: x ({INPUT_DIM} inputs) → dense(W, tanh) → dense(W, tanh) → dense(1), Normal(0, 1) weights and "
            "biases, Gamma(3, 1) noise precision (the canonical BNN of `shared/notes/baselines.md` with "
            f"{INPUT_DIM} inputs). Data: x uniform on [-2, 2]^{INPUT_DIM}, y = sin(x·a) + 0.5 tanh(x·b) + 0.1 "
            "noise, float32, NPZ. Every time leaves compilation out. SG-HMC: 1 chain, minibatch "
            f"{SGHMC_BATCH} rows (its default size), leapfrog 1, init uniform, the backend's `per_gradient_us`. "
            f"SVI: mean-field guide (`guide = normal`), minibatch {SVI_BATCH} rows (`batch_size`), one draw per "
            "step, init uniform, the backend's `step_us`. NUTS: 1 chain, full-data gradients, max tree depth "
            f"{NUTS_MAX_TREE_DEPTH} (default 10), {plan.nuts_warmup} warmup draws (see notes). Memory: peak resident "
            "set of the point's process in MiB, "
            "and in brackets its increase over a process that only imports JAX, NumPyro and bnnlang and starts "
            f"JAX's CPU backend ({fmt(base_rss, 0)} MiB).",
            "",
            f"## Width (N = {n0:,})",
            "",
            "| width | params | SG-HMC µs/gradient | SVI µs/step | SVI step ÷ SG-HMC gradient | SG-HMC peak MiB "
            "| SVI peak MiB | SG-HMC compile s | SVI compile s |",
            "|" + "---|" * 9,
            *width_rows,
            "",
            "## N",
            "",
            "| width | N | data MiB | SG-HMC µs/gradient | SVI µs/step | SG-HMC peak MiB | SVI peak MiB "
            "| load + check s | SG-HMC compile s | SVI compile s |",
            "|" + "---|" * 10,
            *n_rows,
            "",
            f"## NUTS against N (width {NUTS_WIDTH})",
            "",
            "| N | data MiB | draws | leapfrogs/draw | NUTS µs/leapfrog | NUTS s/draw | s/draw if depth 10 saturates "
            "(1023 leapfrogs) | SG-HMC µs/gradient | NUTS leapfrog ÷ SG-HMC gradient | NUTS peak MiB "
            "| NUTS compile s |",
            "|" + "---|" * 11,
            *nuts_rows,
            "",
            "## Growth rates",
            "",
            *fit_lines(found),
            "",
            *statements(found),
            "",
            *(
                ["## Points that did not finish", ""]
                + [f"- {p.kind}, width {p.width}, N = {p.n:,}: {p.result.get('detail')}" for p in failed]
                + [""]
                if failed
                else []
            ),
            *(
                [
                    f"**Incomplete: {len(pending)} of {len(points)} points not run yet** (the files are rewritten after "
                    "every point; a run cut short leaves its pending cells marked `pending`).",
                    "",
                ]
                if pending
                else []
            ),
            "Notes:",
            "- compile s = time JAX spent tracing, lowering and compiling during the backend call (the union of "
            "JAX's `jax.monitoring` compile events), for scale; it is not in any µs figure. load + check s = "
            "`Model.data` (NPZ read and checks) and `Model.problem`.",
            "- SG-HMC with leapfrog 1 does its per-step work (schedule, the select that fills the kept-draw "
            "buffer) every gradient; at the default leapfrog 20 that is shared by 20 gradients, so wide networks "
            "may cost a little less per gradient there. Its first jitted chunk "
            f"({SGHMC_CHUNK} gradients, with the compile) is left out of the timing.",
            "- NUTS is timed with the kernel bnnlang's nuts backend builds (NumPyro `NUTS` with the backend's "
            "settings, on the generated model and the data `Model.problem` binds) but driven directly: the backend "
            "runs warmup and sampling in one call and NumPyro counts leapfrogs only for kept draws, so its time "
            f"cannot be split per leapfrog. Here {plan.nuts_warmup} warmup draws run first (with the compile), then "
            "one sampling call; its time less the compile events inside it, over its exact leapfrog count, is "
            f"µs/leapfrog. Max tree depth {NUTS_MAX_TREE_DEPTH} (≤ {2**NUTS_MAX_TREE_DEPTH - 1} leapfrogs per draw) "
            "keeps N = 1e5 within the time budget; the cost of a leapfrog does not depend on it, the leapfrogs "
            "per draw do, and after so short a warmup they are not what a long run would see. The saturated "
            "column is arithmetic (1023 × µs/leapfrog): with the default depth 10, NUTS on this BNN hits the "
            "limit on nearly every draw once adapted (`shared/notes/baselines.md`).",
            f"- Memory the defaults would hold, by arithmetic (float32): one draw of the width-{widest} network is "
            f"{n_params(widest):,} × 4 bytes = {draws_gib * 1024:,.1f} MiB, so SVI's default 1000 draws hold "
            f"{1000 * draws_gib:,.1f} GiB and SG-HMC's default 4 chains × 500 draws {2000 * draws_gib:,.1f} GiB "
            f"(here {SGHMC_KEPT} draws each, for timing).",
            "- The exponents over all widths mix fixed per-step costs (dominant at width 50) with the matrix "
            "products (dominant at 1000–2000): the fit over the widest three widths is the asymptotic rate. Two "
            "hidden layers have ~width² parameters, so width^2 = params^1.",
            "- One process per point, one run each: a busy spell on this shared 2-core machine moves a single "
            "number by ±10% (compute-bound, wide) to ±50% (dispatch-bound, narrow). One point off by 1.5× moves "
            "the five-width exponent by at most ~0.1: read exponents to ±0.1-0.2. Peak memory includes XLA's "
            "compiler working memory and JAX's thread pools, not only arrays.",
            "",
        ]
    )


def to_json(plan: Plan, quick: bool, points: list[Point], data_mib: dict[int, float], found: list[dict]) -> dict:
    from provenance import facts

    base = next(p for p in points if p.kind == "baseline").result
    base_rss = base.get("rss_after_import_mib") if base.get("status") == "ok" else None
    rows = []
    for p in points:
        r = {"kind": p.kind, "sweeps": p.sweeps, "width": p.width or None, "n": p.n or None, **p.result}
        r.setdefault("status", "pending")
        r["params"] = n_params(p.width) if p.width else None
        r["data_mib"] = data_mib.get(p.n)
        r.setdefault("detail", None)
        if base_rss is not None and r.get("peak_rss_mib") is not None and p.kind != "baseline":
            r["rss_increment_mib"] = r["peak_rss_mib"] - base_rss
        if p.kind == "baseline" and r.get("status") == "ok":
            r["peak_rss_mib"] = r["rss_after_import_mib"]
        rows.append(r)
    settings = {
        "input_dim": INPUT_DIM,
        "sghmc_batch": SGHMC_BATCH,
        "svi_batch": SVI_BATCH,
        "sghmc_leapfrog": 1,
        "nuts_max_tree_depth": NUTS_MAX_TREE_DEPTH,
        "nuts_warmup": plan.nuts_warmup,
        "nuts_samples": {str(k): v for k, v in plan.nuts_samples.items()},
        "nuts_width": NUTS_WIDTH,
        "width_sweep_n": plan.width_sweep_n,
        "widths": list(plan.widths),
        "n_values": list(plan.n_values),
        "n_sweep_widths": list(plan.n_sweep_widths),
        "nuts_n": list(plan.nuts_n),
        "timeout_s": plan.timeout_s,
        "nuts_timeout_s": plan.nuts_timeout_s,
    }
    return {
        "benchmark": "scaling",
        "quick": quick,
        "provenance": facts(),
        "settings": settings,
        "baseline_rss_mib": base_rss,
        "points": rows,
        "fits": found,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="two widths, two N, NUTS at N 100 and 1000, short runs")
    ap.add_argument("-o", "--out", default=str(DEFAULT_OUT), help="markdown file (the JSON goes beside it)")
    ap.add_argument("--child", help=argparse.SUPPRESS)  # internal: run one point and print its result
    args = ap.parse_args(argv)
    if args.child:
        child_main(args.child)
        return
    plan = QUICK if args.quick else FULL
    os.environ["XLA_FLAGS"] = child_env()["XLA_FLAGS"]  # so the provenance records what the children ran with
    tick = time.perf_counter()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def write(points: list[Point], data_mib: dict[int, float]) -> None:
        found = fits(plan, points)
        out.write_text(report(plan, args.quick, points, data_mib, found), encoding="utf-8")
        record = to_json(plan, args.quick, points, data_mib, found)
        record["complete"] = all(p.result for p in points)
        record["total_s"] = time.perf_counter() - tick
        out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")

    with tempfile.TemporaryDirectory() as tmp:
        measure(plan, Path(tmp), write)
    print(f"wrote {out} and {out.with_suffix('.json')} in {time.perf_counter() - tick:.0f} s", flush=True)


if __name__ == "__main__":
    main()
