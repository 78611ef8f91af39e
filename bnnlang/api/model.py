"""A checked model, and the plan of a run: settings, data and how the data are cut, decided once without JAX.

    model = bnnlang.load("examples/regression_1d.bnn")
    plan = model.plan("examples/data/regression_1d.csv", chains=2)   # refuses bad data and settings; no JAX yet
    run = plan.run(out="runs/r1d")                                   # compiles, samples, writes the run folder

`Model.run(data, **settings)` does both. The CLI makes the same two calls, setting up JAX's devices between
them (the device count must be set before JAX is first imported).
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..check.checker import check
from ..check.data import BoundData, load_data
from ..check.model import CheckedModel
from ..check.settings import InferSettings
from ..codegen import generate
from ..codegen.names import inducing_argument
from ..errors import BnnWarning, first_nul, undecodable_byte
from ..infer import messages as infer_messages
from ..infer.rows import RowPlan, resolve_batch_size, row_plan
from ..syntax import tree as t
from ..syntax.parser import parse
from ..version import __version__
from . import messages, warm
from .run import DataSource, Run
from .rundir import RunRecord, RunWriter, check_output, check_target, write_bytes_atomic

if TYPE_CHECKING:
    from ..priors.predictive import PriorPredictive


def read_source(path: str | Path) -> str:
    """Read a model file, refusing missing, unreadable, binary and empty files with a clear message."""
    spath = str(path)
    p = Path(path)
    if not p.exists():
        raise messages.no_model_file(spath)
    if p.is_dir():
        raise messages.model_is_folder(spath)
    try:
        raw = p.read_bytes()
    except OSError as err:
        raise messages.unreadable_model(spath, err.strerror) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise messages.model_not_utf8(undecodable_byte(spath, raw, err), raw[err.start]) from None
    nul = first_nul(spath, text)
    if nul is not None:
        raise messages.model_has_nul(dataclasses.replace(nul, source_line=nul.source_line.replace("\x00", " ")))
    if not text.strip():
        raise messages.empty_model(spath)
    return text


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
    def warnings(self) -> list[BnnWarning]:
        return self.checked.warnings

    @cached_property
    def python_source(self) -> str:
        """The generated NumPyro program: what `bnnc compile` prints and what runs."""
        return generate(self.checked)

    @cached_property
    def module(self):
        from ..codegen.load import load_program

        return load_program(self.python_source)

    @property
    def numpyro_model(self):
        """The generated model function, for use with any NumPyro tool."""
        return self.module.model

    def settings(self, **overrides: Any) -> InferSettings:
        return self.checked.infer.with_overrides(overrides)

    def data(self, source: DataSource, require_observed: bool = True, training_dims: dict | None = None) -> BoundData:
        """Data checked against the data block: a CSV, NPZ or Parquet file, a mapping of arrays, or a DataFrame."""
        if isinstance(source, BoundData):
            return source
        return load_data(source, self.checked, require_observed, training_dims)

    def plan(self, data: DataSource, processes: int = 1, **overrides: Any) -> RunPlan:
        """Settings and data for a run, checked together before JAX starts: settings the data cannot meet (a
        batch larger than the data, nothing left to sample, chains that do not split over `processes`).

        `init` may name a previous run (a `Run`, or its directory) to start from: a warm start (`api/warm.py`)."""
        from ..infer.devices.cluster import check_split

        previous = None
        if warm.is_previous_run(overrides.get("init")):
            overrides = dict(overrides)
            previous = warm.previous_run(overrides.pop("init"), Model.from_source)
        settings = self.settings(**overrides)
        if previous is not None:
            settings = warm.warm_settings(settings, overrides)
        bound = self.data(data)
        rows = row_plan(self.checked, bound.model_kwargs(self.checked))
        if "batch_size" in settings.values:
            resolve_batch_size(rows, settings["batch_size"], settings.method, None)
        free = [s for s in self.checked.sample_sites() if s not in self.checked.deterministic_sites()]
        if self.checked.deterministic_sites() and not free:
            raise infer_messages.nothing_to_sample(settings.method)
        check_split(settings.method, settings.chains, processes)
        return RunPlan(self, settings, bound, rows, previous)

    def run(
        self,
        data: DataSource,
        out: str | Path | None = None,
        progress: bool = False,
        resume: bool = False,
        replace: bool = False,
        **overrides,
    ) -> Run:
        """Check the data and settings, then run the backend; with `out`, also write a run directory.

        A run in `out` already is refused before anything runs, unless `replace`. With `resume`, a checkpoint left
        in `out`'s stage by an interrupted run is picked up (SG-HMC and SVI); the result equals an uninterrupted
        run. With `init` a previous run of this model (a `Run` or its directory), the chains start from its
        posterior with a short warmup (NUTS, MILE; docs/inference.md).
        """
        return self.plan(data, **overrides).run(out, progress, resume, replace)

    def prior_predictive(
        self,
        data: DataSource,
        draws: int = 200,
        seed: int = 0,
        functions: bool = True,
        figure: str | Path | None = None,
    ) -> PriorPredictive:
        """What the prior implies at the data's inputs, before any fitting (`bnnc prior`, priors/predictive.py):
        the prior functions' spread against the data's sd, or how often a classifier's prior is saturated.

        With `functions`, a model with one real input also gets the same draws over a grid of that input
        (`.functions`, `.figures()`, `.png()`: one more pass of the draws); `figure` writes them as a PNG, refused
        before anything runs where the model has no such input or the file's folder does not exist.
        """
        from ..priors.functions import GRID_POINTS, one_real_input
        from ..priors.predictive import prior_predictive

        target = Path(figure) if figure is not None else None
        if target is not None:
            if one_real_input(self.checked) is None:
                raise messages.no_prior_figure("the model has no single real input column to draw them over")
            check_output(target)
        kwargs = self.data(data).model_kwargs(self.checked)
        kwargs.update(self.scaling(kwargs))
        grid = GRID_POINTS if functions or target is not None else None
        result = prior_predictive(self.module, self.checked, kwargs, draws, seed, grid)
        if target is not None:
            png = result.png()
            if png is None:
                raise messages.no_prior_figure("no observed variable has one function value per row (K > 2 classes?)")
            write_bytes_atomic(target, png)
        return result

    # -- what the generated model function takes ------------------------------------------------------------
    def problem(self, bound: BoundData, settings: InferSettings | None = None, rows: RowPlan | None = None):
        """The backends' view of this model on `bound` data (`rows`: its minibatch plan, if already made)."""
        from ..infer.problem import make_problem
        from ..posterior.arviz import site_dims

        kwargs = bound.model_kwargs(self.checked)
        kwargs.update(self.scaling(kwargs))
        kwargs.update(self.gp_inputs(kwargs))
        sites = self.noncentered_sites(settings)
        reparam = partial(self.module.noncentered, sites=sites) if sites else None
        dims = site_dims(self.checked)
        program = hashlib.sha256(self.python_source.encode()).hexdigest()
        return make_problem(self.module.model, self.checked, kwargs, dims, reparam, tuple(sites), rows, program)

    def noncentered_sites(self, settings: InferSettings | None) -> dict[str, tuple[str, ...]]:
        """The hierarchical sites a run with `settings` (default: the model's own) samples non-centred."""
        chosen = settings if settings is not None else self.checked.infer
        return self.checked.noncentered_sites() if chosen.values.get("noncentered", True) else {}

    def scaling(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """The `standardized` variables' training means and sds (`_shift_x`, `_scale_x`), which the model
        takes as arguments; ArviZ's constant_data keeps them, so predictions reuse them."""
        return self.module._scaling(kwargs) if hasattr(self.module, "STANDARDIZED") else {}

    def gp_inputs(self, kwargs: Mapping[str, Any]) -> dict[str, Any]:
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


@dataclass
class RunPlan:
    """A run decided but not started: the model, its resolved settings, its checked data, how rows are cut."""

    model: Model
    settings: InferSettings
    data: BoundData
    rows: RowPlan
    previous: Run | None = None  # the run this one starts from (a warm start), or None

    def record(self, problem) -> RunRecord:
        standardized = {}
        if hasattr(self.model.module, "STANDARDIZED"):
            standardized = {
                v: {k: problem.data[f"_{k}_{v}"].tolist() for k in ("shift", "scale")}
                for v in self.model.module.STANDARDIZED
            }
        return RunRecord(
            model_path=self.model.program.path,
            data_path=str(self.data.path),
            backend=self.settings.method,
            settings=self.settings.values,
            dims=self.data.dims,
            noncentered=list(problem.noncentered),
            standardized=standardized,
            warm_start=warm.record(self.previous) if self.previous is not None else {},
            bnnlang_version=__version__,
        )

    def run(
        self, out: str | Path | None = None, progress: bool = False, resume: bool = False, replace: bool = False
    ) -> Run:
        """Compile and run; with `out`, write the run directory (only process 0 of a multi-host run writes).
        What `out` holds is replaced only with `replace` (checked before anything runs)."""
        from ..diagnose.summary import summarize
        from ..infer.checkpoint import NO_CHECKPOINT, Checkpoint, fingerprint
        from ..infer.devices.distributed import is_writer
        from ..infer.devices.setup import enable_compilation_cache, start_platform
        from ..infer.run import run_inference
        from ..posterior.arviz import from_result

        if out is not None and not resume:
            check_target(Path(out), replace)
        start_platform()
        enable_compilation_cache()
        t0 = time.perf_counter()
        problem = self.model.problem(self.data, self.settings, self.rows)
        if self.previous is not None:  # refuses a previous run of another model before anything runs
            problem = dataclasses.replace(problem, warm=warm.warm_start(problem, self.previous))
        record = self.record(problem)
        timings = {"load_program_s": time.perf_counter() - t0}

        def finish(checkpoint) -> Run:
            t1 = time.perf_counter()
            result = run_inference(problem, self.settings, progress, checkpoint)
            t2 = time.perf_counter()
            idata = from_result(problem, result)
            t3 = time.perf_counter()
            summary = summarize(idata, result.info)
            timings.update(result.timings)
            timings.update({"to_arviz_s": t3 - t2, "summary_s": time.perf_counter() - t3})
            timings["run_s"] = time.perf_counter() - t1  # the whole run as the user waited for it
            summary["timings"] = timings
            return Run(self.model, idata, summary, record, None, timings, result.traces)

        if out is None or not is_writer():  # multi-host: only process 0 writes the run directory
            return finish(NO_CHECKPOINT)
        target = Path(out)
        with RunWriter(target, resume=resume) as w:
            if not resume:
                w.text("model.bnn", self.model.program.source)
                w.text("model.py", self.model.python_source)
                w.json("settings.json", record.to_json())
            every = int(self.settings.values.get("checkpoint_every", 0))
            run = finish(Checkpoint(w.checkpoint_path, every, fingerprint(self.settings.values, problem.data)))
            run.write(w)
        run.path = target
        return run
