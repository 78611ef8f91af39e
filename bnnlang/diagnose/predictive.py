"""What the posterior says about outputs: function-space convergence, predictive checks, held-out calibration.

A network's weights are not identifiable (hidden units permute, signs flip), so
R-hat and ESS of weights flag chains that agree on every prediction. What a user
relies on is the predictive distribution, so convergence is judged on the
network's outputs at inputs (held-out ones when given, training ones otherwise)
and on the total log-likelihood, with the same rank-normalised R-hat and ESS as
for scalars (Vehtari et al. 2021).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from ..check.data import BoundData
from ..check.model import CheckedModel
from ..posterior.predict import entropy_split, log_predictive_density, predictive_draws, variance_split
from . import convergence, metrics

LEVELS = (0.5, 0.8, 0.9, 0.95)


@dataclass
class Predictive:
    """Draws of one observed variable at some inputs, chain structure kept: arrays [chains, draws, rows...]."""

    name: str
    draws: np.ndarray  # sampled outputs
    mean: np.ndarray | None  # the likelihood's mean per draw (regression, counts)
    var: np.ndarray | None  # the likelihood's variance per draw
    probs: np.ndarray | None  # class probabilities per draw [..., rows, K] (classifiers)

    @property
    def classifier(self) -> bool:
        return self.probs is not None

    @property
    def function(self) -> np.ndarray:
        """The network's output that convergence is judged on: predictive mean, or class probabilities."""
        return self.probs if self.probs is not None else self.mean

    def flat(self, field: str) -> np.ndarray:
        arr = getattr(self, field)
        return arr.reshape((-1,) + arr.shape[2:])


def training_data(idata, dims: dict[str, int]) -> BoundData:
    """The training inputs and outputs as the run stored them, so a report needs no data file."""
    arrays = {}
    for group in ("constant_data", "observed_data"):
        if group in idata.groups():
            arrays.update({k: np.asarray(v.values) for k, v in idata[group].data_vars.items()})
    return BoundData(arrays, dict(dims), "<training data stored in the run>")


def take_rows(bound: BoundData, checked: CheckedModel, max_rows: int) -> BoundData:
    """At most `max_rows` evenly spaced rows of every variable on the observed variable's row dimension."""
    row_dim = checked.observed[0].shape[0] if checked.observed else None
    n = bound.dims.get(row_dim) if isinstance(row_dim, str) else None
    if n is None or n <= max_rows:
        return bound
    idx = np.unique(np.linspace(0, n - 1, max_rows).round().astype(int))
    arrays = {
        k: (v[idx] if checked.data[k].shape and checked.data[k].shape[0] == row_dim else v)
        for k, v in bound.arrays.items()
        if k in checked.data
    }
    return BoundData(arrays, {**bound.dims, row_dim: len(idx)}, bound.path)


def thin(idata, per_chain: int):
    """At most `per_chain` evenly spaced draws of each chain (predictions cost a model call per draw)."""
    n = idata.posterior.sizes["draw"]
    step = max(1, -(-n // per_chain))
    return idata if step == 1 else idata.isel(draw=slice(0, None, step))


def predict(
    program: ModuleType,
    checked: CheckedModel,
    idata,
    inputs: BoundData,
    per_chain: int = 250,
    seed: int = 0,
) -> dict[str, Predictive]:
    """Predictive draws of every observed variable at `inputs`, [chains, draws, ...]."""
    thinned = thin(idata, per_chain)
    chains = thinned.posterior.sizes["chain"]
    kwargs = inputs.model_kwargs(checked, observed=False)
    out = predictive_draws(program, checked, thinned, kwargs, seed=seed, max_draws=None)
    result = {}
    for name, d in out.items():

        def shaped(key: str, d=d) -> np.ndarray | None:
            if key not in d:
                return None
            return d[key].reshape((chains, d[key].shape[0] // chains) + d[key].shape[1:])

        probs = shaped("probs")
        if probs is not None and probs.ndim == 3:  # Bernoulli: probability of 1 -> two classes
            probs = np.stack([1 - probs, probs], axis=-1)
        result[name] = Predictive(name, shaped("draws"), shaped("mean"), shaped("var"), probs)
    return result


def predict_batched(
    program: ModuleType,
    checked: CheckedModel,
    idata,
    inputs: BoundData,
    row_dim: str,
    max_draws: int = 200,
    max_cells: int = 500_000,
    seed: int = 0,
) -> dict[str, Predictive]:
    """`predict` at many input rows (a map's grid) at a bounded cost: at most `max_draws` draws in all, evenly
    thinned within each chain, and at most `max_cells` (draws x rows) evaluated at once, so a long run or a GP
    (a training-by-new-rows matrix per draw) cannot exhaust memory. Rows (of `row_dim`) are batched; every batch
    sees the same draws, so the batches join into one prediction."""
    per_chain = max(1, max_draws // int(idata.posterior.sizes["chain"]))
    n = inputs.dims[row_dim]
    step = max(1, max_cells // max_draws)
    parts = []
    for start in range(0, n, step):
        rows = {
            k: (v[start : start + step] if k in checked.data and checked.data[k].shape[:1] == (row_dim,) else v)
            for k, v in inputs.arrays.items()
        }
        batch = BoundData(rows, {**inputs.dims, row_dim: min(step, n - start)}, inputs.path)
        parts.append(predict(program, checked, idata, batch, per_chain=per_chain, seed=seed + start))
    if len(parts) == 1:
        return parts[0]

    def joined(name: str, field: str) -> np.ndarray | None:
        first = getattr(parts[0][name], field)
        if first is None or checked.data[name].shape[:1] != (row_dim,):  # an output on another plate: whole
            return first
        return np.concatenate([getattr(p[name], field) for p in parts], axis=2)

    return {name: Predictive(name, *(joined(name, f) for f in ("draws", "mean", "var", "probs"))) for name in parts[0]}


def padded_axis(values: np.ndarray, points: int, pad: float) -> np.ndarray:
    """`points` evenly spaced values over the training values' range widened by `pad` of it on each side (a unit
    on each side for a constant input): where a figure or map shows predictions beyond the data."""
    lo, hi = float(np.min(values)), float(np.max(values))
    widen = pad * (hi - lo or 1.0)
    return np.linspace(lo - widen, hi + widen, points)


@dataclass
class Plane:
    """A model's inputs when they are exactly two real columns on the rows (a matrix of two, or two vectors):
    for each, its data variable and column (None: a vector), its label (the CSV column's name) and its training
    values. The report maps predictions over this plane."""

    columns: tuple[tuple[str, int | None], ...]
    labels: tuple[str, ...]
    data: tuple[np.ndarray, ...]
    row_dim: str  # the dimension of their rows

    def grid(self, train: BoundData, side: int, pad: float) -> tuple[tuple[np.ndarray, np.ndarray], BoundData]:
        """A side x side grid over the training values widened by `pad` of their range each side: its two axes,
        and its points as model inputs, row-major (point i * side + j is (axes[0][j], axes[1][i]))."""
        axes = [padded_axis(d, side, pad) for d in self.data]
        points = [g.reshape(-1) for g in np.meshgrid(*axes)]
        (first, col), (second, _) = self.columns
        dtype = np.asarray(train.arrays[first]).dtype
        if col is None:
            arrays = {
                name: p.astype(train.arrays[name].dtype).reshape((-1,) + train.arrays[name].shape[1:])
                for (name, _), p in zip(self.columns, points, strict=True)
            }
        else:
            arrays = {first: np.stack(points, axis=1).astype(dtype)}
        return (axes[0], axes[1]), BoundData(arrays, {**train.dims, self.row_dim: side * side}, "<map grid>")


def input_plane(checked: CheckedModel, train: BoundData) -> Plane | None:
    """The model's two real input columns (`Plane`), or None when its inputs are anything else."""
    inputs = list(checked.inputs)
    row = inputs[0].shape[0] if inputs and inputs[0].shape else None
    if not isinstance(row, str) or any(v.base != "real" or v.shape[:1] != (row,) for v in inputs):
        return None
    arrays = [np.asarray(train.arrays[v.name], dtype=float) for v in inputs]
    widths = [int(np.prod(a.shape[1:])) for a in arrays]
    if len(inputs) == 2 and widths == [1, 1]:
        names = tuple(v.name for v in inputs)
        return Plane(tuple((n, None) for n in names), names, tuple(a.reshape(-1) for a in arrays), row)
    if len(inputs) == 1 and widths == [2] and arrays[0].ndim == 2:
        v = inputs[0]
        names = tuple(c.id for c in v.decl.columns) if v.decl.columns else (f"{v.name}.0", f"{v.name}.1")
        return Plane(((v.name, 0), (v.name, 1)), names, (arrays[0][:, 0], arrays[0][:, 1]), row)
    return None


def _split_chains(values: np.ndarray) -> np.ndarray:
    """One chain -> its two halves, so split R-hat still compares the start of a run with its end."""
    if values.shape[0] > 1:
        return values
    half = values.shape[1] // 2
    return np.concatenate([values[:, :half], values[:, half : 2 * half]], axis=0)


def rhat_ess(values: np.ndarray) -> dict[str, np.ndarray]:
    """Rank-normalised split R-hat and bulk/tail ESS of each trailing entry of values [chains, draws, ...], flat."""
    values = _split_chains(np.asarray(values, dtype=float))
    return convergence.rhat_ess(values.reshape(values.shape[:2] + (-1,)))


def within_members(values: np.ndarray) -> dict[str, np.ndarray]:
    """Convergence of each chain on its own, for ensemble-started chains that sit in different modes by design.

    R-hat: each chain is centred and scaled by its own mean and sd, then split R-hat is computed over all the
    halves together, so it asks whether every chain's first half agrees with its second, with the evidence of
    all chains pooled. The worst of K single-chain split R-hats, which this replaced, is K noisy tests against
    a threshold meant for one: with ~100 effective draws per chain it passed stationary chains only by luck
    (docs/diagnostics.md#ensemble-started-chains). ESS: summed over chains.
    """
    values = np.asarray(values, dtype=float)
    mean = values.mean(axis=1, keepdims=True)
    sd = values.std(axis=1, keepdims=True)
    scaled = (values - mean) / np.where(sd > 0, sd, 1.0)
    per = [rhat_ess(values[c : c + 1]) for c in range(values.shape[0])]
    pooled = rhat_ess(scaled) if values.shape[0] > 1 else per[0]
    return {
        "r_hat": pooled["r_hat"],
        "ess_bulk": np.sum(np.stack([p["ess_bulk"] for p in per]), axis=0),
        "ess_tail": np.sum(np.stack([p["ess_tail"] for p in per]), axis=0),
    }


def between_share(values: np.ndarray) -> float:
    """Share of the spread of values [chains, draws, rows] that lies between chains, averaged over rows."""
    flat = values.reshape(values.shape[:2] + (-1,))
    total = flat.reshape(-1, flat.shape[-1]).var(axis=0)
    between = flat.mean(axis=1).var(axis=0)
    ok = total > 0
    return float(np.mean(between[ok] / total[ok])) if ok.any() else 0.0


def function_space(pred: Predictive, max_rows: int = 200, members: bool = False) -> dict[str, Any]:
    """R-hat and ESS of the network's outputs at up to `max_rows` evenly spaced input rows.

    `members`: chains started from ensemble members; judged one by one (`within_members`), with the
    between-member share of the spread and the pooled R-hat reported as information.
    """
    f = pred.function
    rows = f.shape[2]
    keep = np.unique(np.linspace(0, rows - 1, min(rows, max_rows)).round().astype(int))
    f = f[:, :, keep]
    stats = within_members(f) if members else rhat_ess(f)
    out = {
        "quantity": "class probabilities" if pred.classifier else "predictive mean",
        "rows": int(len(keep)),
        "max_r_hat": _num(np.nanmax(stats["r_hat"])),
        "median_r_hat": _num(np.nanmedian(stats["r_hat"])),
        "q95_r_hat": _num(np.nanquantile(stats["r_hat"], 0.95)),
        "min_ess_bulk": _num(np.nanmin(stats["ess_bulk"])),
        "min_ess_tail": _num(np.nanmin(stats["ess_tail"])),
        "r_hat": [_num(v) for v in stats["r_hat"]],
    }
    if members:
        out["within"] = "members"
        out["between_member_share"] = _num(between_share(f))
        out["pooled_max_r_hat"] = _num(np.nanmax(rhat_ess(f)["r_hat"]))
    return out


def pointwise_loglik(idata) -> np.ndarray | None:
    """[chains, draws, points]: every observed value's log-likelihood, the observed variables' values flattened
    and joined; None when nothing was observed."""
    if "log_likelihood" not in idata.groups() or not idata.log_likelihood.data_vars:
        return None
    parts = [np.asarray(v.values) for _, v in sorted(idata.log_likelihood.data_vars.items())]
    return np.concatenate([v.reshape(v.shape[:2] + (-1,)) for v in parts], axis=2)


def log_likelihood_trace(idata) -> np.ndarray | None:
    """Total training log-likelihood of each draw, [chains, draws]; None when nothing was observed."""
    values = pointwise_loglik(idata)
    return None if values is None else values.sum(axis=-1)


def is_discrete(values: np.ndarray) -> bool:
    values = np.asarray(values)
    return bool(np.issubdtype(values.dtype, np.integer) or np.all(np.mod(values, 1) == 0))


def predictive_check(
    pred: Predictive, observed: np.ndarray, max_draws: int = 100, max_rows: int = 2000, seed: int = 0
) -> dict[str, Any]:
    """Posterior predictive check on the training data: test statistics, their p-values, in-sample coverage."""
    reps = pred.flat("draws")
    y = np.asarray(observed)
    if pred.classifier:
        k = pred.probs.shape[-1]
        obs_freq = np.bincount(y.astype(int).ravel(), minlength=k) / y.size
        rep_freq = np.stack([np.bincount(r.astype(int).ravel(), minlength=k) / r.size for r in reps])
        stats = {
            f"share of class {c}": {
                "observed": _num(obs_freq[c]),
                "replicated_mean": _num(rep_freq[:, c].mean()),
                "p_value": _num((rep_freq[:, c] >= obs_freq[c]).mean()),
            }
            for c in range(k)
        }
        coverage = None
    else:
        fns = {"mean": np.mean, "sd": np.std, "min": np.min, "max": np.max}
        stats = {}
        for label, fn in fns.items():
            t_rep = np.array([fn(r) for r in reps])
            t_obs = float(fn(y))
            stats[label] = {
                "observed": _num(t_obs),
                "replicated_mean": _num(t_rep.mean()),
                "p_value": _num((t_rep >= t_obs).mean()),
            }
        coverage = {str(k): _num(v) for k, v in metrics.interval_coverage(y, reps, LEVELS).items()}
    rng = np.random.default_rng(seed)
    shown = reps[np.sort(rng.choice(len(reps), min(max_draws, len(reps)), replace=False))].reshape(
        min(max_draws, len(reps)), -1
    )
    flat_y = y.ravel()
    if flat_y.size > max_rows:  # the plot's density needs no more; keeps report.json small
        cols = np.sort(rng.choice(flat_y.size, max_rows, replace=False))
        flat_y, shown = flat_y[cols], shown[:, cols]
    return {
        "statistics": stats,
        "in_sample_coverage": coverage,
        "discrete": pred.classifier or is_discrete(y),
        "observed": flat_y,
        "replicated": shown,
    }


def uncertainty(pred: Predictive) -> dict[str, np.ndarray]:
    """Per input row: the predictive split into aleatoric and epistemic parts."""
    if pred.classifier:
        total, aleatoric, epistemic = entropy_split(pred.flat("probs"))
        return {"total_entropy": total, "aleatoric_entropy": aleatoric, "mutual_information": epistemic}
    total, aleatoric, epistemic = variance_split(pred.flat("mean"), pred.flat("var"))
    return {
        "mean": pred.flat("mean").mean(axis=0),
        "total_var": total,
        "aleatoric_var": aleatoric,
        "epistemic_var": epistemic,
    }


def epistemic_score(pred: Predictive) -> np.ndarray:
    """How much the posterior disagrees with itself at each row: epistemic sd, or mutual information."""
    u = uncertainty(pred)
    return u["mutual_information"] if pred.classifier else np.sqrt(u["epistemic_var"])


def classification_scores(pred: Predictive, observed: np.ndarray) -> dict[str, Any]:
    """Accuracy and calibration of a classifier's posterior predictive (class probabilities averaged over draws)
    against labels: on held-out rows, or on the training rows for the report's in-sample reliability diagram."""
    probs = pred.flat("probs").mean(axis=0).reshape(-1, pred.probs.shape[-1])
    labels = np.asarray(observed).astype(int).ravel()
    bins = metrics.calibration_bins(labels, probs)
    return {
        "kind": "classification",
        "rows": int(len(labels)),
        "accuracy": _num(metrics.accuracy(labels, probs)),
        "nll": _num(metrics.classification_nll(labels, probs)),
        "brier": _num(metrics.brier(labels, probs)),
        "ece": _num(metrics.expected_calibration_error(labels, probs)),
        **{k: (_num(v) if isinstance(v, float) else v) for k, v in metrics.confidence_reading(labels, probs).items()},
        "calibration_bins": {
            k: [int(v) if k == "count" else _num(v) for v in np.asarray(vals)] for k, vals in bins.items()
        },
    }


def held_out(
    pred: Predictive, observed: np.ndarray, program: ModuleType, idata, kwargs: dict[str, Any], seed: int = 0
) -> dict[str, Any]:
    """Accuracy and calibration on held-out data."""
    y = np.asarray(observed)
    if pred.classifier:
        return classification_scores(pred, y)
    reps = pred.flat("draws")
    lpd = log_predictive_density(program, thin(idata, pred.draws.shape[1]), kwargs, max_draws=None, seed=seed)
    pit = metrics.pit(y.ravel(), reps.reshape(len(reps), -1))
    return {
        "kind": "regression",
        "rows": int(y.shape[0]),
        "rmse": _num(metrics.rmse(y, pred.flat("mean").mean(axis=0))),
        "nlpd": _num(-np.mean(lpd[pred.name])),
        "coverage": {str(k): _num(v) for k, v in metrics.interval_coverage(y, reps, LEVELS).items()},
        "pit_histogram": [int(c) for c in metrics.pit_histogram(pit)],
    }


def _num(x) -> float | None:
    x = float(x)
    return None if not np.isfinite(x) else round(x, 6)
