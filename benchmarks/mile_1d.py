"""MILE against cold-started and ensemble-started NUTS on the 1-D gap example, side by side in one run.

Each configuration runs in a fresh process (2 host devices), first with JAX's persistent compilation
cache off, so the wall time includes what a user's first run pays (tracing, compiling, the ensemble fit,
tuning, sampling), then twice more sharing a fresh cache: the second of those is a user's second run of
the model, with the compilations read from the cache. Reported per configuration: wall time of `Model.run`, its sampling part, the held-out log
predictive density per row and RMSE (examples/data/regression_1d_test.csv), and the epistemic variance in
the gap (|x| < 0.3) over that in the data (0.8 < |x| < 1.8).

    python benchmarks/mile_1d.py [--quick] [--out benchmarks/results/mile_1d.md]
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

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "regression_1d.bnn"
DATA = ROOT / "examples" / "data"

CONFIGS = {
    "nuts (cold start)": {"backend": "nuts", "chains": 4},
    "nuts (ensemble starts)": {"backend": "nuts", "chains": 4, "init": "ensemble"},
    "mile": {"backend": "mile", "chains": 4},
}
QUICK = {"warmup": 100, "samples": 100}

CHILD = r"""
import json, sys, time
import numpy as np
import bnnlang
from bnnlang.posterior.predict import variance_split
model = bnnlang.load(sys.argv[1])
overrides = json.loads(sys.argv[3])
t0 = time.perf_counter()
run = model.run(sys.argv[2] + "/regression_1d.csv", **overrides)
wall = time.perf_counter() - t0
lpd = run.log_predictive_density(sys.argv[2] + "/regression_1d_test.csv")["y"]
test = model.data(sys.argv[2] + "/regression_1d_test.csv")
table = run.predict(test)
rmse = float(np.sqrt(np.mean((table["y.mean"] - test.arrays["y"]) ** 2)))
x = np.linspace(-2.0, 2.0, 201).reshape(-1, 1).astype(np.float32)
grid = bnnlang.check.data.BoundData({"x": x}, {**run.record.dims, "N": len(x)}, "<grid>")
d = run.predictive_draws(grid)["y"]
_, _, epi = variance_split(d["mean"], d["var"])
xs = x[:, 0]
ratio = float(epi[np.abs(xs) < 0.3].mean() / epi[(np.abs(xs) > 0.8) & (np.abs(xs) < 1.8)].mean())
t = run.timings
print(json.dumps({
    "wall_s": wall,
    "sampling_s": t.get("sampling_s", 0.0) + t.get("tune_s", 0.0),
    "ensemble_s": t.get("ensemble_s", 0.0),
    "test_lpd": float(np.mean(lpd)),
    "test_lpd_rows": np.asarray(lpd, dtype=float).tolist(),
    "test_rmse": rmse,
    "gap_ratio": ratio,
    "first_draws": np.asarray(run.idata.posterior["sigma"].values[:, :5], dtype=float).tolist(),
    "gradients": run.summary.get("run", {}).get("leapfrogs") or run.summary.get("run", {}).get("gradient_budget"),
}))
"""


def run_config(overrides: dict, cache: str | None = None, devices: int = 2) -> dict:
    """One run in a fresh process; `cache`: a compilation-cache folder (None: no cache, everything compiles)."""
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    if cache is None:
        env["BNNLANG_NO_CACHE"] = "1"
    else:
        env["XDG_CACHE_HOME"] = cache
    cmd = [sys.executable, "-c", CHILD, str(EXAMPLE), str(DATA), json.dumps(overrides)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def devices_table(quick: bool) -> str:
    """MILE's members on 1 and on 2 devices: wall time (second run, compile cached) and whether draws agree."""
    lines = ["| devices | wall s, 2nd run | ensemble s | sampling s | first sigma draws |", "|---|---|---|---|---|"]
    cfg = {**CONFIGS["mile"], **(QUICK if quick else {})}
    for devices in (1, 2):
        with tempfile.TemporaryDirectory() as cache:
            run_config(cfg, cache, devices)
            r = run_config(cfg, cache, devices)
        draws = ", ".join(f"{v:.6f}" for v in r["first_draws"][0][:3])
        lines.append(f"| {devices} | {r['wall_s']:.1f} | {r['ensemble_s']:.1f} | {r['sampling_s']:.1f} | {draws} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few draws: checks the script, not the method")
    ap.add_argument("--out", help="write the markdown table here")
    ap.add_argument("--devices", action="store_true", help="only compare MILE on 1 and 2 devices")
    args = ap.parse_args()
    if args.devices:
        table = devices_table(args.quick)
        print(table)
        if args.out:
            Path(args.out).write_text(table + "\n", encoding="utf-8")
        return
    rows, warm = {}, {}
    for name, overrides in CONFIGS.items():
        cfg = {**overrides, **(QUICK if args.quick else {})}
        rows[name] = run_config(cfg)
        print(name, rows[name], file=sys.stderr)
        with tempfile.TemporaryDirectory() as cache:  # a user's second run: compilations come from the cache
            run_config(cfg, cache)
            warm[name] = run_config(cfg, cache)
        print(name, "warm", warm[name], file=sys.stderr)
    base, base_warm = rows["nuts (cold start)"]["wall_s"], warm["nuts (cold start)"]["wall_s"]
    lines = [
        "| configuration | wall s | of NUTS's | wall s, 2nd run | of NUTS's | sampling s | ensemble s "
        "| test LPD/row | LPD - NUTS's (paired se) | test RMSE | gap/data epistemic var |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    base_rows = np.asarray(rows["nuts (cold start)"]["test_lpd_rows"])
    for name, r in rows.items():
        w = warm[name]["wall_s"]
        diff = np.asarray(r["test_lpd_rows"]) - base_rows  # same test rows: the paired difference's standard error
        se = diff.std(ddof=1) / np.sqrt(len(diff))
        lines.append(
            f"| {name} | {r['wall_s']:.1f} | {r['wall_s'] / base:.2f} | {w:.1f} | {w / base_warm:.2f} | "
            f"{r['sampling_s']:.1f} | {r['ensemble_s']:.1f} | {r['test_lpd']:.3f} | {diff.mean():+.3f} ({se:.3f}) | "
            f"{r['test_rmse']:.3f} | "
            f"{r['gap_ratio']:.1f} |"
        )
    table = "\n".join(lines)
    print(table)
    if args.out:
        Path(args.out).write_text(table + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
