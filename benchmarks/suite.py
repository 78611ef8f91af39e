"""The benchmark suite in one command: every script in turn, its tables, and an index of what ran.

    python benchmarks/suite.py --quick          # CI-sized (about 10 minutes on 2 cores): each script's --quick
    python benchmarks/suite.py                  # the full tables (hours; see each script for its own time)
    python benchmarks/suite.py --only uci,scaling --out /tmp/bench

Each script runs in a fresh process (they set their own XLA flags before JAX starts) and writes
OUT/NAME.md and, for the suite's own checks, OUT/NAME.json; its output goes to OUT/logs/NAME.log. OUT/index.md
and OUT/index.json say what ran, on what, for how long, and what was skipped or failed and why. A script that
exits 2 lacks something outside this repo (PyMC's virtual environment, the UCI data): it is skipped, not failed.
The quick tables check the scripts, not the methods: their numbers come from short runs. The exit status is 1
when any script failed.

Defaults: --quick writes to benchmarks/results/quick/ (not committed); the full suite to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from provenance import facts, provenance

HERE = Path(__file__).resolve().parent
SKIPPED = 2  # a script's exit code for "a prerequisite outside the repo is missing"


@dataclass(frozen=True)
class Bench:
    """One script of the suite: how to run it quick and full, and where it writes."""

    name: str  # results file stem: OUT/NAME.md and OUT/NAME.json
    script: str
    what: str
    out_flag: str = "--out"
    quick_args: tuple[str, ...] = ("--quick",)
    full_args: tuple[str, ...] = ()
    quick: bool = True  # part of the quick suite
    timeout_s: float = 900.0  # quick; the full mode gets 24 h


SUITE: tuple[Bench, ...] = (
    Bench("cold_start", "cold_start.py", "`bnnc check`/`fmt` wall time; a first run split by stage", "-o"),
    Bench("overhead", "overhead.py", "SG-HMC and SVI against the raw gradient, BlackJAX and hand-written SVI", "-o"),
    Bench(
        "nuts_overhead", "nuts_overhead.py", "NUTS per leapfrog against hand-written NumPyro; predictive ESS/s", "-o"
    ),
    Bench("lsp_latency", "lsp_latency.py", "`bnnc lsp`: diagnostics after an edit of each example", "-o"),
    Bench(
        "layers_speed", "layers_speed.py", "compiled CNN and transformer against hand-written JAX, per gradient", "-o"
    ),
    Bench("refits", "refits.py", "a loop of NUTS refits in one process: time against sampling, memory, compiles", "-o"),
    Bench(
        "scaling",
        "scaling.py",
        "SG-HMC and SVI per-step time and memory against width and N; NUTS against N",
        "-o",
        quick=False,  # nine fresh processes, 3-4 minutes even --quick: tests/test_benchmark_suite.py runs it -m slow
    ),
    Bench("uci", "uci.py", "UCI regression, every backend, beside published results", full_args=("--splits", "all")),
    Bench("pymc", "pymc_compare.py", "the same BNN in PyMC (NUTS, ADVI) and in bnnlang", "-o"),
    Bench("backends_1d", "backends_1d.py", "each backend's defaults on the 1-D gap example", "-o", quick=False),
    Bench("mile_1d", "mile_1d.py", "MILE against cold and ensemble-started NUTS, 1-D gap", quick=False),
    Bench("warm_start", "warm_start.py", "a warm-started update against a cold run, 1-D gap", quick=False),
    Bench("gp", "gp.py", "sparse against exact GPs; deep kernel learning", quick=False),
    Bench("sbc", "sbc.py", "simulation-based calibration of NUTS", quick=False),
    Bench("noncentered", "noncentered.py", "centred against non-centred hierarchical sites", "-o", quick=False),
    Bench(
        "digits",
        "mnist1d.py",
        "Bayesian and partially Bayesian CNNs on 8x8 digits against MAP and a deep ensemble",
        quick_args=("--data", "digits", "--quick"),
        full_args=("--data", "digits"),
    ),
    Bench("mnist1d", "mnist1d.py", "a Bayesian 1-D CNN on MNIST-1D against MAP and a deep ensemble", quick=False),
)


def run_one(bench: Bench, out: Path, quick: bool) -> dict:
    """Run one script; its status ('ok', 'skipped' or 'failed'), seconds, and its log's last lines when not ok."""
    args = bench.quick_args if quick else bench.full_args
    cmd = [sys.executable, str(HERE / bench.script), *args, bench.out_flag, str(out / f"{bench.name}.md")]
    log = out / "logs" / f"{bench.name}.log"
    t0 = time.perf_counter()
    with log.open("w", encoding="utf-8") as f:
        try:
            code = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=bench.timeout_s if quick else 86400)
            code = code.returncode
        except subprocess.TimeoutExpired:
            code = None
    seconds = time.perf_counter() - t0
    status = "ok" if code == 0 else "skipped" if code == SKIPPED else "failed"
    record = {"name": bench.name, "status": status, "seconds": round(seconds, 1), "command": cmd[1:]}
    if status != "ok":
        tail = [ln for ln in log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()][-3:]
        record["why"] = "timed out" if code is None else " / ".join(ln.strip() for ln in tail)[-500:]
    return record


def index(records: list[dict], quick: bool) -> str:
    """The suite's front page: provenance, then one row per script."""
    rows = []
    by_name = {b.name: b for b in SUITE}
    for r in records:
        link = f"[{r['name']}.md]({r['name']}.md)" if r["status"] == "ok" else r.get("why", "").replace("|", "/")
        rows.append(f"| {r['name']} | {by_name[r['name']].what} | {r['status']} | {r['seconds']:.0f} | {link} |")
    mode = "quick (each script's --quick: checks the scripts, not the methods)" if quick else "full"
    return "\n".join(
        [
            f"# Benchmark suite: {mode}",
            "",
            provenance("Written by `benchmarks/suite.py" + (" --quick" if quick else "") + "`."),
            "",
            "| benchmark | what | status | s | tables (or why not) |",
            "|---|---|---|---|---|",
            *rows,
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="each script's --quick: minutes, not hours")
    ap.add_argument("--only", help="comma-separated names, from " + ",".join(b.name for b in SUITE))
    ap.add_argument("--out", help="folder for the tables (default benchmarks/results[/quick])")
    args = ap.parse_args(argv)
    chosen = [b for b in SUITE if b.quick or not args.quick]
    if args.only:
        names = args.only.split(",")
        unknown = sorted(set(names) - {b.name for b in SUITE})
        if unknown:
            ap.error(f"unknown benchmark(s): {', '.join(unknown)}")
        chosen = [b for b in SUITE if b.name in names]
    out = Path(args.out or HERE / "results" / ("quick" if args.quick else ""))
    (out / "logs").mkdir(parents=True, exist_ok=True)
    records = []
    for bench in chosen:
        print(f"suite: {bench.name} ...", file=sys.stderr, flush=True)
        records.append(run_one(bench, out, args.quick))
        print(f"suite: {bench.name}: {records[-1]['status']} in {records[-1]['seconds']:.0f} s", file=sys.stderr)
        (out / "index.md").write_text(index(records, args.quick), encoding="utf-8")
        summary = {"quick": args.quick, "benchmarks": records, "provenance": facts()}
        (out / "index.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    failed = [r["name"] for r in records if r["status"] == "failed"]
    if failed:
        print(f"suite: failed: {', '.join(failed)} (logs in {out / 'logs'})", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
