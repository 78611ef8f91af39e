"""What every backend returns: the draws, the sampler's statistics, timings and run facts.

Draws stay plain arrays here; `bnnlang.posterior.arviz` turns them into ArviZ's data model after inference
(and after a multi-host run has gathered every process's chains).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class RunResult:
    posterior: dict[str, np.ndarray]  # every latent site's constrained draws [chain, draw, ...]
    sample_stats: dict[str, np.ndarray] = field(default_factory=dict)  # per draw [chain, draw]
    timings: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    traces: dict[str, np.ndarray] = field(default_factory=dict)  # e.g. the SVI loss per step, saved as CSV
    fixed: dict[str, np.ndarray] = field(default_factory=dict)  # deterministic layers held at their MAP
