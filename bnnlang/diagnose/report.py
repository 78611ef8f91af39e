"""The run report's content: a verdict, convergence, predictions, calibration, and the figures' numbers.

`build` gathers everything a person needs to decide whether to trust a
posterior into one JSON-ready dict plus PNG figures; `html.render` lays it out.
Every figure's numbers go into the JSON too, so a machine reads what a person sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from ..check.backends import BACKENDS
from ..check.data import BoundData
from ..check.model import CheckedModel
from . import calibration, loo, maps, plots, views
from .figure import Figure
from .fit import fit_checks
from .predictive import (
    Plane,
    Predictive,
    classification_scores,
    function_space,
    held_out,
    input_plane,
    log_likelihood_trace,
    padded_axis,
    predict,
    predict_batched,
    predictive_check,
    rhat_ess,
    take_rows,
    training_data,
    uncertainty,
    within_members,
)
from .relevance import input_relevance
from .thresholds import Thresholds
from .verdict import judge

REPORT_FORMAT = 1
MAX_TRACE_PLOTS = 12
GRID_POINTS = 200
GRID_PAD = 0.25  # of the one input's training range, added on each side of the predictive figure
FUNCTION_ROWS = 200
FUNCTION_DRAWS = 4000  # per chain
MAP_SIDE = 50  # a map's grid: MAP_SIDE x MAP_SIDE points
MAP_DRAWS = 200  # posterior draws, in all, behind a map
MAP_PAD = 0.1  # of each input's training range, added on each side
MAP_DIGITS = 4  # report.json keeps a map's values to this many decimals


@dataclass
class ReportInputs:
    """What a report reads from a run: the program, the posterior, and what produced it (its settings.json)."""

    program: ModuleType
    checked: CheckedModel
    source: str
    idata: Any
    summary: dict[str, Any]
    backend: str
    settings: dict[str, Any]
    dims: dict[str, int]
    noncentered: list[str] = field(default_factory=list)  # sites sampled as loc + scale * z
    model_path: str | None = None
    data_path: str | None = None
    version: str | None = None
    traces: dict[str, np.ndarray] = field(default_factory=dict)
    path: str = ""
    prior_predictive: dict[str, Any] | None = None  # priors/predictive.py's JSON (a later stage computes it)
    prior_figures: list[Figure] = field(default_factory=list)  # its functions over a single real input


@dataclass
class Report:
    content: dict[str, Any]
    figures: list[Figure]

    @property
    def ok(self) -> bool:
        return bool(self.content["verdict"]["ok"])

    def as_json(self) -> dict[str, Any]:
        figs = {f.id: {"title": f.title, "caption": f.caption, "data": _jsonable(f.data)} for f in self.figures}
        return {**_jsonable(self.content), "figures": figs}

    def _repr_html_(self) -> str:
        """Jupyter shows a report as its verdict and key figures, not as a dict of numbers (`notebook.py`)."""
        from .notebook import report_html

        return report_html(self.content, self.figures)


def build(
    run: ReportInputs,
    test: BoundData | None = None,
    ood: BoundData | None = None,
    limits: Thresholds | None = None,
    seed: int = 0,
) -> Report:
    idata, checked = run.idata, run.checked
    limits = limits or Thresholds()
    backend = BACKENDS[run.backend]
    chains = int(idata.posterior.sizes["chain"])
    train = training_data(idata, run.dims)
    content: dict[str, Any] = {
        "format_version": REPORT_FORMAT,
        "run": {
            "path": run.path,
            "model_path": run.model_path,
            "data_path": run.data_path,
            "backend": backend.name,
            "backend_summary": backend.summary,
            "run_summary": backend.describe(run.settings),
            "settings": run.settings,
            "noncentered": run.noncentered,  # sites sampled as loc + scale * z
            "bnnlang_version": run.version,
            "timings": run.summary.get("timings", {}),
            "info": run.summary.get("run", {}),
            "chains": chains,
            "draws_per_chain": int(idata.posterior.sizes["draw"]),
        },
        "model_source": run.source,
        "thresholds": limits.__dict__,
    }
    train_pred = predict(run.program, checked, idata, train, seed=seed)
    test_pred = predict(run.program, checked, idata, test, seed=seed) if test is not None else None
    # chains started from ensemble members sit in different modes by design: judge each on its own
    members = backend.members(run.settings, chains)
    figures: list[Figure] = []
    content["convergence"], summary = _convergence(run, train, test, backend.mcmc, members, figures, seed)
    conv = content["convergence"]
    loss = run.traces.get("loss")
    losses = list(np.asarray(loss)) if loss is not None else None
    verdict = judge(backend.mcmc, chains, summary, conv["function_space"], conv["log_likelihood"], losses, limits)
    figures += _trace_figures(idata)
    _predictive_content(run, train, test, ood, train_pred, test_pred, content, figures, seed)
    verdict.checks += _fit(run, train, test, train_pred, test_pred, content, seed)
    content["relevance"] = input_relevance(run.program, checked, idata, train, seed)
    result = loo.elpd(idata, within_chains=members)
    content["loo"] = loo.summary(result, members) if result is not None else None
    content["prior_predictive"] = run.prior_predictive
    figures += run.prior_figures
    content["skipped_views"] = views.skipped(
        checked, train, [f.id for f in figures], content["relevance"], run.prior_predictive is not None, ood is not None
    )
    content["verdict"] = verdict.as_dict()
    if members:
        content["verdict"]["note"] = (
            "Each chain started from its own deep-ensemble member, so chains sit in different modes by design: "
            "R-hat and ESS are within each chain (its first half against its second; ESS summed over chains). "
            "How much of the predictive spread lies between members is shown under Convergence."
        )
    if not backend.mcmc:
        content["verdict"]["note"] = (
            "SVI draws are independent draws from the fitted guide: R-hat and ESS do not apply; "
            "the check is that the loss has stopped falling. The guide's own bias is not checked directly; the fit "
            "checks judge its predictions against the data."
        )
    return Report(content, figures)


def _fit(
    run: ReportInputs,
    train: BoundData,
    test: BoundData | None,
    train_pred: dict[str, Predictive],
    test_pred: dict[str, Predictive] | None,
    content: dict[str, Any],
    seed: int,
) -> list:
    """Does the model fit: calibration and accuracy against baselines, held out when there are test data."""
    if test is not None:
        coverages = {name: m.get("coverage") for name, m in content["test"].items()}
    else:
        coverages = {name: c["in_sample_coverage"] for name, c in content["predictive_checks"].items()}
    discrete = {name: c["discrete"] for name, c in content["predictive_checks"].items()}
    inputs = [v.name for v in run.checked.inputs]
    return fit_checks(
        test_pred if test_pred is not None else train_pred,
        train.arrays,
        test.arrays if test is not None else None,
        inputs,
        coverages,
        discrete,
        seed,
    )


def _convergence(
    run: ReportInputs,
    train: BoundData,
    test: BoundData | None,
    mcmc: bool,
    members: bool,
    figures: list[Figure],
    seed: int,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Scalars and weight digests (from the run's summary), the outputs and the log-likelihood; and the summary
    the verdict judges (within each chain for ensemble-started runs). R-hat and ESS of outputs use every draw
    (thinning would hide what the chains did) at <= FUNCTION_ROWS rows."""
    idata, checked = run.idata, run.checked
    summary = _within_member_scalars(idata, run.summary) if members else run.summary
    fspace = {}
    if mcmc:
        rows = take_rows(test if test is not None else train, checked, FUNCTION_ROWS)
        fs_pred = predict(run.program, checked, idata, rows, per_chain=FUNCTION_DRAWS, seed=seed)
        fspace = {name: function_space(p, members=members) for name, p in fs_pred.items()}
    for name in fspace:
        fspace[name]["inputs"] = "held-out inputs" if test is not None else "training inputs"
    loglik_stats = None
    loglik = log_likelihood_trace(idata)
    if loglik is not None:
        if mcmc:
            s = (within_members if members else rhat_ess)(loglik[:, :, None])
            loglik_stats = {k: _num(v[0]) for k, v in s.items()}
        figures.append(
            Figure(
                "log_likelihood_trace",
                "Training log-likelihood per draw",
                "One line per chain; chains that settle at different levels have not mixed.",
                plots.curve(loglik, "training log-likelihood per draw", "log-likelihood", "draw"),
                {"values": loglik},
            )
        )
    loss = run.traces.get("loss")
    if loss is not None and len(loss):
        figures.append(
            Figure(
                "loss",
                "Loss per step (negative ELBO)",
                "Should flatten out by the end of the run; the y-range ignores the first tenth of the steps.",
                plots.curve(np.asarray(loss), "loss per step", "loss"),
                {"values": np.asarray(loss)},
            )
        )
    content = {
        "within_members": members,
        "scalars": summary.get("scalars", {}),
        "weights": run.summary.get("arrays", {}),
        "function_space": fspace,
        "log_likelihood": loglik_stats,
        "sampler": run.summary.get("sampler", {}),
    }
    return content, summary


def _predictive_content(
    run: ReportInputs,
    train: BoundData,
    test: BoundData | None,
    ood: BoundData | None,
    train_pred: dict[str, Predictive],
    test_pred: dict[str, Predictive] | None,
    content: dict[str, Any],
    figures: list[Figure],
    seed: int,
) -> None:
    """Predictive checks, the uncertainty split, held-out calibration and OOD separation."""
    content["predictive_checks"] = {}
    for name, pred in train_pred.items():
        ppc = predictive_check(pred, train.arrays[name], seed=seed)
        content["predictive_checks"][name] = {k: ppc[k] for k in ("statistics", "in_sample_coverage", "discrete")}
        figures.append(
            Figure(
                f"ppc_{name}",
                f"Posterior predictive check: {name}",
                "Observed training data against data sets replicated from the posterior predictive.",
                plots.ppc(ppc["observed"], ppc["replicated"], name, ppc["discrete"]),
                {"observed": ppc["observed"], "replicated": ppc["replicated"]},
            )
        )
    content["uncertainty"] = {name: _uncertainty_summary(pred, "training inputs") for name, pred in train_pred.items()}
    figures += _grid_figures(run, train, content, seed)
    figures += _map_figures(run, train, seed)
    if test is not None:
        content["test"] = _held_out(run, test, test_pred, figures, seed)
        for name, pred in test_pred.items():
            content["uncertainty"][name]["held_out"] = _uncertainty_summary(pred, "held-out inputs")
            content["uncertainty"][name]["held_out_rows"] = uncertainty(pred)  # per input row, for machines
    content["reliability"] = {}
    for name, pred in (test_pred or train_pred).items():
        if pred.classifier:
            y = (test if test is not None else train).arrays[name]
            scores = content["test"][name] if test is not None else classification_scores(pred, y)
            content["reliability"][name], fig = calibration.reliability(name, pred, scores, test is not None)
            figures.append(fig)
    if ood is not None:
        ood_pred = predict(run.program, run.checked, run.idata, ood, seed=seed)
        content["ood"], ood_figures = calibration.ood(ood_pred, test_pred or train_pred, test is not None)
        figures += ood_figures


def _within_member_scalars(idata, summary: dict[str, Any]) -> dict[str, Any]:
    """The run summary with each scalar's R-hat and ESS computed within chains (ensemble-started runs)."""
    scalars = {}
    for name, row in summary.get("scalars", {}).items():
        s = within_members(np.asarray(idata.posterior[name].values)[:, :, None])
        scalars[name] = {**row, "r_hat": _num(s["r_hat"][0]), "ess_bulk": _num(s["ess_bulk"][0])}
        scalars[name]["ess_tail"] = _num(s["ess_tail"][0])
    return {**summary, "scalars": scalars}


def _uncertainty_summary(pred: Predictive, where: str) -> dict[str, Any]:
    u = uncertainty(pred)
    return {"inputs": where, **{f"mean_{k}": _num(np.mean(v)) for k, v in u.items() if k != "mean"}}


def _trace_figures(idata) -> list[Figure]:
    post = idata.posterior
    scalars = [n for n in post.data_vars if post[n].ndim == 2][:MAX_TRACE_PLOTS]
    if post.sizes["draw"] < 4:
        return []
    figs = []
    for name in scalars:
        values = np.asarray(post[name].values)
        figs.append(
            Figure(
                f"trace_{name}",
                f"Trace and rank plot: {name}",
                "Left: draws per chain. Right: ranks of the pooled draws per chain; flat when chains agree.",
                plots.trace_and_rank(name, values),
                {"values": values},
            )
        )
    return figs


def _grid_figures(run: ReportInputs, train: BoundData, content: dict[str, Any], seed: int) -> list[Figure]:
    """For one scalar input: the predictive mean with epistemic and aleatoric bands over the input's range."""
    xname = views.one_input(run.checked)
    if xname is None or not isinstance(run.checked.data[xname].shape[0], str):
        return []
    row_dim = run.checked.data[xname].shape[0]
    x = train.arrays[xname]
    grid = padded_axis(x, GRID_POINTS, GRID_PAD).astype(x.dtype).reshape((GRID_POINTS,) + x.shape[1:])
    bound = BoundData({xname: grid}, {**train.dims, row_dim: GRID_POINTS}, "<grid>")
    figs = []
    for name, pred in predict(run.program, run.checked, run.idata, bound, seed=seed).items():
        if pred.classifier or pred.mean.ndim != 3:
            continue
        u = uncertainty(pred)
        xs = grid.reshape(GRID_POINTS)
        epi, ale = np.sqrt(u["epistemic_var"]), np.sqrt(u["aleatoric_var"])
        data = {"x": xs, "mean": u["mean"], "epistemic_sd": epi, "aleatoric_sd": ale}
        content["uncertainty"][name]["grid"] = data
        figs.append(
            Figure(
                f"predictive_{name}",
                f"Posterior predictive of {name} over {xname}",
                "Dark band: epistemic uncertainty (what the data has not pinned down), mean ± 2 sd. "
                "Light band: epistemic and aleatoric (noise) together, ± 2 sd.",
                plots.predictive_1d(
                    x.reshape(-1), train.arrays[name].reshape(-1), xs, u["mean"], epi, ale, xname, name
                ),
                data,
            )
        )
        figs.append(
            Figure(
                f"uncertainty_{name}",
                f"Uncertainty split of {name} over {xname}",
                "Epistemic sd grows where there are no data; aleatoric sd is the model's noise.",
                plots.uncertainty_1d(xs, epi, ale, xname),
                {"x": xs, "epistemic_sd": epi, "aleatoric_sd": ale},
            )
        )
    return figs


def _map_figures(run: ReportInputs, train: BoundData, seed: int) -> list[Figure]:
    """For two real input columns: each output's predictive mean (or class probability) and its epistemic part
    over a grid covering the training inputs, from at most MAP_DRAWS draws."""
    plane = input_plane(run.checked, train)
    if plane is None:
        return []
    axes, bound = plane.grid(train, MAP_SIDE, MAP_PAD)
    preds = predict_batched(run.program, run.checked, run.idata, bound, plane.row_dim, MAP_DRAWS, seed=seed)
    on_rows = [name for name in preds if run.checked.data[name].shape[:1] == (plane.row_dim,)]  # not other plates
    return [f for name in on_rows for f in _maps_of(name, preds[name], axes, plane, train.arrays[name])]


def _maps_of(
    name: str, pred: Predictive, axes: tuple[np.ndarray, np.ndarray], plane: Plane, y: np.ndarray
) -> list[Figure]:
    """The two maps of one output: what the model predicts, and where its posterior disagrees."""
    shape = (MAP_SIDE, MAP_SIDE)
    u = uncertainty(pred)
    k = pred.probs.shape[-1] if pred.classifier else None
    if pred.classifier and pred.probs.ndim == 4:
        probs = pred.flat("probs").mean(axis=0)
        mean = probs[:, 1] if k == 2 else probs.max(axis=-1)
        epistemic = u["mutual_information"]
        what = f"P({name} = 1)" if k == 2 else f"P(predicted class of {name})"
        mean_caption = (
            f"Colour: the posterior predictive probability that {name} is 1 (red) or 0 (blue); the black line is "
            "where it is 0.5, the decision boundary."
            if k == 2
            else f"Colour: the probability of the most probable class of {name}; the black line is where it is 0.5."
        )
        epi_label, epi_words = "mutual information (nats)", "mutual information (total entropy - expected entropy)"
    elif not pred.classifier and pred.mean.ndim == 3:
        mean, epistemic = u["mean"], np.sqrt(u["epistemic_var"])
        what, epi_label, epi_words = f"mean of {name}", f"epistemic sd of {name}", "sd of the predictive mean"
        mean_caption = f"Colour: the posterior predictive mean of {name}."
    else:
        return []  # several values per row: no single map
    labels, classes = plane.labels, (np.asarray(y).reshape(-1) if pred.classifier else None)
    x_axis, y_axis = axes
    common = dict(x_axis=x_axis, y_axis=y_axis, x_data=plane.data[0], y_data=plane.data[1])
    common.update(xlabel=labels[0], ylabel=labels[1])
    grid_data = {"x": x_axis, "y": y_axis, "x_label": labels[0], "y_label": labels[1]}
    mean_map = maps.Map(
        f"{what} over {labels[0]} and {labels[1]}", values=mean.reshape(shape), colour_label=what,
        cmap="RdBu_r" if k == 2 else "viridis", limits=(0.0, 1.0) if pred.classifier else (None, None),
        classes=classes, half_contour=pred.classifier, **common,
    )  # fmt: skip
    epi_map = maps.Map(
        f"Epistemic uncertainty of {name}", values=epistemic.reshape(shape), colour_label=epi_label,
        cmap="magma", limits=(0.0, None), classes=classes, **common,
    )  # fmt: skip
    dots = "Dots: training inputs" + (", one colour and marker per class." if pred.classifier else ".")
    return [
        Figure(
            f"map_mean_{name}",
            mean_map.title,
            f"{mean_caption} {dots} Grid: {MAP_SIDE} x {MAP_SIDE} points over the training inputs' range, widened "
            f"by {MAP_PAD:.0%} of it on each side, from at most {MAP_DRAWS} posterior draws; in report.json values[i][j] is at "
            "(x[j], y[i]).",
            maps.draw(mean_map),
            {**grid_data, "quantity": what, "values": np.round(mean.reshape(shape), MAP_DIGITS)},
        ),
        Figure(
            f"map_epistemic_{name}",
            epi_map.title,
            f"Colour: the epistemic part of the uncertainty, the {epi_words} over posterior draws; bright is "
            "uncertain. Epistemic: where the posterior disagrees, which more data would settle; far from the data "
            f"it should grow. {dots}",
            maps.draw(epi_map),
            {**grid_data, "quantity": epi_label, "values": np.round(epistemic.reshape(shape), MAP_DIGITS)},
        ),
    ]


def _held_out(
    run: ReportInputs, test: BoundData, preds: dict[str, Predictive], figures: list[Figure], seed: int
) -> dict[str, Any]:
    kwargs = test.model_kwargs(run.checked)
    out = {}
    for name, pred in preds.items():
        m = held_out(pred, test.arrays[name], run.program, run.idata, kwargs, seed)
        out[name] = m
        if m["kind"] == "classification":
            continue  # its reliability diagram: calibration.reliability
        figures.append(
            Figure(
                f"pit_{name}",
                f"PIT histogram: {name} (held out)",
                "Flat when the predictive is calibrated; U-shaped when over-confident, hump-shaped when too wide.",
                plots.pit_hist(np.asarray(m["pit_histogram"]), f"PIT of {name}"),
                {"counts": m["pit_histogram"]},
            )
        )
        levels = [float(k) for k in m["coverage"]]
        observed = [m["coverage"][k] for k in m["coverage"]]
        figures.append(
            Figure(
                f"coverage_{name}",
                f"Interval coverage: {name} (held out)",
                "Share of held-out values inside the central predictive intervals, against their nominal level.",
                plots.coverage(levels, observed),
                {"levels": levels, "observed": observed},
            )
        )
    return out


def _num(x) -> float | None:
    x = float(x)
    return None if not np.isfinite(x) else round(x, 6)


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist()) if x.dtype.kind in "fc" else x.tolist()
    if isinstance(x, (float, np.floating)):
        return _num(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x
