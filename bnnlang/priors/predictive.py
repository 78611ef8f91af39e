"""`bnnc prior`: what the prior implies before any fitting (prior predictive checks, issue 23).

A weight prior is hard to judge by its numbers: Normal(0, 1) on every weight of a wide network can mean
functions a hundred times larger than the data, or classifiers that are certain of every label before they
have seen one. So the prior is run forward instead: S joint draws of every latent site from the prior, each
pushed through the model at the training inputs by the same machinery that makes posterior predictions
(`posterior.predict.predictive_draws`, on the prior draws dressed as a one-chain posterior), and per observed
variable a few numbers that say whether the implied outputs sit on the data's scale. For a model with one real
input the same draws are also pushed through at a grid over the input's range (`functions.py`): the prior's
functions, drawn.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from ..check.model import CheckedModel
from ..diagnose.figure import Figure
from ..diagnose.prior_plots import prior_functions
from ..posterior.predict import entropy_split, predictive_draws, variance_split
from . import messages
from .functions import GRID_POINTS, PriorFunctions, grid_inputs, on_grid, target_scale

DEFAULT_DRAWS = 200
SCALE_FACTOR = 10.0  # an order of magnitude: the prior's function spread vs the data's sd, either way
CONFIDENT_P = 0.99  # a prediction whose largest class probability exceeds this is "saturated"
SATURATED_SHARE_MAX = 0.5  # more saturated (draw, row) pairs than this is a warning


# What `bnnc prior` prints per kind of output: (field, label, format).
LINE_FIELDS = {
    "regression": (
        ("function_sd", "prior function sd", ".3g"),
        ("data_sd", "data sd", ".3g"),
        ("ratio", "ratio", ".3g"),
        ("mean_abs_function", "mean |f|", ".3g"),
        ("predictive_sd", "prior predictive sd", ".3g"),
    ),
    "classification": (
        ("saturated", f"saturated (p > {CONFIDENT_P:g})", ".1%"),
        ("relative_entropy", "entropy / max", ".2f"),
    ),
}


@dataclass
class OutputPrior:
    """One observed variable under the prior: regression fields or classification fields (the others None)."""

    name: str
    kind: str  # "regression" (a likelihood with a mean) or "classification" (class probabilities)
    scale: str  # the scale of the numbers: "data units", or "standardized" for a `standardized` target
    function_sd: float | None = None  # sd over draws of the likelihood mean, root mean square over rows
    data_sd: float | None = None  # sd of the observed values (on `scale`)
    ratio: float | None = None  # function_sd / data_sd
    mean_abs_function: float | None = None  # mean |likelihood mean| over draws and rows
    predictive_sd: float | None = None  # sd of y under the prior, noise included, root mean square over rows
    saturated: float | None = None  # share of (draw, row) pairs with largest class probability > CONFIDENT_P
    relative_entropy: float | None = None  # mean entropy / log K
    warning: str | None = None


@dataclass
class PriorPredictive:
    """The prior predictive check of a model on its training inputs."""

    draws: int
    seed: int
    outputs: list[OutputPrior] = field(default_factory=list)
    # per observed variable, the same draws over a grid of the one real input (none for other models)
    functions: dict[str, PriorFunctions] = field(default_factory=dict, repr=False)

    @property
    def warnings(self) -> list[str]:
        return [o.warning for o in self.outputs if o.warning]

    def figures(self) -> list[Figure]:
        """The report's figures of the prior's functions, one per observed variable that has them."""
        return [f.figure() for f in self.functions.values()]

    def png(self) -> bytes | None:
        """Every observed variable's prior functions as one PNG (stacked panels), or None when there are none."""
        return prior_functions([f.panel() for f in self.functions.values()]) if self.functions else None

    def table(self) -> str:
        """One line per observed variable, what `bnnc prior` prints."""
        lines = [f"prior predictive check: {self.draws} joint prior draws at the training inputs (seed {self.seed})"]
        for o in self.outputs:
            fields = LINE_FIELDS[o.kind]
            values = ", ".join(f"{label} {_show(getattr(o, key), style)}" for key, label, style in fields)
            lines.append(f"{o.name} ({o.kind}, {o.scale}): {values}")
        return "\n".join(lines)

    def as_json(self) -> dict[str, Any]:
        """JSON-ready: non-finite numbers become None (infinite noise variance of a Student-t with df <= 2)."""
        return {
            "draws": self.draws,
            "seed": self.seed,
            "thresholds": {
                "scale_factor": SCALE_FACTOR,
                "confident_p": CONFIDENT_P,
                "saturated_max": SATURATED_SHARE_MAX,
            },
            "outputs": {o.name: {k: _finite(v) for k, v in asdict(o).items()} for o in self.outputs},
        }


def covers(checked: CheckedModel) -> bool:
    """Network and parametric models; a GP's prior is its kernel, and its observed site's mean is not the
    prior's functions."""
    return not checked.gps


def prior_predictive(
    program: ModuleType,
    checked: CheckedModel,
    kwargs: dict[str, Any],
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
    grid: int | None = GRID_POINTS,
) -> PriorPredictive:
    """Draw `draws` joint prior draws and summarise each observed variable against its observed values; with
    `grid` points, for a model with one real input, also its functions over the input (`functions.py`).

    `kwargs` are the model function's arguments with the observed values in them (they are compared with,
    never conditioned on) and, for `standardized` variables, the training statistics (`_shift_y`, `_scale_y`).
    """
    if draws < 2:
        raise messages.too_few_prior_draws(draws)
    if not covers(checked):
        raise messages.prior_check_of_gp(sorted(checked.gps))
    observed = {v.name: np.asarray(kwargs[v.name]) for v in checked.observed}
    inputs = {k: (None if k in observed else v) for k, v in kwargs.items()}
    latent = prior_samples(program, observed, inputs, draws, seed)
    pred = _push(program, checked, latent, inputs, seed)
    outputs = [_summarize(name, pred[name], observed[name], kwargs) for name in observed]
    result = PriorPredictive(draws, seed, outputs)
    at_grid = grid_inputs(checked, kwargs, grid) if grid else None
    if at_grid is not None and _rows_free(program, checked, latent, observed, kwargs, grid):
        xname, grid_kwargs = at_grid
        result.functions = on_grid(
            xname, grid_kwargs[xname], _push(program, checked, latent, grid_kwargs, seed), draws, kwargs
        )
    return result


def _rows_free(program: ModuleType, checked: CheckedModel, latent: dict, observed: Any, kwargs: dict, grid: int):
    """Draws made at the training inputs fit a grid unless a latent site has a row per input (a latent per
    observation: no functions to draw). Its shapes are compared at two grid sizes, so that a grid as long as
    the data cannot hide one."""
    shapes = {k: v.shape[1:] for k, v in latent.items()}
    return all(
        _latent_shapes(program, grid_inputs(checked, kwargs, n)[1], observed) == shapes for n in (grid, grid + 1)
    )


def _push(program: ModuleType, checked: CheckedModel, latent: dict[str, np.ndarray], inputs: dict[str, Any], seed: int):
    """Prior draws through the model at `inputs`, by the code that makes posterior predictions (the training
    inputs and the grid share it, and the draws: the figure shows the functions the numbers summarise)."""
    return predictive_draws(program, checked, _as_posterior(latent), inputs, seed=seed + 1)


def prior_samples(
    program: ModuleType, observed: dict[str, Any], inputs: dict[str, Any], draws: int, seed: int
) -> dict[str, np.ndarray]:
    """Joint prior draws of every latent sample site, [draws, ...] each (NumPyro's Predictive with no posterior)."""
    import jax
    from numpyro.infer import Predictive

    latent = list(_latent_shapes(program, inputs, observed))
    predictive = Predictive(program.model, num_samples=draws, return_sites=latent, parallel=True)
    sampled = jax.jit(lambda key: predictive(key, **inputs))(jax.random.PRNGKey(seed))
    return {k: np.asarray(v) for k, v in sampled.items()}


def _latent_shapes(program: ModuleType, inputs: dict[str, Any], observed: Any) -> dict[str, tuple[int, ...]]:
    """Every latent sample site's shape at `inputs` (observed sites left out), traced abstractly: no computation."""
    import jax
    from numpyro import handlers

    shapes: dict[str, tuple[int, ...]] = {}

    def probe(key):
        trace = handlers.trace(handlers.seed(program.model, key)).get_trace(**inputs)
        sites = {k: s for k, s in trace.items() if s["type"] == "sample" and not s["is_observed"]}
        shapes.update({k: tuple(s["value"].shape) for k, s in sites.items() if k not in observed})
        return 0

    jax.eval_shape(probe, jax.random.PRNGKey(0))
    return shapes


def _as_posterior(latent: dict[str, np.ndarray]):
    """Prior draws in ArviZ's shape (one chain), so posterior prediction code runs on them unchanged."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import arviz as az

        return az.from_dict(posterior={k: v[None] for k, v in latent.items()})


def _summarize(name: str, pred: dict[str, np.ndarray], y: np.ndarray, kwargs: dict[str, Any]) -> OutputPrior:
    """Classifiers are judged by saturation, everything with a likelihood mean by scale."""
    if "probs" in pred:
        return _classification(name, pred["probs"])
    return _regression(name, pred["mean"], pred["var"], y, kwargs)


def _regression(name: str, means: np.ndarray, variances: np.ndarray, y: np.ndarray, kwargs: dict[str, Any]):
    """On the scale the likelihood is written in: a `standardized` target's means, noise and data are mapped back
    to standardized units, where its priors are stated (docs/language.md)."""
    stats = target_scale(name, kwargs)
    where = "data units"
    y = np.asarray(y, dtype=float)
    if stats is not None:
        shift, scale = stats
        means, variances, y = (means - shift) / scale, variances / scale**2, (y - shift) / scale
        where = "standardized"
    total, _, epistemic = variance_split(means, variances)
    function_sd = float(np.sqrt(np.mean(epistemic)))
    data_sd = float(np.std(y))
    ratio = function_sd / data_sd if data_sd > 0 else math.nan
    out = OutputPrior(name, "regression", where, function_sd, data_sd, ratio)
    out.mean_abs_function = float(np.mean(np.abs(means)))
    out.predictive_sd = float(np.sqrt(np.mean(total)))
    out.warning = _scale_warning(name, ratio, where)
    return out


def _scale_warning(name: str, ratio: float, where: str) -> str | None:
    """More than SCALE_FACTOR away from the data, either way (a ratio of NaN, constant data, says nothing)."""
    if ratio > SCALE_FACTOR:
        return messages.prior_too_wide(name, ratio, where)
    if ratio < 1 / SCALE_FACTOR:
        return messages.prior_too_narrow(name, ratio, where)
    return None


def _classification(name: str, probs: np.ndarray) -> OutputPrior:
    """A Bernoulli's probability of 1 is two classes; the entropy is relative to log K, its largest value."""
    if probs.ndim == 2:
        probs = np.stack([1 - probs, probs], axis=-1)
    saturated = float(np.mean(probs.max(axis=-1) > CONFIDENT_P))
    _, expected_entropy, _ = entropy_split(probs)
    out = OutputPrior(name, "classification", "probabilities", saturated=saturated)
    out.relative_entropy = float(np.mean(expected_entropy) / np.log(probs.shape[-1]))
    if saturated > SATURATED_SHARE_MAX:
        out.warning = messages.prior_saturated(name, saturated, CONFIDENT_P)
    return out


def _show(v: float | None, style: str) -> str:
    return "n/a" if v is None or not math.isfinite(v) else format(v, style)


def _finite(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v
