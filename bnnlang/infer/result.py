"""What every backend returns: the posterior as ArviZ data, timings and run facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .arviz_data import to_inference_data
from .problem import Problem


@dataclass
class RunResult:
    idata: Any  # arviz.InferenceData
    timings: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    traces: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. the SVI loss per step, saved as CSV


def draws_to_idata(
    problem: Problem, posterior: dict[str, np.ndarray], sample_stats: dict[str, np.ndarray] | None = None
):
    """{site: [chain, draw, ...]} -> InferenceData with log_likelihood, observed and constant data."""
    posterior = {k: np.asarray(v) for k, v in problem.public(posterior).items()}
    return to_inference_data(
        problem.plain_model, posterior, sample_stats or {}, problem.data, problem.site_dims, problem.observed
    )
