"""`bnnc`: check, fmt, compile, run, predict and report on .bnn models.

The CLI parses arguments, sets up JAX's devices (before JAX is first imported) and calls the API; everything
else happens there. Exit codes: 0 ok; 1 `fmt --check` found changes, or `report --strict` found a failed check;
2 a problem in the user's model, data, settings or environment (a message, no traceback); 3 an internal error
(a bug: the traceback goes to a log file, not the screen); 130 interrupted. `check`, `fmt`, `compile` and `lsp`
(the language server for editors, bnnlang/lsp/) never import JAX, so they answer quickly.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import traceback
from pathlib import Path

from .api import messages
from .check.backends import BACKENDS
from .diagnose.thresholds import DEFAULT as LIMITS
from .errors import BnnError
from .version import __version__

ISSUES_URL = "the bnnlang issue tracker"

# The most used backend settings get their own flags; every setting is reachable with --set.
SETTING_FLAGS = (
    "chains",
    "warmup",
    "samples",
    "thinning",
    "seed",
    "target-accept",
    "max-tree-depth",
    "batch-size",
    "step-size",
    "friction",
    "steps",
    "lr",
    "guide",
    "schedule",
    "checkpoint-every",
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bnnc", description="Compile and run Bayesian neural network models (.bnn).")
    p.add_argument("--version", action="version", version=f"bnnc {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)  # flags every command takes
    common.add_argument("-q", "--quiet", action="store_true", help="print only results and errors")
    seeded = argparse.ArgumentParser(add_help=False)
    seeded.add_argument("--seed", type=int, default=0, help="random seed (default 0)")

    def command(name: str, help: str, *parents: argparse.ArgumentParser) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, parents=[common, *parents])

    c = command("check", "parse, resolve names and check shapes (and data, with --data)")
    c.add_argument("model")
    c.add_argument("--data", help="also check this data file against the data block")
    c.add_argument("--pedantic", action="store_true", help="also warn about likely modelling mistakes")

    f = command("fmt", "print the model in canonical format")
    f.add_argument("model")
    g = f.add_mutually_exclusive_group()
    g.add_argument("--check", action="store_true", help="exit 1 if the file is not formatted")
    g.add_argument("-w", "--write", action="store_true", help="rewrite the file in place")

    k = command("compile", "print the generated NumPyro program")
    k.add_argument("model")
    k.add_argument("-o", "--output", help="write the program to this file")

    _run_parser(command("run", "run inference and write a run directory"))

    d = command("predict", "posterior predictive summaries for new inputs", seeded)
    d.add_argument("run", help="a run directory written by `bnnc run`")
    d.add_argument("--data", required=True, help="inputs (observed columns are not needed)")
    d.add_argument("-o", "--output", help="CSV file to write (default: print)")
    d.add_argument("--interval", type=float, default=0.9, help="central interval mass (default 0.9)")
    d.add_argument("--draws", type=int, default=1000, help="posterior draws to use at most (default 1000)")
    d.add_argument("--draws-file", metavar="FILE.npz", help="also save the predictive draws, [draws, rows] per array")

    e = command("report", "diagnostics, predictive checks and calibration as HTML and JSON", seeded)
    e.add_argument("run", help="a run directory written by `bnnc run`")
    e.add_argument("--test", metavar="DATA", help="held-out data (inputs and outputs): accuracy and calibration")
    e.add_argument(
        "--ood", metavar="DATA", help="out-of-distribution inputs: how well epistemic uncertainty flags them"
    )
    e.add_argument("-o", "--out", metavar="DIR", help="where to write report.html and report.json (default: the run)")
    e.add_argument("--strict", action="store_true", help="exit 1 when a convergence check fails")
    e.add_argument(
        "--rhat-max", type=float, default=LIMITS.rhat_max, help=f"largest R-hat that passes ({LIMITS.rhat_max})"
    )
    e.add_argument(
        "--min-ess-per-chain",
        type=float,
        default=LIMITS.ess_min_per_chain,
        help=f"smallest bulk/tail ESS per chain ({LIMITS.ess_min_per_chain:g})",
    )
    e.add_argument(
        "--max-divergences", type=int, default=LIMITS.max_divergences, help="NUTS divergences allowed (default 0)"
    )
    e.add_argument("--open", action="store_true", help="open the HTML report in a browser")

    m = command("compare", "rank runs of models fit to the same data by PSIS-LOO (elpd_loo, stacking weights)")
    m.add_argument("runs", nargs="+", metavar="RUN", help="two or more run directories written by `bnnc run`")
    m.add_argument(
        "-o", "--out", metavar="DIR", help="where to write compare.md and compare.json (default: the runs' folder)"
    )

    q = command("prior", "prior predictive check: what the priors imply at the data, before fitting", seeded)
    q.add_argument("model")
    q.add_argument("--data", required=True, help="the training data (inputs and observed outputs)")
    q.add_argument("--draws", type=int, default=200, help="joint prior draws (default 200)")
    q.add_argument(
        "-o", "--output", metavar="FILE.png", help="also draw the prior's functions over the one real input (a PNG)"
    )

    g = command(
        "fit-prior", "fit a network's per-layer prior scales to its function-space GP prior; write a module", seeded
    )
    g.add_argument("model", help="a .bnn file with `prior NET ~ GP(...) at context(...)`")
    g.add_argument("-o", "--out", metavar="FILE", required=True, help="the .bnn module to write")
    g.add_argument("--network", help="which network (default: the model's only function-space prior)")
    g.add_argument("--data", help="data file, when the context points are a data matrix")
    g.add_argument("--steps", type=int, default=1000, help="Adam steps (default 1000)")

    command("lsp", "run the language server for editors over stdin and stdout (docs/editors.md)")
    return p


def _backends_with(feature: str) -> str:
    """The backends whose registry entry has `feature` (a flag of `Backend`), for help texts."""
    return ", ".join(n for n, b in BACKENDS.items() if getattr(b, feature))


def _run_parser(r: argparse.ArgumentParser) -> None:
    r.add_argument("model", nargs="?", help="the .bnn model (not with --resume)")
    r.add_argument("--data", help="CSV (header names the data variables), NPZ or Parquet")
    r.add_argument(
        "-o", "--out", help="run directory (default: runs/<model name>, or runs/<model name>-2, ... if taken)"
    )
    r.add_argument("--replace", action="store_true", help="replace the run already in --out (default: refuse)")
    r.add_argument(
        "--resume",
        metavar="RUN",
        help=f"finish an interrupted run: {_backends_with('checkpoints')} from their last checkpoint, the others "
        "from the start",
    )
    r.add_argument("--backend", help=f"{', '.join(BACKENDS)} (default: the model's infer statement, else nuts)")
    r.add_argument(
        "--init-from",
        metavar="RUN",
        help="start from this earlier run's posterior, with a short warmup (the same model on new or more data; "
        f"{_backends_with('warm_starts')})",
    )
    for flag in SETTING_FLAGS:
        r.add_argument(f"--{flag}", dest=flag.replace("-", "_"), help=argparse.SUPPRESS)
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="any backend setting")
    r.add_argument("--x64", action="store_true", help="compute in float64")
    r.add_argument("--report", action="store_true", help="also write the HTML/JSON report (as `bnnc report`)")
    # multi-host (docs/scaling.md): one process per host, chains split over them; process 0 writes the run
    r.add_argument(
        "--coordinator", metavar="HOST:PORT", help="multi-host: process 0's address, or 'auto' (SLURM, mpirun)"
    )
    r.add_argument("--num-processes", metavar="P", help="multi-host: how many processes share the run")
    r.add_argument("--process-id", metavar="I", help="multi-host: this process's number, 0 .. P-1")
    r.formatter_class = argparse.RawDescriptionHelpFormatter
    backends = "\n".join(f"  {name:<8}{b.summary}" for name, b in BACKENDS.items())
    flags = ", ".join(f"--{f}" for f in SETTING_FLAGS)
    r.epilog = f"backends:\n{backends}\n\nSettings as flags: {flags} (or --set key=value)."


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


def _say(args, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr)


def _load(path: str, args, pedantic: bool = False):
    from .api import load

    model = load(path)
    warnings = list(model.warnings)
    if pedantic:
        from .check.pedantic import pedantic_warnings

        warnings += pedantic_warnings(model.checked)
    for w in warnings:
        _say(args, w.format())
    return model


def cmd_check(args) -> int:
    model = _load(args.model, args, args.pedantic)
    msg = f"{args.model}: ok"
    if args.data:
        bound = model.data(args.data)
        dims = ", ".join(f"{k} = {v}" for k, v in bound.dims.items())
        msg += f"; data {args.data}: ok ({dims})"
    print(msg)
    return 0


def cmd_fmt(args) -> int:
    from .api import read_source
    from .api.rundir import write_text_atomic
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
    model = _load(args.model, args)
    if args.output:
        from .api.rundir import write_text_atomic

        write_text_atomic(Path(args.output), model.python_source)
    else:
        sys.stdout.write(model.python_source)
    return 0


def cmd_run(args) -> int:
    from .api.rundir import free_folder
    from .infer.devices.cluster import cluster_from

    cluster = cluster_from(args.coordinator, args.num_processes, args.process_id)
    if args.resume:
        if cluster is not None:
            raise messages.resume_one_process()
        return _resume(args)
    if not args.model or not args.data:
        raise messages.run_needs_model_and_data()
    model = _load(args.model, args)
    overrides = _overrides(args)
    if args.init_from:
        if "init" in overrides:
            raise messages.init_twice()
        overrides["init"] = Path(args.init_from)
    plan = model.plan(args.data, processes=cluster.num_processes if cluster else 1, **overrides)
    _start_jax(plan.settings.chains, args.x64, cluster)
    out = Path(args.out) if args.out else free_folder(Path("runs") / Path(args.model).stem)
    warm = f", starting from {args.init_from}" if args.init_from else ""
    _say(args, f"bnnc: {plan.settings.backend.describe(plan.settings.values)} on {args.model}{warm}")
    try:
        run = plan.run(out, progress=not args.quiet, replace=args.replace)
    except KeyboardInterrupt:
        _interrupted(out)
        return 130
    if run.path is None:  # multi-host, not process 0: its chains are in process 0's run directory
        import jax

        print(
            f"bnnc: process {jax.process_index()}/{jax.process_count()} done; process 0 writes {out}/", file=sys.stderr
        )
        return 0
    _finished(run, out, args.quiet)
    if args.report:
        return _write_report(run, run.report(), None, False, False, args.quiet)
    _say(args, f"bnnc: next: bnnc report {out}")
    return 0


def _overrides(args) -> dict:
    over = {f.replace("-", "_"): getattr(args, f.replace("-", "_")) for f in SETTING_FLAGS}
    over = {k: _value(v) for k, v in over.items() if v is not None}
    if args.backend:
        over["backend"] = args.backend
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise messages.bad_set(item)
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


def _resume(args) -> int:
    from .api import resume_run
    from .api.rundir import read_staged

    if args.model or args.data or args.init_from or _overrides(args):
        raise messages.resume_takes_nothing_else(args.resume)
    out = Path(args.resume)
    staged = read_staged(out)
    if staged is not None:
        record = staged[0]
        _start_jax(int(record.settings.get("chains", 1)), args.x64)
        _say(args, f"bnnc: resuming {record.backend} run {out}")
    try:
        run = resume_run(out, progress=not args.quiet)
    except KeyboardInterrupt:
        _interrupted(out)
        return 130
    _finished(run, out, args.quiet)
    return 0


def _start_jax(chains: int, x64: bool, cluster=None) -> None:
    """Devices before JAX is first imported: one per chain on CPU (per process in a multi-host run)."""
    from .infer.devices.setup import configure_devices, start_platform

    configure_devices(chains // (cluster.num_processes or 1) if cluster else chains)
    if cluster is not None:  # before any other JAX call
        from .infer.devices.distributed import initialize

        initialize(cluster)
    start_platform()
    if x64:
        import jax

        jax.config.update("jax_enable_x64", True)


def _interrupted(out: Path) -> None:
    from .api.rundir import CHECKPOINT, stage_dir

    if (stage_dir(out) / CHECKPOINT).is_file():
        print(f"bnnc: interrupted; continue with: bnnc run --resume {out}", file=sys.stderr)
    else:
        print("bnnc: interrupted; nothing was written.", file=sys.stderr)


def _finished(run, out: Path, quiet: bool) -> None:
    from .diagnose.console import run_table

    if not quiet:
        print(run_table(run.summary, run.settings.backend.chains_in_modes(run.settings.values)))
    files = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    print(f"bnnc: wrote {out}/ ({', '.join(files)})", file=sys.stderr)


def cmd_predict(args) -> int:
    from .api import open_run

    if not 0 < args.interval < 1:
        raise messages.bad_interval()
    from .api.rundir import check_output

    for target in (args.output, args.draws_file):  # before any prediction is made for them
        if target:
            check_output(target)
    run = open_run(args.run)
    bound = run.prediction_inputs(args.data)
    draws = run.predictive_draws(bound, max_draws=args.draws, seed=args.seed)
    table = run.predict(bound, interval=args.interval, draws=draws)
    if args.draws_file:
        from .api.rundir import write_npz_atomic

        arrays = {name if k == "draws" else f"{name}.{k}": v for name, d in draws.items() for k, v in d.items()}
        write_npz_atomic(Path(args.draws_file), arrays)
        _say(args, f"bnnc: wrote {args.draws_file} ({', '.join(arrays)})")
    text = _csv(table)
    if args.output:
        from .api.rundir import write_text_atomic

        write_text_atomic(Path(args.output), text)
        _say(args, f"bnnc: wrote {args.output} ({len(next(iter(table.values())))} rows)")
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
    if isinstance(v, str | np.str_):  # a category's level name (a validated identifier)
        return str(v)
    return f"{float(v):.6g}"


def cmd_report(args) -> int:
    from .api import open_run
    from .diagnose.thresholds import Thresholds

    for flag, value, example in (
        ("--rhat-max", args.rhat_max, "1.01"),
        ("--min-ess-per-chain", args.min_ess_per_chain, "100"),
    ):
        if not value > 0:
            raise messages.not_positive(flag, example)
    if args.max_divergences < 0:
        raise messages.negative_divergences()
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
            if "reading" in m:
                print(f"bnnc: held out {name}: {m['reading']}", file=sys.stderr)
        for name, o in report.content.get("ood", {}).items():
            print(f"bnnc: OOD {name}: AUROC {o['auroc']:.3f} ({o['score']})", file=sys.stderr)
        print(f"bnnc: wrote {page} and {data.name}", file=sys.stderr)
    if open_page:
        import webbrowser

        webbrowser.open(page.resolve().as_uri())
    return 1 if strict and not report.ok else 0


def cmd_compare(args) -> int:
    import os

    from .api.compare import compare_runs

    comparison = compare_runs(args.runs)
    sys.stdout.write(comparison.text())
    sys.stdout.flush()
    folder = Path(args.out) if args.out else Path(os.path.commonpath([Path(r).resolve().parent for r in args.runs]))
    md, js = comparison.write(folder)
    _say(args, f"bnnc: wrote {md} and {js.name}")
    return 0


def cmd_prior(args) -> int:
    model = _load(args.model, args)
    result = model.prior_predictive(
        args.data, draws=args.draws, seed=args.seed, functions=args.output is not None, figure=args.output
    )
    print(result.table())
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.output:
        _say(args, f"bnnc: wrote {args.output}")
    return 0


def cmd_fit_prior(args) -> int:
    from .api.rundir import check_output, write_text_atomic
    from .priors.fit import context_points, fit_prior

    check_output(args.out)  # before the fit
    model = _load(args.model, args)
    priors = [fp.network for fp in model.checked.function_priors]
    network = args.network or (priors[0] if len(priors) == 1 else None)
    if network is None or network not in priors:
        raise messages.which_network(args.network, bool(priors))
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
    print(
        f"prior function sd at the context points: {result.sd_start:.3g} at Neal's scales -> {result.sd_fitted:.3g} "
        f"fitted; the GP's {result.sd_target:.3g}"
    )
    print(f"bnnc: wrote {args.out}")
    return 0


def cmd_lsp(args) -> int:
    from .lsp import serve

    serve()
    return 0


COMMANDS = {
    "check": cmd_check,
    "fmt": cmd_fmt,
    "compile": cmd_compile,
    "run": cmd_run,
    "predict": cmd_predict,
    "report": cmd_report,
    "compare": cmd_compare,
    "fit-prior": cmd_fit_prior,
    "prior": cmd_prior,
    "lsp": cmd_lsp,
}


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
