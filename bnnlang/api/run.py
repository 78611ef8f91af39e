"""A finished run: its posterior, summary and record, and what can be asked of it — predictions at new inputs,
log predictive densities, a report, its run directory's files."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..check.data import BoundData
from ..check.settings import InferSettings
from . import messages, rundir
from .rundir import RunRecord

if TYPE_CHECKING:
    from ..diagnose.report import Report
    from ..diagnose.thresholds import Thresholds
    from ..priors.predictive import PriorPredictive

# What predictions may be given as data: a file, a mapping of arrays, a pandas DataFrame, or data already bound.
DataSource = Any


@dataclass
class Run:
    """A finished inference run: the posterior as ArviZ data, its summary and its record (settings.json)."""

    model: Any = field(repr=False)  # the `api.Model` that ran (not imported here: a Model makes Runs)
    idata: Any = field(repr=False)  # a notebook's plain-text fallback would print every draw
    summary: dict[str, Any] = field(repr=False)
    record: RunRecord
    path: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    traces: dict[str, Any] = field(default_factory=dict)  # e.g. SVI's loss per step

    @classmethod
    def read(cls, path: str | Path, model_from_source: Callable[[str, str, Path | None], Any]) -> Run:
        """A run directory written by `bnnc run`, refusing incomplete or foreign folders; its model is checked again
        by `model_from_source(source, path, model_dir)` (`api.Model.from_source`, passed in: a Model makes Runs)."""
        record, summary, source = rundir.read_run(path)
        p = Path(path)
        model = model_from_source(source, str(p / rundir.MODEL), record.model_dir)
        return cls(model, rundir.read_posterior(p), summary, record, p, traces=rundir.read_traces(p))

    @property
    def settings(self) -> InferSettings:
        return InferSettings(self.record.backend, dict(self.record.settings))

    def to_arviz(self):
        """The posterior as ArviZ InferenceData, under the name ArviZ users look for (the same object as `idata`):
        posterior, sample_stats, log_likelihood, and the training data as constant_data and observed_data."""
        return self.idata

    def _repr_html_(self) -> str:
        """Jupyter shows a run as what ran and its convergence summary, with a pointer to `report()`."""
        from ..diagnose.notebook import run_html

        folder = str(self.path) if self.path is not None else None
        r = self.record
        return run_html(r.model_path, r.backend, r.settings, self.summary, r.data_path, folder)

    # -- predictions ------------------------------------------------------------------------------------------
    def prediction_inputs(self, data: DataSource, require_observed: bool = False) -> BoundData:
        """New inputs checked against the model with the training run's dimensions (outputs not needed)."""
        return self.model.data(data, require_observed=require_observed, training_dims=self.record.dims)

    def predictive_draws(
        self, data: DataSource, max_draws: int | None = 1000, seed: int = 0
    ) -> dict[str, dict[str, Any]]:
        """Per observed variable: sampled outputs ('draws'), and per draw the likelihood's 'mean' and 'var'
        (or class 'probs'), each [draws, rows, ...]."""
        from ..posterior.predict import predictive_draws

        kwargs = self.prediction_inputs(data).model_kwargs(self.model.checked, observed=False)
        return predictive_draws(self.model.module, self.model.checked, self.idata, kwargs, seed, max_draws)

    def predict(
        self,
        data: DataSource,
        interval: float = 0.9,
        max_draws: int | None = 1000,
        seed: int = 0,
        draws: dict[str, dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Predictive mean, sd, central interval and uncertainty split for each input row, beside the inputs.

        `draws`, from `predictive_draws` on the same data, saves computing them twice.
        """
        import numpy as np

        from ..posterior.predict import summarize_predictions

        bound = self.prediction_inputs(data)
        if draws is None:
            draws = self.predictive_draws(bound, max_draws, seed)
        table = {}
        for var in self.model.checked.inputs:
            arr = bound.arrays[var.name]
            if arr.ndim > 2:  # an image or a sequence per row: no columns to show it in
                continue
            if var.levels is not None:  # a category: its names, as the data file wrote them
                arr = np.asarray(var.levels)[arr.astype(int)]
            if arr.ndim == 1 or arr.shape[1] == 1:
                table[var.name] = arr.reshape(len(arr))
                continue
            decl = var.decl
            names = [c.id for c in decl.columns] if decl.columns else [f"{var.name}.{j}" for j in range(arr.shape[1])]
            for j, col in enumerate(names):
                table[col] = arr[:, j]
        table.update(summarize_predictions(draws, interval))
        return table

    def log_predictive_density(self, data: DataSource, max_draws: int | None = 1000):
        """Per observed variable and row: log p(y_new | training data), averaged over posterior draws."""
        from ..posterior.predict import log_predictive_density

        bound = self.prediction_inputs(data, require_observed=True)
        return log_predictive_density(self.model.module, self.idata, bound.model_kwargs(self.model.checked), max_draws)

    # -- reports --------------------------------------------------------------------------------------------------
    def report(
        self,
        test: DataSource | None = None,
        ood: DataSource | None = None,
        thresholds: Thresholds | None = None,
        seed: int = 0,
    ) -> Report:
        """Diagnostics, predictive checks and, with `test`/`ood` data, calibration and OOD separation."""
        from ..diagnose.report import ReportInputs, build
        from ..diagnose.thresholds import Thresholds
        from ..priors.predictive import covers

        if test is not None:
            test = self.prediction_inputs(test, require_observed=True)
        if ood is not None:
            ood = self.prediction_inputs(ood)
        r = self.record
        prior = self.prior_predictive(seed=seed) if covers(self.model.checked) else None
        inputs = ReportInputs(
            self.model.module,
            self.model.checked,
            self.model.program.source,
            self.idata,
            self.summary,
            backend=r.backend,
            settings=r.settings,
            dims=r.dims,
            noncentered=r.noncentered,
            model_path=r.model_path,
            data_path=r.data_path,
            version=r.bnnlang_version,
            traces=self.traces,
            path=str(self.path) if self.path is not None else "",
            prior_predictive=prior.as_json() if prior is not None else None,
            prior_figures=prior.figures() if prior is not None else [],
        )
        return build(inputs, test, ood, thresholds or Thresholds(), seed)

    def prior_predictive(self, draws: int = 200, seed: int = 0) -> PriorPredictive:
        """The prior predictive check (`bnnc prior`) on the training data the run stored, so no data file is
        needed: what the priors implied before this posterior was fitted (with the functions over a single real
        input, as the report draws them)."""
        from ..diagnose.predictive import training_data

        return self.model.prior_predictive(training_data(self.idata, self.record.dims), draws, seed)

    def write_report(self, report: Report, folder: str | Path | None = None) -> tuple[Path, Path]:
        """report.html and report.json into the run directory (or `folder`), each written atomically."""
        from ..diagnose.html import render

        target = Path(folder) if folder is not None else self.path
        if target is None:
            raise messages.no_run_folder()
        target.mkdir(parents=True, exist_ok=True)
        page, data = target / rundir.REPORT_HTML, target / rundir.REPORT_JSON
        rundir.write_text_atomic(data, json.dumps(report.as_json(), indent=1, allow_nan=False) + "\n")
        rundir.write_text_atomic(page, render(report))
        return page, data

    # -- the run directory ------------------------------------------------------------------------------------
    def write(self, w: rundir.RunWriter) -> None:
        """The run's results into an open RunWriter's stage (model, program and settings are already there)."""
        w.file(rundir.POSTERIOR, self.idata.to_netcdf)
        for name, values in self.traces.items():
            w.trace(name, values)
        w.json(rundir.SUMMARY, self.summary)
        w.text(rundir.LOG, self.log_text())

    def log_text(self) -> str:
        r = self.record
        lines = [f"bnnlang {r.bnnlang_version}", f"model: {r.model_path}", f"data: {r.data_path}"]
        lines.append(f"backend: {r.backend} {json.dumps(r.settings)}")
        for k, v in self.timings.items():
            lines.append(f"{k}: {v:.3f}" if v is not None else f"{k}: not measured")
        lines += [w.format() for w in self.model.warnings]
        return "\n".join(lines) + "\n"
