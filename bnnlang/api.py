"""The Python API, for notebooks and scripts; `bnnc` is a thin layer over it.

    import bnnlang
    model = bnnlang.load("examples/regression_1d.bnn")
    run = model.run("examples/data/regression_1d.csv", chains=2)
    table = model.predict(run, "examples/data/regression_1d_grid.csv")

Errors in the model, data or settings raise `bnnlang.BnnError`, whose text is
the same located message the CLI prints.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .check.checker import check
from .check.data import BoundData, load_data
from .check.model import CheckedModel
from .check.settings import InferSettings
from .codegen import generate
from .codegen.names import inducing_argument
from .errors import BnnError, Location, undecodable_byte
from .syntax import tree as t
from .syntax.parser import parse

if TYPE_CHECKING:
    from .diagnose.report import Report
    from .diagnose.verdict import Thresholds


def read_source(path: str | Path) -> str:
    """Read a model file, refusing missing, unreadable, binary and empty files with a clear message."""
    spath = str(path)
    p = Path(path)
    if not p.exists():
        raise BnnError(f"Model file '{spath}' does not exist.", Location(spath, 0), hint="Check the path.")
    if p.is_dir():
        raise BnnError(f"'{spath}' is a folder, not a model file.", Location(spath, 0), hint="Give a .bnn file.")
    try:
        raw = p.read_bytes()
    except OSError as err:
        raise BnnError(
            f"Could not read '{spath}': {err.strerror}.", Location(spath, 0), hint="Check permissions."
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BnnError(
            f"The file is not UTF-8 text (byte 0x{raw[err.start]:02x}).",
            undecodable_byte(spath, raw, err),
            hint="Save the model as UTF-8 text.",
        ) from None
    if "\x00" in text:
        pos = text.index("\x00")
        line = text[:pos].count("\n") + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        shown = text.split("\n")[line - 1].replace("\x00", " ")  # lines as counted above (not splitlines)
        raise BnnError(
            "The file contains NUL bytes; it is not a text model.",
            Location(spath, line, col, None, shown),
            hint="Give a .bnn text file.",
        )
    if not text.strip():
        raise BnnError(
            "The model file is empty.",
            Location(spath, 0),
            hint="A model needs at least a data block, a param or network, and an observe statement.",
        )
    return text


@dataclass
class Run:
    """A finished inference run: the posterior as ArviZ data, its summary and its settings."""

    model: Model
    idata: Any
    summary: dict[str, Any]
    settings: dict[str, Any]
    path: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    traces: dict[str, Any] = field(default_factory=dict)  # e.g. SVI's loss per step

    def report(
        self,
        test: str | Path | BoundData | None = None,
        ood: str | Path | BoundData | None = None,
        thresholds: Thresholds | None = None,
        seed: int = 0,
    ) -> Report:
        """Diagnostics, predictive checks and, with `test`/`ood` data, calibration and OOD separation."""
        from .diagnose.report import ReportInputs, build
        from .diagnose.verdict import Thresholds

        dims = self.settings.get("dims")
        if test is not None and not isinstance(test, BoundData):
            test = self.model.data(test, training_dims=dims)
        if ood is not None and not isinstance(ood, BoundData):
            ood = self.model.data(ood, require_observed=False, training_dims=dims)
        inputs = ReportInputs(
            self.model.module,
            self.model.checked,
            self.model.program.source,
            self.idata,
            self.summary,
            self.settings,
            self.traces,
            str(self.path) if self.path is not None else "",
        )
        return build(inputs, test, ood, thresholds or Thresholds(), seed)

    def write_report(self, report: Report, folder: str | Path | None = None) -> tuple[Path, Path]:
        """report.html and report.json into the run directory (or `folder`), each written atomically."""
        from .diagnose.html import render
        from .rundir import write_text_atomic

        target = Path(folder) if folder is not None else self.path
        if target is None:
            raise ValueError("this run has no directory: give `folder`")
        target.mkdir(parents=True, exist_ok=True)
        page, data = target / "report.html", target / "report.json"
        write_text_atomic(data, json.dumps(report.as_json(), indent=1, allow_nan=False) + "\n")
        write_text_atomic(page, render(report))
        return page, data


class Model:
    """A checked model: its tree, the generated NumPyro program, and ways to run it."""

    def __init__(self, program: t.Program, checked: CheckedModel, model_dir: Path | None) -> None:
        self.program = program
        self.checked = checked
        self.model_dir = model_dir

    @classmethod
    def from_source(cls, source: str, path: str = "<string>", model_dir: str | Path | None = None) -> Model:
        program = parse(source, path)
        mdir = Path(model_dir) if model_dir is not None else (Path(path).parent if path != "<string>" else None)
        return cls(program, check(program, mdir), mdir)

    @classmethod
    def from_file(cls, path: str | Path) -> Model:
        return cls.from_source(read_source(path), str(path), Path(path).resolve().parent)

    @property
    def warnings(self) -> list[BnnError]:
        return self.checked.warnings

    @cached_property
    def python_source(self) -> str:
        """The generated NumPyro program: what `bnnc compile` prints and what runs."""
        return generate(self.checked)

    @cached_property
    def module(self):
        from .codegen.load import load_program

        return load_program(self.python_source)

    @property
    def numpyro_model(self):
        """The generated model function, for use with any NumPyro tool."""
        return self.module.model

    def settings(self, **overrides: Any) -> InferSettings:
        return self.checked.infer.with_overrides(overrides)

    def data(self, path: str | Path, require_observed: bool = True, training_dims: dict | None = None) -> BoundData:
        return load_data(path, self.checked, require_observed, training_dims)

    def run(
        self,
        data: str | Path | BoundData,
        out: str | Path | None = None,
        progress: bool = False,
        resume: bool = False,
        **overrides: Any,
    ) -> Run:
        """Check the data and settings, then run the backend; with `out`, also write a run directory.

        With `resume`, a checkpoint left in `out`'s stage by an interrupted run
        is picked up (SG-HMC and SVI); the result equals an uninterrupted run.
        """
        from .diagnose.summary import summarize
        from .infer.checkpoint import NO_CHECKPOINT, Checkpoint, fingerprint
        from .infer.setup import enable_compilation_cache

        settings = self.settings(**overrides)
        bound = data if isinstance(data, BoundData) else self.data(data)
        enable_compilation_cache()
        t0 = time.perf_counter()
        problem = self.problem(bound, settings)
        t_compile = time.perf_counter() - t0
        record = {
            "format_version": 1,
            "bnnlang_version": _version(),
            "model_path": self.program.path,
            "data_path": str(bound.path),
            "backend": settings.method,
            "settings": settings.values,
            "dims": bound.dims,
        }
        if problem.noncentered:
            record["noncentered"] = list(problem.noncentered)  # sampled as loc + scale * z (docs/inference.md)
        if hasattr(self.module, "STANDARDIZED"):  # for the reader; predictions take them from posterior.nc
            record["standardized"] = {
                v: {k: problem.data[f"_{k}_{v}"].tolist() for k in ("shift", "scale")} for v in self.module.STANDARDIZED
            }
        from .infer.run import run_inference
        from .rundir import RunWriter

        def finish(result) -> Run:
            t1 = time.perf_counter()
            summary = summarize(result.idata, result.info)
            timings = {"load_program_s": t_compile, **result.timings, "summary_s": time.perf_counter() - t1}
            summary["timings"] = timings
            return Run(self, result.idata, summary, record, None, timings, result.traces)

        from .infer.distributed import is_writer

        if out is None or not is_writer():  # multi-host: only process 0 writes the run directory
            return finish(run_inference(problem, settings, progress, NO_CHECKPOINT))
        target = Path(out)
        with RunWriter(target, resume=resume) as w:
            if not resume:
                w.text("model.bnn", self.program.source)
                w.text("model.py", self.python_source)
                w.json("settings.json", record)
            every = int(settings.values.get("checkpoint_every", 0))
            ckpt = Checkpoint(w.checkpoint_path, every, fingerprint(settings.values, problem.data))
            run = finish(run_inference(problem, settings, progress, ckpt))
            write_run(run, w)
        run.path = target
        return run

    def problem(self, bound: BoundData, settings: InferSettings | None = None):
        """The backends' view of this model on `bound` data; refuses settings that cannot work."""
        from functools import partial

        from .infer.arviz_data import site_dims
        from .infer.problem import make_problem, resolve_batch_size

        kwargs = bound.model_kwargs(self.checked)
        kwargs.update(self.scaling(kwargs))
        kwargs.update(self.gp_inputs(kwargs))
        sites = self.noncentered_sites(settings)
        reparam = partial(self.module.noncentered, sites=sites) if sites else None
        problem = make_problem(self.module.model, self.checked, kwargs, site_dims(self.checked), reparam, tuple(sites))
        if settings is not None:
            if "batch_size" in settings.values:
                resolve_batch_size(problem, settings["batch_size"], settings.method, None)
            free = [s for s in self.checked.sample_sites() if s not in problem.deterministic]
            if problem.deterministic and not free:
                raise BnnError(
                    f"Every parameter of this model is in a deterministic block: nothing is left for "
                    f"{settings.method} to sample.",
                    Location(self.program.path, 0),
                    hint="Take the last layer out of the deterministic block (a Bayesian last layer), "
                    "or use `infer svi(guide = map)` for a point estimate of everything.",
                )
        return problem

    def noncentered_sites(self, settings: InferSettings | None) -> dict[str, tuple[str, ...]]:
        """The hierarchical sites a run with `settings` (default: the model's own) samples non-centred."""
        chosen = settings if settings is not None else self.checked.infer
        return self.checked.noncentered_sites() if chosen.values.get("noncentered", True) else {}

    def scaling(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The `standardized` variables' training means and sds (`_shift_x`, `_scale_x`), which the model
        takes as arguments; ArviZ's constant_data keeps them, so predictions reuse them."""
        return self.module._scaling(kwargs) if hasattr(self.module, "STANDARDIZED") else {}

    def gp_inputs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Sparse GPs' inducing inputs, chosen once from the full training data, so minibatches share them."""
        import jax.numpy as jnp

        def inputs(name: str):
            x = jnp.asarray(kwargs[name])
            if f"_shift_{name}" in kwargs:  # the model sees standardized inputs
                x = (x - kwargs[f"_shift_{name}"]) / kwargs[f"_scale_{name}"]
            return x

        return {
            inducing_argument(g.name): self.module._gp_inducing(inputs(g.node.input.id), g.inducing)
            for g in self.checked.gps.values()
            if g.mode == "sparse"
        }

    def predict(
        self,
        run: Run | Any,
        data: str | Path | BoundData,
        interval: float = 0.9,
        max_draws: int | None = 1000,
        seed: int = 0,
        draws: dict[str, dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Predictive mean, sd, central interval and uncertainty split for each input row.

        `draws`, from `predictive_draws` on the same data, saves computing them twice.
        """
        from .infer.predict import summarize_predictions

        bound = self.prediction_inputs(run, data)
        if draws is None:
            draws = self.predictive_draws(run, bound, max_draws, seed)
        cols = {k: bound.arrays[k] for k in (v.name for v in self.checked.inputs)}
        table = {}
        for name, arr in cols.items():
            if arr.ndim == 1 or arr.shape[1] == 1:
                table[name] = arr.reshape(len(arr))
            else:
                decl = self.checked.data[name].decl
                names = [c.id for c in decl.columns] if decl.columns else [f"{name}.{j}" for j in range(arr.shape[1])]
                for j, col in enumerate(names):
                    table[col] = arr[:, j]
        table.update(summarize_predictions(draws, interval))
        return table

    def predictive_draws(
        self, run: Run | Any, data: str | Path | BoundData, max_draws: int | None = 1000, seed: int = 0
    ) -> dict[str, dict[str, Any]]:
        """Per observed variable: sampled outputs ('draws'), and per draw the likelihood's 'mean' and 'var'
        (or class 'probs'), each [draws, rows, ...]."""
        from .infer.predict import predictive_draws

        idata = run.idata if isinstance(run, Run) else run
        kwargs = self.prediction_inputs(run, data).model_kwargs(self.checked, observed=False)
        return predictive_draws(self.module, self.checked, idata, kwargs, seed, max_draws)

    def prediction_inputs(self, run: Run | Any, data: str | Path | BoundData) -> BoundData:
        """New inputs, checked against the model with the training run's dimensions (outputs not needed)."""
        dims = run.settings.get("dims") if isinstance(run, Run) else None
        return data if isinstance(data, BoundData) else self.data(data, require_observed=False, training_dims=dims)

    def log_predictive_density(self, run: Run | Any, data: str | Path | BoundData, max_draws: int | None = 1000):
        """Per observed variable and row: log p(y_test | training data), averaged over posterior draws."""
        from .infer.predict import log_predictive_density

        idata = run.idata if isinstance(run, Run) else run
        dims = run.settings.get("dims") if isinstance(run, Run) else None
        bound = data if isinstance(data, BoundData) else self.data(data, training_dims=dims)
        return log_predictive_density(self.module, idata, bound.model_kwargs(self.checked), max_draws)


def load(path: str | Path) -> Model:
    """Parse and check a .bnn file."""
    return Model.from_file(path)


def write_run(run: Run, w) -> None:
    """The run's results into an open RunWriter's stage (model, program and settings are already there)."""
    w.file("posterior.nc", run.idata.to_netcdf)
    for name, values in run.traces.items():
        w.text(f"{name}.csv", "step," + name + "\n" + "".join(f"{i},{float(v):.6g}\n" for i, v in enumerate(values)))
    w.json("summary.json", run.summary)
    w.text("log.txt", _log_text(run))


def _log_text(run: Run) -> str:
    lines = [f"bnnlang {_version()}", f"model: {run.settings['model_path']}", f"data: {run.settings['data_path']}"]
    lines.append(f"backend: {run.settings['backend']} {json.dumps(run.settings['settings'])}")
    for k, v in run.timings.items():
        lines.append(f"{k}: {v:.3f}" if v is not None else f"{k}: not measured")
    for w in run.model.warnings:
        lines.append(w.format())
    return "\n".join(lines) + "\n"


def open_run(path: str | Path) -> Run:
    """Read a run directory written by `bnnc run`, refusing incomplete or foreign folders."""
    from .infer.arviz_data import az
    from .rundir import FORMAT_VERSION, REQUIRED, stage_dir

    p = Path(path)
    spath = str(path)
    if not p.is_dir():
        staged = stage_dir(p).is_dir()
        raise BnnError(
            f"Run directory '{spath}' does not exist" + (" yet: its run was interrupted." if staged else "."),
            Location(spath, 0),
            hint=f"Finish it with: bnnc run --resume {spath}" if staged else "Give the folder `bnnc run -o` wrote.",
        )
    missing = [f for f in REQUIRED if not (p / f).is_file()]
    if missing:
        raise BnnError(
            f"'{spath}' is not a complete run directory: {', '.join(missing)} missing.",
            Location(spath, 0),
            hint="Run the model again with `bnnc run`.",
        )
    try:
        settings = json.loads((p / "settings.json").read_text(encoding="utf-8"))
        summary = json.loads((p / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise BnnError(
            f"The run's settings or summary could not be read: {err}.", Location(spath, 0), hint="Run the model again."
        ) from None
    if settings.get("format_version") != FORMAT_VERSION:
        raise BnnError(
            f"'{spath}' was written by another version of bnnlang (format {settings.get('format_version')}).",
            Location(spath, 0),
            hint=f"This version reads run format {FORMAT_VERSION}; run the model again.",
        )
    model = Model.from_source((p / "model.bnn").read_text(encoding="utf-8"), str(p / "model.bnn"), _model_dir(settings))
    try:
        idata = az.from_netcdf(p / "posterior.nc")
    except Exception as err:  # netCDF/HDF5 raise many types for a damaged file
        raise BnnError(
            f"The posterior in '{spath}' could not be read: {err}.", Location(spath, 0), hint="Run the model again."
        ) from None
    return Run(model, idata, summary, settings, p, traces=_read_traces(p))


def _read_traces(p: Path) -> dict[str, Any]:
    """The per-step traces a run wrote as NAME.csv (step,NAME), e.g. SVI's loss."""
    import numpy as np

    traces = {}
    for name in ("loss",):
        f = p / f"{name}.csv"
        if f.is_file():
            rows = f.read_text(encoding="utf-8").splitlines()[1:]
            traces[name] = np.array([float(r.split(",")[1]) for r in rows if r])
    return traces


def resume_run(path: str | Path, progress: bool = False) -> Run:
    """Continue the interrupted run whose target was `path`: from its last checkpoint (SG-HMC, SVI), from the
    start (NUTS, MILE: same seed, same draws), or only its final rename if it had finished."""
    from .rundir import promote, stage_dir, staged_complete

    p = Path(path)
    stage = stage_dir(p)
    where = Location(str(path), 0)
    if not (stage / "settings.json").is_file():
        if all((p / f).is_file() for f in ("settings.json", "posterior.nc", "summary.json")):
            raise BnnError(f"The run '{path}' is already complete.", where, hint="Nothing to resume.")
        raise BnnError(
            f"There is no interrupted run to resume at '{path}'.",
            where,
            hint="Give the -o folder of a `bnnc run` that was stopped; start a new run otherwise.",
        )
    if staged_complete(p):  # killed between finishing and renaming: nothing to compute again
        promote(p)
        return open_run(p)
    record = json.loads((stage / "settings.json").read_text(encoding="utf-8"))
    model = Model.from_source(
        (stage / "model.bnn").read_text(encoding="utf-8"), record["model_path"], _model_dir(record)
    )
    overrides = {"backend": record["backend"], **record["settings"]}
    return model.run(record["data_path"], out=p, progress=progress, resume=True, **overrides)


def _model_dir(settings: dict[str, Any]) -> Path | None:
    mp = settings.get("model_path")
    return Path(mp).resolve().parent if mp and mp != "<string>" else None


def _version() -> str:
    from . import __version__

    return __version__
