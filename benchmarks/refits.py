"""A loop of refits in one process: time per refit against its sampling time, resident memory, compilations.

The loop a bandit, an active-learning step, SBC or cross-validation runs: the 1-D example
(examples/regression_1d.bnn, its 100 rows, from a DataFrame in memory) fitted again and again with a new seed
and data of the same shapes, through `Model.run`. Settings are the example's network with short chains so that
hundreds of refits fit in minutes: 2 chains, 100 warmup, 100 draws, max_tree_depth 6 (stated in the table).

Per refit: wall time of `Model.run`, its `sampling_s` (the backend's sampling loop), resident memory after it
(VmRSS) and the XLA compilations during it (`jax.monitoring`: XLA compilations, and traces, which happen even when the persistent compilation cache
spares the compile). Side by side in the same process, a few refits whose sampler is made the way runs made it
before samplers were kept: a new `MCMC` per run with the data as constants of its program (`jit_model_args`
off) and NumPyro's loop without a progress bar (`before_samplers_were_kept` below reproduces it); the rest of
those runs is today's code (the log-likelihood table, also compiled once now, included).

    python benchmarks/refits.py                # 200 refits (about 5 minutes on 2 cores)
    python benchmarks/refits.py --quick        # 20 refits
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import jax
import pandas as pd
from provenance import facts, provenance

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bnnlang.api import Model  # noqa: E402
from bnnlang.infer.backends import nuts  # noqa: E402

SETTINGS = dict(chains=2, warmup=100, samples=100, max_tree_depth=6)
WITHOUT_REUSE = 5  # refits whose sampler is made as before samplers were kept
COMPILES: list[str] = []
TRACES: list[str] = []


def before_samplers_were_kept(problem, s, chains, method, started, progress):
    """How the nuts backend made its sampler before samplers were kept (commit 6470b26): for the side-by-side."""
    mcmc = nuts.nuts_mcmc(problem.model, s, chains, method, progress, jit_model_args=False)
    return mcmc, problem.data


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def refit(model: Model, data: pd.DataFrame, seed: int) -> dict:
    before, traced = len(COMPILES), len(TRACES)
    tick = time.perf_counter()
    run = model.run(data, seed=seed, **SETTINGS)
    wall = time.perf_counter() - tick
    return {
        "traces": len(TRACES) - traced,
        "seed": seed,
        "wall_s": wall,
        "sampling_s": float(run.timings["sampling_s"]),
        "rss_mib": rss_mib(),
        "compiles": len(COMPILES) - before,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--refits", type=int, default=200)
    ap.add_argument("--quick", action="store_true", help="20 refits")
    ap.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "refits.md"))
    args = ap.parse_args(argv)
    n = 20 if args.quick else args.refits

    def listen(name: str, _secs: float, **_kw) -> None:
        if name.endswith("backend_compile_duration"):
            COMPILES.append(name)
        elif name.endswith("jaxpr_trace_duration"):
            TRACES.append(name)

    jax.monitoring.register_event_duration_secs_listener(listen)
    model = Model.from_file(ROOT / "examples" / "regression_1d.bnn")
    data = pd.read_csv(ROOT / "examples" / "data" / "regression_1d.csv")
    t0 = time.perf_counter()
    runs = []
    for i in range(n):
        runs.append(refit(model, data, i))
        if i % 10 == 9:
            r = runs[-1]
            print(f"refit {i + 1}: {r['wall_s']:.2f} s, sampling {r['sampling_s']:.2f} s, {r['rss_mib']:.0f} MiB")
    kept = nuts.sampler
    nuts.sampler = before_samplers_were_kept
    fresh = [refit(model, data, 10_000 + i) for i in range(WITHOUT_REUSE)]
    nuts.sampler = kept
    later = runs[1:]
    ten = runs[min(9, n - 1)]["rss_mib"]
    summary = {
        "refits": n,
        "first_wall_s": runs[0]["wall_s"],
        "mean_wall_s": statistics.mean(r["wall_s"] for r in later),
        "mean_sampling_s": statistics.mean(r["sampling_s"] for r in later),
        "max_compiles_after_first": max(r["compiles"] for r in later),
        "max_traces_after_first": max(r["traces"] for r in later),
        "fresh_mean_traces": statistics.mean(r["traces"] for r in fresh),
        "rss_after_10_mib": ten,
        "rss_after_last_mib": runs[-1]["rss_mib"],
        "fresh_mean_wall_s": statistics.mean(r["wall_s"] for r in fresh),
        "fresh_mean_sampling_s": statistics.mean(r["sampling_s"] for r in fresh),
        "fresh_mean_compiles": statistics.mean(r["compiles"] for r in fresh),
    }
    summary["wall_over_sampling"] = summary["mean_wall_s"] / summary["mean_sampling_s"]
    summary["rss_growth"] = summary["rss_after_last_mib"] / ten - 1
    summary["took_s"] = time.perf_counter() - t0
    text = report(summary)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    record = {"quick": args.quick, "settings": SETTINGS, "summary": summary, "runs": runs, "fresh": fresh}
    out.with_suffix(".json").write_text(json.dumps({**record, "provenance": facts()}, indent=1) + "\n")
    print(text)
    print(f"wrote {out}")


def report(s: dict) -> str:
    return "\n".join(
        [
            "# A loop of refits in one process",
            "",
            provenance(),
            "",
            f"The 1-D example refitted {s['refits']} times through `Model.run` (new seed each, the same 100 rows from "
            f"a DataFrame), NUTS with {', '.join(f'{k} {v}' for k, v in SETTINGS.items())}; "
            f"then {WITHOUT_REUSE} refits whose sampler is made as before samplers were kept (a new sampler per run, data "
            "as constants; the rest of the run as now), in the same process.",
            "",
            "| | kept samplers | as before |",
            "|---|---|---|",
            f"| mean wall per refit after the first (s) | {s['mean_wall_s']:.2f} | {s['fresh_mean_wall_s']:.2f} |",
            f"| mean sampling time per refit (s) | {s['mean_sampling_s']:.2f} | {s['fresh_mean_sampling_s']:.2f} |",
            f"| XLA compilations per refit | at most {s['max_compiles_after_first']} | "
            f"{s['fresh_mean_compiles']:.0f} on average |",
            f"| traces per refit | at most {s['max_traces_after_first']} | {s['fresh_mean_traces']:.0f} on average |",
            "",
            f"First refit (compiles everything): {s['first_wall_s']:.1f} s. Wall per refit over its sampling time: "
            f"**{s['wall_over_sampling']:.2f}** (target at most 1.2; the rest is checking the data, building the "
            "problem, the log-likelihood table for ArviZ and the summary, which weigh more in these short chains).",
            "",
            f"Resident memory after refit 10: {s['rss_after_10_mib']:.0f} MiB; after refit {s['refits']}: "
            f"{s['rss_after_last_mib']:.0f} MiB (**{s['rss_growth']:+.1%}**; target within 10%).",
            "",
            f"The whole script took {s['took_s']:.0f} s.",
            "",
        ]
    )


if __name__ == "__main__":
    main()
