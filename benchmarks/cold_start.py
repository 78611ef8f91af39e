"""Cold start: how long `bnnc check` and `bnnc fmt` take, and where a first `bnnc run` spends its time.

`check` and `fmt` run as a user runs them, in fresh processes (median and fastest of `--repeats`). The first
run of the 1-D example (examples/regression_1d.bnn, NUTS 2 chains x 400 + 400 on 2 host devices) runs in a
fresh process with JAX's persistent compilation cache off, timed stage by stage:
import bnnlang, import JAX and NumPyro, parse and check, generate and load the NumPyro program, load and
check the data, then `Model.run`. JAX's own duration events (`jax.monitoring`) split the run: tracing Python
into jaxprs, lowering them to MLIR and XLA's compiling, summed over every program compiled; the rest is
sampling, NumPyro's Python-level setup and the summary. (An earlier version took a second identical run as
the sampling time and the difference as compiling; on a busy machine that difference came out negative.)

    python benchmarks/cold_start.py [--repeats 5] [-o benchmarks/results/cold_start.md]
    python benchmarks/cold_start.py --quick   # 2 repeats, the run with 100 + 100 draws per chain

Beside the markdown, FILE.json holds {"commands": {name: {"median_s", "fastest_s"}}, "stages": {name: s},
"total_s", "settings", "provenance"}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from provenance import facts, provenance

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "regression_1d.bnn"
DATA = ROOT / "examples" / "data" / "regression_1d.csv"

STAGES = r"""
import collections, json, sys, time
t = [time.perf_counter()]
from bnnlang.infer.devices.setup import configure_devices
configure_devices(2)
import bnnlang.api
t.append(time.perf_counter())
import jax, numpyro
from jax import monitoring
jit = collections.Counter()
monitoring.register_event_duration_secs_listener(lambda name, secs, **kw: jit.update({name: secs}))
t.append(time.perf_counter())
model = bnnlang.api.Model.from_file(sys.argv[1])
t.append(time.perf_counter())
model.module
t.append(time.perf_counter())
bound = model.data(sys.argv[2])
t.append(time.perf_counter())
model.run(bound, seed=0, **json.loads(sys.argv[3]))
t.append(time.perf_counter())
names = ["import bnnlang", "import JAX, NumPyro", "parse and check", "generate and load the program",
         "load and check the data", "run"]
stages = dict(zip(names, [b - a for a, b in zip(t, t[1:])]))
prefix = "/jax/core/compile/"
stages["jit"] = {k[len(prefix):]: v for k, v in jit.items() if k.startswith(prefix)}
print(json.dumps(stages))
"""


# JAX's own duration events (jax.monitoring), summed over every program the run compiles.
JIT_EVENTS = {
    "jaxpr_trace_duration": "tracing Python to jaxprs",
    "jaxpr_to_mlir_module_duration": "lowering to MLIR",
    "backend_compile_duration": "XLA compiling",
}


def bnnc(*args: str) -> list[str]:
    return [sys.executable, "-c", "from bnnlang.cli import entry; entry()", *args]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{cmd} failed:\n{done.stderr}")
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, help="fresh processes per command (default 5; --quick 2)")
    ap.add_argument("--quick", action="store_true", help="2 repeats; the run draws 100 + 100 per chain")
    ap.add_argument("-o", "--out", default=str(ROOT / "benchmarks" / "results" / "cold_start.md"))
    args = ap.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 5)
    settings = {"warmup": 100, "samples": 100} if args.quick else {}
    env = {**os.environ, "BNNLANG_NO_CACHE": "1", "PYTHONPATH": str(ROOT)}
    env.pop("XLA_FLAGS", None)

    rows, commands = [], {}
    for name, cmd in [
        ("python -c pass (the floor)", [sys.executable, "-c", "pass"]),
        ("bnnc check", bnnc("check", str(EXAMPLE))),
        ("bnnc check --data", bnnc("check", str(EXAMPLE), "--data", str(DATA))),
        ("bnnc fmt", bnnc("fmt", str(EXAMPLE))),
    ]:
        times = [timed(cmd, env) for _ in range(repeats)]
        commands[name] = {"median_s": statistics.median(times), "fastest_s": min(times)}
        rows.append(f"| {name} | {statistics.median(times):.2f} | {min(times):.2f} |")
        print(rows[-1], flush=True)

    out = subprocess.run(
        [sys.executable, "-c", STAGES, str(EXAMPLE), str(DATA), json.dumps(settings)],
        capture_output=True,
        text=True,
        env=env,
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr)
    stages = json.loads(out.stdout.strip().splitlines()[-1])
    run, jit = stages.pop("run"), stages.pop("jit")
    for event, label in JIT_EVENTS.items():
        stages[f"run: {label}"] = jit.get(event, 0.0)
    stages["run: sampling and the rest"] = run - sum(jit.get(e, 0.0) for e in JIT_EVENTS)
    total = sum(stages.values())
    stage_rows = [f"| {k} | {v:.2f} | {100 * v / total:.0f}% |" for k, v in stages.items()]
    stage_rows.append(f"| total | {total:.2f} | 100% |")
    print("\n".join(stage_rows))

    flags = " --quick" if args.quick else ""
    run_settings = ", ".join(f"{k} {v}" for k, v in settings.items()) or "the example's own settings"
    text = "\n".join(
        [
            "# Cold start",
            "",
            provenance(
                f"Written by `benchmarks/cold_start.py{flags} --repeats {repeats}`; JAX's compilation cache off. "
                f"Seconds of wall time, fresh processes. The run: {run_settings}."
            ),
            "",
            f"## `bnnc check` and `bnnc fmt` on {EXAMPLE.name} ({repeats} runs each)",
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
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    record = {"commands": commands, "stages": stages, "total_s": total, "settings": settings, "provenance": facts()}
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
