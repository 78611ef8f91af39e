"""Warm starts on the 1-D gap example: a sequential update from the previous posterior against a cold run.

The example (examples/regression_1d.bnn) is first run cold on its 100 rows (examples/data/regression_1d.csv).
Then 10 new rows arrive, drawn the way examples/data/make_data.py draws that file (y = sin(3x) + 0.1 noise, x
uniform on [-2, -0.5] and [0.5, 2], outside the gap; another seed) and appended. On the 110 rows: a cold run, and a
warm update from the first run (`Model.run(data, init=first)`, its default short warmup), and the same update
keeping a quarter of the draws. Each run is a fresh process with 2 JAX devices (as `bnnc run` sets up 2 chains)
and no compilation cache, so every wall time includes what a user's run of new data shapes pays (tracing and
compiling). Reported per run: wall time of `Model.run`, its sampling part (NUTS's loop, or MILE's tuning and
sampling), the test log predictive density per row (examples/data/regression_1d_test.csv) and its difference to
the cold 110-row run's, with the paired standard error over the test rows (as benchmarks/mile_1d.py).

The target: the warm update reaches the cold run's test LPD within noise (|difference| <= 2 paired se) in at
most a quarter of its wall time.

    python benchmarks/warm_start.py [--backend nuts|mile] [--quick] [--out benchmarks/results/warm_start.md]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from provenance import facts, provenance

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "regression_1d.bnn"
DATA = ROOT / "examples" / "data"
NEW_ROWS, NEW_SEED = 10, 1  # make_data.py drew the 100 rows with seed 0 and the test rows with seed 100
QUICK = {"warmup": 100, "samples": 100}  # checks the script, not the method

CHILD = r"""
import json, sys, time
import numpy as np
import bnnlang
model = bnnlang.load(sys.argv[1])
overrides = json.loads(sys.argv[4])
if sys.argv[5]:
    overrides["init"] = sys.argv[5]
t0 = time.perf_counter()
run = model.run(sys.argv[2], out=sys.argv[6] or None, **overrides)
wall = time.perf_counter() - t0
lpd = run.log_predictive_density(sys.argv[3])["y"]
t, info = run.timings, run.summary.get("run", {})
print(json.dumps({
    "wall_s": wall,
    "sampling_s": t.get("sampling_s", 0.0) + t.get("tune_s", 0.0),
    "ensemble_s": t.get("ensemble_s", 0.0),
    "warm_start_s": t.get("warm_start_s", 0.0),
    "backend": run.record.backend,
    "warmup": run.record.settings.get("warmup"),
    "samples": run.record.settings.get("samples"),
    "leapfrogs_per_draw": info.get("mean_leapfrogs_per_draw"),
    "test_lpd": float(np.mean(lpd)),
    "test_lpd_rows": [float(v) for v in np.asarray(lpd).ravel()],
}))
"""


def new_rows(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n rows drawn as examples/data/make_data.py's `regression_1d` draws its 100: half of x uniform on
    [-2, -0.5], half on [0.5, 2] (none in the gap), y = sin(3x) + 0.1 standard normal noise."""
    rng = np.random.default_rng(seed)
    x = np.sort(np.concatenate([rng.uniform(-2.0, -0.5, n // 2), rng.uniform(0.5, 2.0, n - n // 2)]))
    return x, np.sin(3 * x) + 0.1 * rng.standard_normal(n)


def grown_data(folder: Path) -> Path:
    """The example's rows with the new ones appended, as a CSV in `folder` (4 decimals, as make_data.py writes)."""
    x, y = new_rows(NEW_ROWS, NEW_SEED)
    text = (DATA / "regression_1d.csv").read_text(encoding="utf-8").rstrip("\n") + "\n"
    text += "".join(f"{a:.4f},{b:.4f}\n" for a, b in zip(x, y))
    path = folder / "regression_1d_110.csv"
    path.write_text(text, encoding="utf-8")
    return path


def run_child(data: Path, overrides: dict, init: str = "", out: str = "") -> dict:
    """One `Model.run` in a fresh process with 2 host devices and no compilation cache."""
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "BNNLANG_NO_CACHE": "1"}
    test = DATA / "regression_1d_test.csv"
    cmd = [sys.executable, "-c", CHILD, str(EXAMPLE), str(data), str(test), json.dumps(overrides), init, out]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(backend: str | None, quick: bool) -> dict[str, dict]:
    """The four runs, one after another: first (cold, 100 rows), cold on 110 rows, and two warm updates."""
    base = {**({"backend": backend} if backend else {}), **(QUICK if quick else {})}
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        first = str(Path(tmp) / "first")
        grown = grown_data(Path(tmp))
        rows["first run: cold, 100 rows"] = run_child(DATA / "regression_1d.csv", base, out=first)
        rows["cold, 110 rows"] = run_child(grown, base)
        warm = {k: v for k, v in base.items() if k != "warmup"}  # the warm start's own short warmup
        rows["warm update, 110 rows"] = run_child(grown, warm, init=first)
        quarter = {**warm, "samples": max(1, rows["cold, 110 rows"]["samples"] // 4)}
        rows["warm update, 110 rows, a quarter of the draws"] = run_child(grown, quarter, init=first)
        for name, r in rows.items():
            print(name, {k: v for k, v in r.items() if k != "test_lpd_rows"}, file=sys.stderr)
    return rows


def table(rows: dict[str, dict]) -> tuple[str, list[dict]]:
    """The markdown table against the cold 110-row run, and its rows as data."""
    cold = rows["cold, 110 rows"]
    cold_lpd = np.asarray(cold["test_lpd_rows"])
    lines = [
        "| run | warmup | draws/chain | wall s | of cold's | sampling s | of cold's | ensemble s | leapfrogs/draw "
        "| test LPD/row | LPD - cold's (paired se) | target |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    data = []
    for name, r in rows.items():
        diff = np.asarray(r["test_lpd_rows"]) - cold_lpd  # the same test rows: the paired difference's se
        se = float(diff.std(ddof=1) / np.sqrt(len(diff)))
        wall, sampling = r["wall_s"] / cold["wall_s"], r["sampling_s"] / cold["sampling_s"]
        target = ""
        if name.startswith("warm"):
            within = abs(diff.mean()) <= 2 * se
            target = f"LPD {'within' if within else 'outside'} noise, wall {'<=' if wall <= 0.25 else '>'} 1/4"
        leaps = r["leapfrogs_per_draw"]
        lines.append(
            f"| {name} | {r['warmup']} | {r['samples']} | {r['wall_s']:.1f} | {wall:.2f} | {r['sampling_s']:.1f} | "
            f"{sampling:.2f} | {r['ensemble_s']:.1f} | {'' if leaps is None else f'{leaps:.0f}'} | "
            f"{r['test_lpd']:.3f} | {diff.mean():+.3f} ({se:.3f}) | {target} |"
        )
        data.append({"run": name, **{k: v for k, v in r.items() if k != "test_lpd_rows"}, "lpd_diff": diff.mean()})
        data[-1].update({"lpd_diff_se": se, "wall_of_cold": wall, "sampling_of_cold": sampling})
    return "\n".join(lines), data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=("nuts", "mile"), help="default: the example's own infer statement")
    ap.add_argument("--quick", action="store_true", help="short runs: checks the script, not the method")
    ap.add_argument("--out", help="write the markdown table here (and the numbers as JSON beside it)")
    args = ap.parse_args()
    rows = measure(args.backend, args.quick)
    text, data = table(rows)
    backend = rows["cold, 110 rows"]["backend"]
    head = (
        f"# Warm starts on the 1-D gap example ({backend})\n\n"
        + provenance(
            f"`python benchmarks/warm_start.py{' --backend ' + args.backend if args.backend else ''}"
            f"{' --quick' if args.quick else ''}`: the example's settings otherwise; 2 chains, 2 JAX devices, "
            f"fresh processes, no compilation cache; {NEW_ROWS} new rows (seed {NEW_SEED})."
        )
        + "\n\n"
    )
    print(text)
    if args.out:
        out = Path(args.out)
        out.write_text(head + text + "\n", encoding="utf-8")
        record = {"backend": backend, "quick": args.quick, "rows": data, "provenance": facts()}
        out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
