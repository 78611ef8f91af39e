"""UCI regression (yacht, concrete, energy) on the standard fixed splits, run through `bnnc` as a user would.

The protocol is the one of Hernández-Lobato & Adams (2015) and Gal & Ghahramani (2016), whose numbers are
quoted beside ours: one hidden layer of 50 ReLU units; inputs and target standardised with the training
split's mean and sd (a constant column is only centred); test RMSE and mean per-point test log-likelihood
(log of the posterior predictive density, averaged over test rows) in the target's original units, mean ±
standard error over splits.

The models are files a user could write: `benchmarks/models/uci_bnn.bnn` (every weight and bias
Normal(0, 1), as MILE's paper, Sommer et al. ICLR 2025, puts on weights for standardised data; noise sd
HalfNormal(1)) and `benchmarks/models/uci_fsprior.bnn` (the same network and priors plus a function-space GP
prior; its file says why its kernel and context points are what they are). Both declare `x` and `y`
`standardized`, so the compiled program standardises with the training rows' statistics and maps the
likelihood back: `bnnc report --test` gives RMSE and NLPD in the target's units, and test LL = -NLPD.

For each (data set, split, configuration) the split's raw rows (original units) go to train.npz and
test.npz in a temporary folder, then two fresh processes run, with 2 host devices (1 for the function-space
prior: it hung on 2 before commit 4c0b46c, and its rows so far ran on 1), one OpenBLAS thread (see `child_env`) and JAX's compilation cache off
(BNNLANG_NO_CACHE=1, so every wall time includes the tracing and compiling a user's first run pays):

    bnnc run MODEL --data train.npz --backend B -q -o RUN --set seed=SPLIT [--set KEY=VALUE ...]
    bnnc report RUN --test test.npz -q

`wall_s` is the wall time of `bnnc run` (process start to exit), `report_s` that of `bnnc report`. Each
backend runs its defaults (except `guide = normal` for SVI, the mean-field family the protocol's
comparisons use); `--quick` shortens every run.

Outputs, beside FILE.md (the tables):

- FILE.jsonl: one record per (data set, split, configuration), appended as soon as it finishes, so an
  interrupted run loses nothing; the tables use the latest record per data set, split, configuration,
  quick flag and pipeline. `pipeline` is "bnnc" for these records; records without it came from the
  earlier version of this script, which called the Python `Model` API with hand standardisation ("api").
- FILE.json: the tables as data. {"provenance": provenance.facts(), "quick": this invocation's flag,
  "rows": [{"dataset", "config", "backend", "model", "pipeline", "quick", "splits" (list of split numbers
  that ran), "failed_splits", "rmse_mean", "rmse_se", "ll_mean", "ll_se", "wall_s_mean"}, ...],
  "published": {paper: {dataset: {"rmse": [mean, se], "ll": [mean, se]}}}}. `*_se` is null for one split;
  every number is in the target's original units (wall times in seconds).

    python benchmarks/uci.py --quick                                  # yacht split 0, every configuration
    python benchmarks/uci.py --datasets yacht --configs sghmc,svi     # all 20 splits
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "benchmarks" / "models"
DATA_ROOT = Path(os.environ.get("BNNLANG_UCI_DATA", ROOT.parent / "shared" / "datasets" / "uci"))
DATASETS = ("yacht", "concrete", "energy")

# name -> the model file, the backend, and the settings passed with --set (besides seed = split number)
CONFIGS: dict[str, dict] = {
    "nuts": {"model": "uci_bnn.bnn", "backend": "nuts", "settings": {}},
    "nuts+ensemble": {"model": "uci_bnn.bnn", "backend": "nuts", "settings": {"init": "ensemble"}},
    "mile": {"model": "uci_bnn.bnn", "backend": "mile", "settings": {}},
    "sghmc": {"model": "uci_bnn.bnn", "backend": "sghmc", "settings": {}},
    "svi": {"model": "uci_bnn.bnn", "backend": "svi", "settings": {"guide": "normal"}},
    # one host device, as its recorded rows ran: on two it deadlocked in jaxlib's LAPACK before commit 4c0b46c
    "fsprior+mile": {"model": "uci_fsprior.bnn", "backend": "mile", "settings": {}, "devices": 1},
}
QUICK: dict[str, dict] = {
    "nuts": {"warmup": 50, "samples": 50, "max_tree_depth": 6},
    "nuts+ensemble": {"warmup": 50, "samples": 50, "max_tree_depth": 6, "map_steps": 500},
    # warmup 200 left one member in four stranded far from its mode (sigma ~ 5, step size ~ 1e-3) on yacht seeds 0
    # and 1; 400 did not on seeds 0-3, and the CI test needs a finite, sane RMSE.
    "mile": {"map_steps": 500, "warmup": 400, "samples": 100},
    "sghmc": {"map_steps": 500, "warmup": 200, "samples": 100, "checkpoint_every": 100},
    "svi": {"map_steps": 500, "steps": 1000, "samples": 200},
    "fsprior+mile": {"chains": 2, "map_steps": 500, "warmup": 400, "samples": 100},
}
LABELS = {"api": "Model API, hand standardisation", "bnnc": "bnnc"}

# Test RMSE and test log-likelihood (original units), mean ± se over the same 20 splits,
# as printed in the papers' tables; check before citing.
PUBLISHED: dict[str, dict[str, dict[str, tuple[float, float]]]] = {
    "PBP (Hernández-Lobato & Adams 2015)": {
        "yacht": {"rmse": (1.02, 0.05), "ll": (-1.63, 0.02)},
        "concrete": {"rmse": (5.67, 0.09), "ll": (-3.16, 0.02)},
        "energy": {"rmse": (1.80, 0.05), "ll": (-2.04, 0.02)},
    },
    "MC dropout (Gal & Ghahramani 2016)": {
        "yacht": {"rmse": (1.11, 0.09), "ll": (-1.55, 0.12)},
        "concrete": {"rmse": (5.23, 0.12), "ll": (-3.04, 0.02)},
        "energy": {"rmse": (1.66, 0.04), "ll": (-1.99, 0.02)},
    },
}


def standardiser(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and sds of training data (numpy's sd, as the reference code); a zero sd becomes 1."""
    mean = np.mean(a, axis=0)
    sd = np.std(a, axis=0)
    return mean, np.where(sd > 0, sd, 1.0)


def scaling_error(settings: dict, x: np.ndarray, y: np.ndarray) -> float:
    """Largest relative gap between the statistics a run kept (settings.json) and the protocol's own.

    A cross-check that `standardized` standardises as the reference code does: near float32 rounding
    (1e-7 to 1e-6) when it does.
    """
    kept = settings["standardized"]
    gaps = []
    for name, a in (("x", x), ("y", y)):
        mean, sd = standardiser(a)
        for key, ours in (("shift", mean), ("scale", sd)):
            theirs = np.asarray(kept[name][key], dtype=float)
            gaps.append(np.max(np.abs(theirs - ours) / np.maximum(np.abs(ours), 1e-12 + np.abs(sd))))
    return float(max(gaps))


def mean_se(values: list[float]) -> tuple[float, float]:
    """Mean and standard error (sample sd with ddof = 1, over sqrt(n)); nan with a single value."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return float(v.mean()), math.nan
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v)))


def _require_data(name: str, root: Path) -> Path:
    d = root / name / "data"
    if not d.is_dir():
        print(
            f"UCI data set '{name}' not found at {d}. The data and fixed splits live in shared/datasets/uci/ "
            "beside the repository (see its README); point BNNLANG_UCI_DATA or --data-root at that folder.",
            file=sys.stderr,
        )
        sys.exit(2)  # a prerequisite outside the repo: benchmarks/suite.py skips, not fails
    return d


def load_split(name: str, split: int, root: Path = DATA_ROOT) -> tuple[np.ndarray, ...]:
    """(x_train, y_train, x_test, y_test) of one fixed split, in original units."""
    d = _require_data(name, root)
    data = np.loadtxt(d / "data.txt")
    features = np.loadtxt(d / "index_features.txt", dtype=int, ndmin=1)
    target = int(np.loadtxt(d / "index_target.txt", dtype=int))
    train = np.loadtxt(d / f"index_train_{split}.txt", dtype=int)
    test = np.loadtxt(d / f"index_test_{split}.txt", dtype=int)
    x, y = data[:, features], data[:, target]
    return x[train], y[train], x[test], y[test]


def n_splits(name: str, root: Path = DATA_ROOT) -> int:
    return int(np.loadtxt(_require_data(name, root) / "n_splits.txt"))


def bnnc() -> str:
    """The `bnnc` of this Python's environment (beside its interpreter), else the one on PATH."""
    beside = Path(sys.executable).parent / "bnnc"
    found = str(beside) if beside.exists() else shutil.which("bnnc")
    if found is None:
        sys.exit("bnnc not found: install bnnlang (pip install -e .) in the environment running this script")
    return found


def run_command(config: str, seed: int, quick: bool, train: Path, run_dir: Path) -> list[str]:
    """The `bnnc run` command line of one configuration."""
    c = CONFIGS[config]
    settings = {**c["settings"], "seed": seed, **(QUICK[config] if quick else {})}
    sets = [arg for k, v in settings.items() for arg in ("--set", f"{k}={v}")]
    model = MODELS / c["model"]
    return [bnnc(), "run", str(model), "--data", str(train), "--backend", c["backend"], "-q", "-o", str(run_dir), *sets]


def child_env(devices: int) -> dict[str, str]:
    """What each bnnc process gets besides the environment: host devices, no compilation cache, 1 BLAS thread.

    One OpenBLAS thread: jaxlib's CPU LAPACK calls (the function-space prior's Cholesky and its gradient's
    triangular solves) go through scipy's OpenBLAS, whose threads oversubscribe 2 shared cores; a gradient of
    uci_fsprior.bnn took 13 ms with its default threads and 0.24 ms with one (the weight-space model calls no
    LAPACK and is unaffected).
    """
    return {
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
        "BNNLANG_NO_CACHE": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }


def _bnnc(cmd: list[str], timeout: float, devices: int = 2) -> float:
    """Run one bnnc command in a fresh process; its wall time in seconds."""
    env = {**os.environ, **child_env(devices)}
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=ROOT)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[1:3])} exited {out.returncode}:\n{out.stderr[-3000:]}")
    return wall


def run_split(name: str, split: int, config: str, quick: bool, folder: Path, timeout: float, root: Path) -> dict:
    """Run and score one configuration on one split; the record's measured fields."""
    x_tr, y_tr, x_te, y_te = load_split(name, split, root)
    train, test, run_dir = folder / "train.npz", folder / "test.npz", folder / f"run-{config}"
    np.savez(train, x=x_tr, y=y_tr)
    np.savez(test, x=x_te, y=y_te)
    cmd = run_command(config, split, quick, train, run_dir)
    devices = CONFIGS[config].get("devices", 2)
    wall = _bnnc(cmd, timeout, devices)
    report_s = _bnnc([cmd[0], "report", str(run_dir), "--test", str(test), "-q"], timeout, devices)
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    settings = json.loads((run_dir / "settings.json").read_text(encoding="utf-8"))
    held_out = report["test"]["y"]
    if held_out["rmse"] is None or held_out["nlpd"] is None:
        raise RuntimeError(f"bnnc report gave a non-finite test RMSE or NLPD: {held_out}")
    sigma = summary.get("scalars", {}).get("sigma", {})
    return {
        "rmse": held_out["rmse"],
        "ll": -held_out["nlpd"],
        "coverage_90": held_out["coverage"].get("0.9"),
        "wall_s": wall,
        "report_s": report_s,
        "command": " ".join(["bnnc", *cmd[1:]]),
        "devices": devices,
        "env": child_env(devices),
        "backend_settings": settings["settings"],
        "sigma_std": sigma.get("mean"),
        "timings": summary.get("timings", {}),
        "verdict": report.get("verdict", {}).get("status"),
        "scaling_rel_err": scaling_error(settings, x_tr, y_tr),
        "y_sd": float(np.std(y_tr)),
    }


def read_records(path: Path) -> list[dict]:
    """The latest record per (dataset, split, config, quick, pipeline) in a JSONL file, failed runs included.

    Records without a `pipeline` field are the earlier Model-API runs and get "api".
    """
    latest: dict[tuple, dict] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                r.setdefault("pipeline", "api")
                latest[(r["dataset"], r["split"], r["config"], r["quick"], r["pipeline"])] = r
    return list(latest.values())


def summarise(records: list[dict]) -> list[dict]:
    """One row per (dataset, pipeline, quick, config): the splits that ran and the means and standard errors."""
    rows = []
    for name in DATASETS:
        for pipeline in ("bnnc", "api"):
            for quick in (False, True):
                for config in CONFIGS:
                    rs = sorted(
                        (
                            r
                            for r in records
                            if (r["dataset"], r["config"], r["quick"], r.get("pipeline", "api"))
                            == (name, config, quick, pipeline)
                        ),
                        key=lambda r: r["split"],
                    )
                    if not rs:
                        continue
                    ok = [r for r in rs if "error" not in r]
                    row = {
                        "dataset": name,
                        "config": config,
                        "backend": CONFIGS[config]["backend"],
                        "model": CONFIGS[config]["model"] if pipeline == "bnnc" else "uci.py's MODEL string",
                        "pipeline": pipeline,
                        "quick": quick,
                        "splits": [r["split"] for r in ok],
                        "failed_splits": [r["split"] for r in rs if "error" in r],
                    }
                    for key, field in (("rmse", "rmse"), ("ll", "ll")):
                        m, se = mean_se([r[field] for r in ok]) if ok else (math.nan, math.nan)
                        row[f"{key}_mean"] = None if math.isnan(m) else m
                        row[f"{key}_se"] = None if math.isnan(se) else se
                    row["wall_s_mean"] = float(np.mean([r["wall_s"] for r in ok])) if ok else None
                    rows.append(row)
    return rows


def _pm(mean: float | None, se: float | None, digits: int) -> str:
    if mean is None:
        return "—"
    return f"{mean:.{digits}f}" if se is None else f"{mean:.{digits}f} ± {se:.{digits}f}"


def _splits(s: list[int]) -> str:
    """0-19 for a run of consecutive splits, else a comma list."""
    if len(s) > 2 and s == list(range(s[0], s[-1] + 1)):
        return f"{s[0]}-{s[-1]}"
    return ",".join(map(str, s))


def tables(records: list[dict]) -> str:
    """One markdown table per data set: our configurations (with the splits they ran), then the papers' rows."""
    rows = summarise(records)
    out = []
    for name in [d for d in DATASETS if any(r["dataset"] == d for r in rows)]:
        lines = [
            f"### {name}",
            "",
            "| configuration | pipeline | splits | test RMSE | test LL | wall s (mean) |",
            "|---|---|---|---|---|---|",
        ]
        for row in (r for r in rows if r["dataset"] == name):
            label = row["config"] + (" (quick)" if row["quick"] else "")
            splits = _splits(row["splits"]) or "none"
            if row["failed_splits"]:
                splits += f" (failed: {','.join(map(str, row['failed_splits']))})"
            rmse = _pm(row["rmse_mean"], row["rmse_se"], 2)
            ll = _pm(row["ll_mean"], row["ll_se"], 2)
            wall = "—" if row["wall_s_mean"] is None else f"{row['wall_s_mean']:.0f}"
            lines.append(f"| {label} | {LABELS[row['pipeline']]} | {splits} | {rmse} | {ll} | {wall} |")
        for paper, values in PUBLISHED.items():
            v = values[name]
            rmse, ll = _pm(*v["rmse"], 2), _pm(*v["ll"], 2)
            lines.append(f"| {paper}, quoted from the paper | — | 0-19 | {rmse} | {ll} | — |")
        failed = [r for r in records if r["dataset"] == name and "error" in r]
        if failed:
            lines += ["", "Failed runs (the error's last line):", ""]
            for r in sorted(failed, key=lambda r: (r["quick"], r["config"], r["split"])):
                label = r["config"] + (" (quick)" if r["quick"] else "") + f", {LABELS[r.get('pipeline', 'api')]}"
                last = [ln for ln in r["error"].strip().splitlines() if ln.strip()][-2:]
                lines.append(f"- {label}, split {r['split']}: {' '.join(ln.strip() for ln in last)}")
        out.append("\n".join(lines))
    return "\n\n".join(out)


def header() -> str:
    from provenance import provenance  # a sibling module: Python puts the script's folder on sys.path

    return (
        "# UCI regression through bnnc: NUTS, SG-HMC, mean-field SVI, MILE and a function-space prior\n\n"
        + provenance('The first records (pipeline "Model API") ran earlier, at the commits in the JSONL.')
        + "\n\n"
        "Written by `benchmarks/uci.py` (its docstring has the protocol). One hidden layer of 50 ReLU units, "
        "Normal(0, 1) weights and biases, HalfNormal(1) noise sd, inputs and target standardised with the "
        "training split's statistics. Test RMSE and mean per-point test log-likelihood (LL) in the target's "
        "original units, mean ± standard error over the splits listed (sd with ddof = 1 over sqrt(n); none shown "
        "for a single split).\n\n"
        "Pipeline `bnnc`: the models are `benchmarks/models/uci_bnn.bnn` and `uci_fsprior.bnn`, with `x` and `y` "
        "declared `standardized`; each split runs `bnnc run MODEL --data train.npz --backend B -q -o RUN --set "
        "seed=SPLIT` and `bnnc report RUN --test test.npz -q` in fresh processes (raw data in original units), "
        "and RMSE and LL = -NLPD are read from `report.json`. `bnnc report` predicts from at most 250 draws per "
        "chain. Wall s: `bnnc run` from process start to exit, 2 host devices (1 for `fsprior+mile`), one OpenBLAS "
        "thread (records with an `env` field; it matters only for the function-space prior's LAPACK calls, 50x "
        "faster with one thread on this loaded machine), compilation cache off "
        "(compilation included), niced on a shared 2-core machine where other jobs ran: compare within a "
        "table, loosely. Pipeline `Model API, hand standardisation`: the earlier version of this script, "
        "same network and priors through `Model.run` with the data standardised by hand and metrics mapped back "
        "by hand, all draws used.\n\n"
        "Configurations (each backend's defaults unless said): `nuts` (4 chains, warmup 500, samples 500, max "
        "tree depth 10); `nuts+ensemble` (the same, each chain started at its own deep-ensemble member); `mile` "
        "(4 members, map_steps 10000 with early stopping, warmup 1000, 1000 draws thinned by 10); `sghmc` (4 "
        "chains, each started at its own deep-ensemble member, minibatches of 128 rows, step size relative to "
        "the curvature at the start, 20 leapfrog steps per step, burn-in 1000, 500 draws thinned by 2; rows "
        "before commit 5dfabde used 2,000-step MAP starts and an absolute step size that diverged on yacht); `svi` (`guide = normal`, i.e. mean-field, the "
        "family the protocol's VI baselines use; otherwise defaults: MAP start, 5000 Adam steps, cosine "
        "schedule, full batch at these sizes, 1000 draws); `fsprior+mile` (`uci_fsprior.bnn` under MILE's "
        "defaults: the weight-space model plus a GP prior on the network's outputs at context points, see the "
        "model file). Why MILE for the function-space prior: it is the sampler of the `mile` row, so the two rows "
        "differ only in the prior; it is the fastest sampler here with good UCI numbers, where NUTS takes about "
        "2.5 hours per data set for 20 splits on this machine; and its fixed log density suits the prior's "
        "fixed context points (under MILE the context offsets are one draw, not redrawn per step). "
        "`fsprior+mile` runs on one host device: on two, `bnnc run` of that model deadlocked in MILE's ensemble "
        "fit (jaxlib 0.10's batched LAPACK kernels blocking XLA's thread pool; fixed in commit 4c0b46c, after "
        "these rows ran), so its wall times are not comparable with the other rows'. Every configuration keeps its "
        "defaults even where they fail (failed splits and bnnc's message are listed under a table), which is "
        "what a user running the defaults meets. NUTS takes about 2-4 minutes a split and configuration on "
        "this machine, hours for all 60; its `bnnc` rows accumulate over sessions, split by split (every data "
        "set for split k before split k + 1), and the splits column says which ran. Rows marked (quick) ran short settings that check the "
        "pipeline, not the methods.\n\n"
        "The papers' rows are quoted from their tables (all 20 splits; check before citing); a row of ours "
        "over fewer splits has a ± that is not comparable to theirs. HMC numbers on these splits are not "
        "quoted: none was found in a source we could check.\n\n"
        "Raw per-split results: the `.jsonl` file beside this one; the tables as data: the `.json` file.\n\n"
    )


def _commit() -> str | None:
    """The checked-out commit (None outside a git checkout): which code a record measured."""
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    return out.stdout.strip() or None


def write_results(out: Path, quick: bool) -> str:
    """Rebuild FILE.md and FILE.json from every record in FILE.jsonl; returns the tables."""
    from provenance import facts

    records = read_records(out.with_suffix(".jsonl"))
    text = tables(records)
    out.write_text(header() + text + "\n", encoding="utf-8")
    published = {p: {d: {k: list(v) for k, v in m.items()} for d, m in ds.items()} for p, ds in PUBLISHED.items()}
    data = {"provenance": facts(), "quick": quick, "rows": summarise(records), "published": published}
    out.with_suffix(".json").write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", help="comma-separated, from " + ",".join(DATASETS) + " (default: all; quick: yacht)")
    ap.add_argument("--splits", help="comma-separated split numbers, or 'all' (default: all; quick: 0)")
    ap.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated, from " + ",".join(CONFIGS))
    ap.add_argument("--quick", action="store_true", help="short runs: checks the pipeline, not the methods")
    ap.add_argument("-o", "--out", default=str(ROOT / "benchmarks" / "results" / "uci.md"), help="markdown file")
    ap.add_argument("--data-root", default=str(DATA_ROOT), help="folder holding <dataset>/data/")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds allowed per bnnc command")
    args = ap.parse_args(argv)
    root = Path(args.data_root)
    datasets = [d for d in (args.datasets or ("yacht" if args.quick else ",".join(DATASETS))).split(",") if d]
    configs = [c for c in args.configs.split(",") if c]
    for bad in [d for d in datasets if d not in DATASETS] + [c for c in configs if c not in CONFIGS]:
        ap.error(f"unknown data set or configuration '{bad}'")
    split_arg = args.splits or ("0" if args.quick else "all")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    jsonl = out.with_suffix(".jsonl")
    failures = 0
    for name in datasets:
        splits = range(n_splits(name, root)) if split_arg == "all" else [int(s) for s in split_arg.split(",")]
        for split in splits:
            for config in configs:
                record = {"dataset": name, "split": split, "config": config, "quick": args.quick, "pipeline": "bnnc"}
                record |= {
                    "commit": _commit(),
                    "model": CONFIGS[config]["model"],
                    "backend": CONFIGS[config]["backend"],
                }
                record["date"] = time.strftime("%Y-%m-%d %H:%M")
                try:
                    with tempfile.TemporaryDirectory() as tmp:
                        record |= run_split(name, split, config, args.quick, Path(tmp), args.timeout, root)
                except (RuntimeError, subprocess.TimeoutExpired, KeyError, OSError) as e:
                    record["error"] = f"{type(e).__name__}: {e}"[-2000:]
                    failures += 1
                with jsonl.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(record) + "\n")
                shown = {k: record.get(k) for k in ("rmse", "ll", "wall_s", "error")}
                print(f"{name} split {split} {config}: {shown}", file=sys.stderr, flush=True)
            write_results(out, args.quick)
    print(write_results(out, args.quick))
    if failures:
        sys.exit(f"{failures} run(s) failed; their errors are in {jsonl}")


if __name__ == "__main__":
    main()
