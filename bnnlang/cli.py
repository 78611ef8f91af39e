"""`bnnc`: check, fmt, compile, run, predict and report on .bnn models.

Exit codes: 0 ok; 1 `fmt --check` found changes; 2 a problem in the user's
model, data or settings (located message, no traceback); 3 an internal error
(a bug: the traceback goes to a log file, not the screen); 130 interrupted.
`report --strict` exits 1 when a convergence check fails.
`check`, `fmt` and `compile` never import JAX, so they answer quickly.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import traceback
from pathlib import Path

from . import __version__
from .errors import BnnError, Location

ISSUES_URL = "the bnnlang issue tracker"


# The most used backend settings get their own flags; every setting is reachable with --set.
SETTING_FLAGS = {
    "chains": str,
    "warmup": str,
    "samples": str,
    "thinning": str,
    "seed": str,
    "target-accept": str,
    "max-tree-depth": str,
    "batch-size": str,
    "step-size": str,
    "friction": str,
    "steps": str,
    "lr": str,
    "guide": str,
    "schedule": str,
    "checkpoint-every": str,
}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bnnc", description="Compile and run Bayesian neural network models (.bnn).")
    p.add_argument("--version", action="version", version=f"bnnc {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("check", help="parse, resolve names and check shapes (and data, with --data)")
    c.add_argument("model")
    c.add_argument("--data", help="also check this data file against the data block")
    c.add_argument("--pedantic", action="store_true", help="also warn about likely modelling mistakes")

    f = sub.add_parser("fmt", help="print the model in canonical format")
    f.add_argument("model")
    g = f.add_mutually_exclusive_group()
    g.add_argument("--check", action="store_true", help="exit 1 if the file is not formatted")
    g.add_argument("-w", "--write", action="store_true", help="rewrite the file in place")

    k = sub.add_parser("compile", help="print the generated NumPyro program")
    k.add_argument("model")
    k.add_argument("-o", "--output", help="write the program to this file")

    r = sub.add_parser("run", help="run inference and write a run directory")
    r.add_argument("model", nargs="?", help="the .bnn model (not with --resume)")
    r.add_argument("--data", help="CSV (header names the data variables), NPZ or Parquet")
    r.add_argument("-o", "--out", help="run directory (default runs/<model name>)")
    r.add_argument(
        "--resume",
        metavar="RUN",
        help="finish an interrupted run: SG-HMC and SVI from their last checkpoint, NUTS and MILE from the start",
    )
    r.add_argument("--backend", help="nuts, sghmc, svi or mile (default: the model's infer statement, else nuts)")
    for flag, kind in SETTING_FLAGS.items():
        r.add_argument(f"--{flag}", type=kind, dest=flag.replace("-", "_"), help=argparse.SUPPRESS)
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any backend setting")
    r.add_argument("--x64", action="store_true", help="compute in float64")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bars or tables")
    r.add_argument("--report", action="store_true", help="also write the HTML/JSON report (as `bnnc report`)")
    # multi-host (docs/scaling.md): one process per host, chains split over them; process 0 writes the run
    r.add_argument(
        "--coordinator", metavar="HOST:PORT", help="multi-host: process 0's address, or 'auto' (SLURM, mpirun)"
    )
    r.add_argument("--num-processes", metavar="P", help="multi-host: how many processes share the run")
    r.add_argument("--process-id", metavar="I", help="multi-host: this process's number, 0 .. P-1")
    r.epilog = "Settings as flags: " + ", ".join(f"--{f}" for f in SETTING_FLAGS) + " (or --set key=value)."

    d = sub.add_parser("predict", help="posterior predictive summaries for new inputs")
    d.add_argument("run", help="a run directory written by `bnnc run`")
    d.add_argument("--data", required=True, help="inputs (observed columns are not needed)")
    d.add_argument("-o", "--output", help="CSV file to write (default: print)")
    d.add_argument("--interval", type=float, default=0.9, help="central interval mass (default 0.9)")
    d.add_argument("--draws", type=int, default=1000, help="posterior draws to use at most (default 1000)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--draws-file", metavar="FILE.npz", help="also save the predictive draws, [draws, rows] per array")

    e = sub.add_parser("report", help="diagnostics, predictive checks and calibration as HTML and JSON")
    e.add_argument("run", help="a run directory written by `bnnc run`")
    e.add_argument("--test", metavar="DATA", help="held-out data (inputs and outputs): accuracy and calibration")
    e.add_argument(
        "--ood", metavar="DATA", help="out-of-distribution inputs: how well epistemic uncertainty flags them"
    )
    e.add_argument("-o", "--out", metavar="DIR", help="where to write report.html and report.json (default: the run)")
    e.add_argument("--strict", action="store_true", help="exit 1 when a convergence check fails")
    e.add_argument("--rhat-max", type=float, default=1.01, help="largest R-hat that passes (default 1.01)")
    e.add_argument(
        "--min-ess-per-chain", type=float, default=100.0, help="smallest bulk/tail ESS per chain (default 100)"
    )
    e.add_argument("--max-divergences", type=int, default=0, help="NUTS divergences allowed (default 0)")
    e.add_argument("--open", action="store_true", help="open the HTML report in a browser")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("-q", "--quiet", action="store_true", help="print only the verdict")

    g = sub.add_parser(
        "fit-prior", help="fit a network's per-layer prior scales to its function-space GP prior; write a module"
    )
    g.add_argument("model", help="a .bnn file with `prior NET ~ GP(...) at context(...)`")
    g.add_argument("-o", "--out", metavar="FILE", required=True, help="the .bnn module to write")
    g.add_argument("--network", help="which network (default: the model's only function-space prior)")
    g.add_argument("--data", help="data file, when the context points are a data matrix")
    g.add_argument("--steps", type=int, default=1000, help="Adam steps (default 1000)")
    g.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except BnnError as err:
        print(err.format(), file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("bnnc: interrupted; nothing was written.", file=sys.stderr)
        return 130
    except Exception:  # an internal error: a bug in bnnc
        log = _crash_log(traceback.format_exc())
        print(
            "bnnc: internal error. This is a bug in bnnc, not in your model.\n"
            f"The details are in {log}; please report it, with that file, at {ISSUES_URL}.",
            file=sys.stderr,
        )
        return 3


def _crash_log(text: str) -> str:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    folder = Path(base) / "bnnlang" / "crashes"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"crash-{datetime.datetime.now():%Y%m%d-%H%M%S-%f}-{os.getpid()}.log"  # one per crash
        path.write_text(f"bnnc {__version__}\nargv: {sys.argv}\n\n{text}", encoding="utf-8")
        return str(path)
    except OSError:
        return "(the log could not be written)"


def _load(path: str):
    from .api import Model

    return Model.from_file(path)


def _print_warnings(model, pedantic: bool = False) -> None:
    warnings = list(model.warnings)
    if pedantic:
        from .check.pedantic import pedantic_warnings

        warnings += pedantic_warnings(model.checked)
    for w in warnings:
        print(w.format(), file=sys.stderr)


def cmd_check(args) -> int:
    model = _load(args.model)
    _print_warnings(model, args.pedantic)
    msg = f"{args.model}: ok"
    if args.data:
        bound = model.data(args.data)
        dims = ", ".join(f"{k} = {v}" for k, v in bound.dims.items())
        msg += f"; data {args.data}: ok ({dims})"
    print(msg)
    return 0


def cmd_fit_prior(args) -> int:
    from .errors import Location
    from .infer.fit_prior import context_points, fit_prior
    from .rundir import write_text_atomic

    model = _load(args.model)
    priors = [fp.network for fp in model.checked.function_priors]
    network = args.network or (priors[0] if len(priors) == 1 else None)
    if network is None or network not in priors:
        raise BnnError(
            "Which network's prior to fit? "
            + (f"'{args.network}' has no function-space prior." if args.network else "The model has none or several."),
            Location(args.model, 0),
            hint="Give --network NAME for a network with `prior NAME ~ GP(...) at context(...)`."
            if priors
            else "Add `prior net ~ GP(0, RBF(1)) at context(low = -3, high = 3, points = 40)` to the model.",
        )
    data = model.data(args.data, require_observed=False).arrays if args.data else None
    points = context_points(model.module, model.checked, network, data)
    result = fit_prior(model.module, model.checked, network, points, steps=args.steps, seed=args.seed)
    write_text_atomic(Path(args.out), result.module_source(Path(args.model).name, Path(args.out).stem))
    for (path, fan_in, units), s, b in zip(result.layers, result.weight_scales, result.bias_scales):
        print(f"layer {path} ({fan_in} -> {units}): weight sd {s:.4g}, bias sd {b:.4g}")
    print(
        f"squared MMD to the GP at {result.points} points: {result.mmd_start:.4g} at Neal's scales -> "
        f"{result.mmd_fitted:.4g} fitted ({result.factor:.1f}x lower)"
    )
    print(f"bnnc: wrote {args.out}")
    return 0


def cmd_fmt(args) -> int:
    from .api import read_source
    from .rundir import write_text_atomic
    from .syntax.format import format_source

    source = read_source(args.model)
    out = format_source(source, args.model)
    if args.check:
        if out != source:
            print(f"{args.model}: would be reformatted", file=sys.stderr)
            return 1
        return 0
    if args.write:
        if out != source:
            write_text_atomic(Path(args.model), out)
        return 0
    sys.stdout.write(out)
    return 0


def cmd_compile(args) -> int:
    model = _load(args.model)
    _print_warnings(model)
    if args.output:
        from .rundir import write_text_atomic

        write_text_atomic(Path(args.output), model.python_source)
    else:
        sys.stdout.write(model.python_source)
    return 0


def _overrides(args) -> dict:
    over = {f.replace("-", "_"): getattr(args, f.replace("-", "_")) for f in SETTING_FLAGS}
    over = {k: _value(v) for k, v in over.items() if v is not None}
    if args.backend:
        over["backend"] = args.backend
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BnnError(
                f"--set expects KEY=VALUE, got '{item}'.", Location("<command line>", 0), hint="e.g. --set dense_mass=1"
            )
        over[key.strip().replace("-", "_")] = _value(value.strip())
    return over


def _value(text: str):
    """A setting's value from the command line: a number, true/false, or a word (e.g. lowrank)."""
    if text in ("true", "false"):
        return 1.0 if text == "true" else 0.0
    try:
        return float(text)
    except ValueError:
        return text


def cmd_run(args) -> int:
    from .infer.cluster import check_split, cluster_from

    cluster = cluster_from(args.coordinator, args.num_processes, args.process_id)
    if args.resume:
        if cluster is not None:
            raise BnnError(
                "--resume runs on one process.", Location("<command line>", 0), hint="Drop the multi-host flags"
            )
        return _resume(args)
    if not args.model or not args.data:
        raise BnnError(
            "bnnc run needs a model and --data.",
            Location("<command line>", 0),
            hint="bnnc run model.bnn --data data.csv  (or bnnc run --resume RUN to continue a stopped run)",
        )
    model = _load(args.model)
    _print_warnings(model)
    overrides = _overrides(args)
    settings = model.settings(**overrides)
    bound = model.data(args.data)  # refuse bad data before JAX starts
    check_split(settings.method, settings.chains, cluster.num_processes if cluster else None)
    _start_jax(settings, args.x64, cluster)
    model.problem(bound, settings)  # refuse settings the data cannot meet before anything runs
    out = Path(args.out) if args.out else Path("runs") / Path(args.model).stem
    if not args.quiet:
        print(f"bnnc: {_describe(settings)} on {args.model}", file=sys.stderr)
    try:
        run = model.run(bound, out=out, progress=not args.quiet, **overrides)
    except KeyboardInterrupt:
        _interrupted(out)
        return 130
    if run.path is None:  # multi-host, not process 0: its chains are in process 0's run directory
        import jax

        print(
            f"bnnc: process {jax.process_index()}/{jax.process_count()} done; process 0 writes {out}/", file=sys.stderr
        )
        return 0
    _report(run, out, args.quiet)
    if args.report:
        return _write_report(run, run.report(), None, False, False, args.quiet)
    if not args.quiet:
        print(f"bnnc: next: bnnc report {out}", file=sys.stderr)
    return 0


def _resume(args) -> int:
    import json

    from .api import resume_run
    from .rundir import stage_dir

    if args.model or args.data or _overrides(args):
        raise BnnError(
            "--resume continues a run with its own model, data and settings.",
            Location("<command line>", 0),
            hint=f"Write just: bnnc run --resume {args.resume}",
        )
    out = Path(args.resume)
    record_path = stage_dir(out) / "settings.json"
    if record_path.is_file():
        from .check.settings import InferSettings

        record = json.loads(record_path.read_text(encoding="utf-8"))
        _start_jax(InferSettings(record["backend"], record["settings"]), args.x64)
        if not args.quiet:
            print(f"bnnc: resuming {record['backend']} run {out}", file=sys.stderr)
    try:
        run = resume_run(out, progress=not args.quiet)
    except KeyboardInterrupt:
        _interrupted(out)
        return 130
    _report(run, out, args.quiet)
    return 0


def _start_jax(settings, x64: bool, cluster=None) -> None:
    from .infer.setup import configure_devices

    configure_devices(settings.chains // (cluster.num_processes or 1) if cluster else settings.chains)
    if cluster is not None:  # before any other JAX call
        from .infer.distributed import initialize

        initialize(cluster)
    if x64:
        import jax

        jax.config.update("jax_enable_x64", True)


def _describe(settings) -> str:
    s = settings.values
    if settings.method == "svi":
        return f"svi ({s['guide']} guide, {s['steps']} steps, lr {s['lr']:g}), seed {s['seed']}"
    return f"{settings.method}: {s['chains']} chains x ({s['warmup']} warmup + {s['samples']} draws), seed {s['seed']}"


def _interrupted(out: Path) -> None:
    from .rundir import CHECKPOINT, stage_dir

    if (stage_dir(out) / CHECKPOINT).is_file():
        print(f"bnnc: interrupted; continue with: bnnc run --resume {out}", file=sys.stderr)
    else:
        print("bnnc: interrupted; nothing was written.", file=sys.stderr)


def _report(run, out: Path, quiet: bool) -> None:
    if not quiet:
        print(_run_table(run))
    files = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    print(f"bnnc: wrote {out}/ ({', '.join(files)})", file=sys.stderr)


def _run_table(run) -> str:
    s = run.summary
    lines = [f"{'param':<28}{'mean':>10}{'sd':>10}{'5%':>10}{'95%':>10}{'r_hat':>8}{'ess_bulk':>10}"]
    for name, v in s["scalars"].items():
        lines.append(
            f"{name:<28}{_f(v['mean']):>10}{_f(v['sd']):>10}{_f(v['q5']):>10}{_f(v['q95']):>10}"
            f"{_f(v['r_hat'], 3):>8}{_f(v['ess_bulk'], 0):>10}"
        )
    if s["arrays"]:
        lines.append("")
        lines.append(f"{'array':<28}{'shape':>12}{'max r_hat':>12}{'min ess':>10}")
        for name, v in s["arrays"].items():
            lines.append(f"{name:<28}{str(v['shape']):>12}{_f(v['max_r_hat'], 3):>12}{_f(v['min_ess_bulk'], 0):>10}")
    sm = s.get("sampler", {})
    t = s.get("timings", {})
    lines.append("")
    if "divergences" in sm:
        lines.append(
            f"divergences: {sm.get('divergences')}  mean tree depth: {sm.get('mean_tree_depth')}  "
            f"sampling: {t.get('sampling_s', 0):.1f} s"
        )
    else:
        lines.append(f"backend: {s.get('run', {}).get('backend')}  time: {t.get('sampling_s', 0):.1f} s")
    lines.append(
        "note: weights of a network are not identifiable (permutations, sign flips); judge convergence by "
        "scalars and predictions."
    )
    return "\n".join(lines)


def _f(x, digits: int = 3) -> str:
    if x is None:
        return "-"
    return f"{x:.{digits}f}" if digits else f"{x:.0f}"


def cmd_predict(args) -> int:
    from .api import open_run

    if not 0 < args.interval < 1:
        raise BnnError("--interval must be between 0 and 1.", Location("<command line>", 0), hint="e.g. --interval 0.9")
    run = open_run(args.run)
    bound = run.model.prediction_inputs(run, args.data)
    draws = run.model.predictive_draws(run, bound, max_draws=args.draws, seed=args.seed)
    table = run.model.predict(run, bound, interval=args.interval, draws=draws)
    if args.draws_file:
        from .rundir import write_npz_atomic

        arrays = {name if k == "draws" else f"{name}.{k}": v for name, d in draws.items() for k, v in d.items()}
        write_npz_atomic(Path(args.draws_file), arrays)
        print(f"bnnc: wrote {args.draws_file} ({', '.join(arrays)})", file=sys.stderr)
    text = _csv(table)
    if args.output:
        from .rundir import write_text_atomic

        write_text_atomic(Path(args.output), text)
        print(f"bnnc: wrote {args.output} ({len(next(iter(table.values())))} rows)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _csv(table: dict) -> str:
    import numpy as np

    names = list(table)
    cols = [np.asarray(table[n]) for n in names]
    rows = [",".join(names)]
    for i in range(len(cols[0])):
        rows.append(",".join(_cell(c[i]) for c in cols))
    return "\n".join(rows) + "\n"


def _cell(v) -> str:
    import numpy as np

    if np.issubdtype(np.asarray(v).dtype, np.integer):
        return str(int(v))
    return f"{float(v):.6g}"


def cmd_report(args) -> int:
    from .api import open_run
    from .diagnose.verdict import Thresholds

    limits = {"--rhat-max": args.rhat_max, "--min-ess-per-chain": args.min_ess_per_chain}
    for flag, value in limits.items():
        if not value > 0:
            raise BnnError(f"{flag} must be positive.", Location("<command line>", 0), hint="e.g. --rhat-max 1.01")
    if args.max_divergences < 0:
        raise BnnError("--max-divergences must be 0 or more.", Location("<command line>", 0), hint="e.g. 0")
    run = open_run(args.run)
    thresholds = Thresholds(
        rhat_max=args.rhat_max, ess_min_per_chain=args.min_ess_per_chain, max_divergences=args.max_divergences
    )
    report = run.report(args.test, args.ood, thresholds, seed=args.seed)
    return _write_report(run, report, Path(args.out) if args.out else None, args.strict, args.open, args.quiet)


def _write_report(run, report, folder: Path | None, strict: bool, open_page: bool, quiet: bool) -> int:
    page, data = run.write_report(report, folder)
    verdict = report.content["verdict"]
    print(f"bnnc: verdict: {verdict['headline']}", file=sys.stderr)
    if not quiet:
        for name, m in report.content.get("test", {}).items():
            keys = ("accuracy", "nll", "brier", "ece") if m["kind"] == "classification" else ("rmse", "nlpd")
            print(f"bnnc: held out {name}: " + ", ".join(f"{k} {m[k]:.4g}" for k in keys), file=sys.stderr)
        for name, o in report.content.get("ood", {}).items():
            print(f"bnnc: OOD {name}: AUROC {o['auroc']:.3f} ({o['score']})", file=sys.stderr)
        print(f"bnnc: wrote {page} and {data.name}", file=sys.stderr)
    if open_page:
        import webbrowser

        webbrowser.open(page.resolve().as_uri())
    return 1 if strict and not report.ok else 0


COMMANDS = {
    "check": cmd_check,
    "fmt": cmd_fmt,
    "compile": cmd_compile,
    "run": cmd_run,
    "predict": cmd_predict,
    "report": cmd_report,
    "fit-prior": cmd_fit_prior,
}


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
