"""The one home of the limits a run is judged by (Vehtari et al. 2021 and Stan's defaults).

The summary, the verdict and `bnnc report`'s flags all read these defaults; `docs/diagnostics.md` explains
them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    rhat_max: float = 1.01
    rhat_max_any_input: float = 1.05  # predictions: every input (rhat_max applies to 95% of them)
    ess_min_per_chain: float = 100.0
    max_divergences: int = 0
    bfmi_min: float = 0.3
    tree_depth_saturation_max: float = 0.05  # share of draws at max_tree_depth
    elbo_tolerance: float = 1e-3  # relative drop of the loss over the last quarter of SVI steps


DEFAULT = Thresholds()
