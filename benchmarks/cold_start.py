"""Cold start: how long `bnnc check` and `bnnc fmt` take, and where a first `bnnc run` spends its time.

`check` and `fmt` run as a user runs them, in fresh processes (median and fastest of `--repeats`). The first
run of the 1-D example (examples/regression_1d.bnn, NUTS 2 chains x 400 + 400 on 2 host devices) runs in a
fresh process with JAX's persistent compilation cache off, timed stage by stage:
import bnnlang, import JAX and NumPyro, parse and check, generate and load the NumPyro program, load and
check the data, then `Model.run` twice with the same seed. The second run reuses the first one's compiled
programs, so it is the sampling; the first minus the second is tracing and compiling (an estimate: the two
runs' sampling times differ by the machine's noise).

    python benchmarks/cold_start.py [--repeats 5] [-o benchmarks/results/cold_start.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "regression_1d.bnn"
DATA = ROOT / "examples" / "data" / "regression_1d.csv"

STAGES = r"""
import json, sys, time
t = [time.perf_counter()]
from bnnlang.infer.setup import configure_devices
configure_devices(2)
import bnnlang.api
t.append(time.perf_counter())
import jax, numpyro
t.append(time.perf_counter())
model = bnnlang.api.Model.from_file(sys.argv[1])
t.append(time.perf_counter())
model.module
t.append(time.perf_counter())
bound = model.data(sys.argv[2])
t.append(time.perf_counter())
model.run(bound, seed=0)
t.append(time.perf_counter())
model.run(bound, seed=0)
t.append(time.perf_counter())
names = ["import bnnlang", "import JAX, NumPyro", "parse and check", "generate and load the program",
         "load and check the data", "first run", "second run"]
print(json.dumps(dict(zip(names, [b - a for a, b in zip(t, t[1:])]))))
"""


def bnnc(*args: str) -> list[str]:
    return [sys.executable, "-c", "from bnnlang.cli import entry; entry()", *args]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{cmd} failed:\n{done.stderr}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("-o", "--out", default=str(ROOT / "benchmarks" / "results" / "cold_start.md"))
    args = ap.parse_args()
    env = {**os.environ, "BNNLANG_NO_CACHE": "1", "PYTHONPATH": str(ROOT)}
    env.pop("XLA_FLAGS", None)

    rows = []
    for name, cmd in [
        ("python -c pass (the floor)", [sys.executable, "-c", "pass"]),
        ("bnnc check", bnnc("check", str(EXAMPLE))),
        ("bnnc check --data", bnnc("check", str(EXAMPLE), "--data", str(DATA))),
        ("bnnc fmt", bnnc("fmt", str(EXAMPLE))),
    ]:
        times = [timed(cmd, env) for _ in range(args.repeats)]
        rows.append(f"| {name} | {statistics.median(times):.2f} | {min(times):.2f} |")
        print(rows[-1], flush=True)

    out = subprocess.run(
        [sys.executable, "-c", STAGES, str(EXAMPLE), str(DATA)], capture_output=True, text=True, env=env
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    stages = json.loads(out.stdout.strip().splitlines()[-1])
    first, second = stages.pop("first run"), stages.pop("second run")
    stages["run: tracing and compiling (first run - second)"] = first - second
    stages["run: sampling and summary (second run)"] = second
    total = sum(stages.values())
    stage_rows = [f"| {k} | {v:.2f} | {100 * v / total:.0f}% |" for k, v in stages.items()]
    stage_rows.append(f"| total | {total:.2f} | 100% |")
    print("\n".join(stage_rows))

    import jax

    text = "\n".join(
        [
            "# Cold start",
            "",
            f"Written by `benchmarks/cold_start.py --repeats {args.repeats}` on {datetime.now():%Y-%m-%d %H:%M}; "
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"JAX {jax.__version__}; JAX's compilation cache off. Seconds of wall time, fresh processes.",
            "",
            f"## `bnnc check` and `bnnc fmt` on {EXAMPLE.name} ({args.repeats} runs each)",
            "",
            "| command | median s | fastest s |",
            "|---|---|---|",
            *rows,
            "",
            "## A first `bnnc run` of the 1-D example, stage by stage (one process)",
            "",
            "| stage | s | share |",
            "|---|---|---|",
            *stage_rows,
        ]
    )
    Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
