"""The verdict at the top of a report: can this posterior be trusted, and if not, why.

Checks that fail make `bnnc report --strict` exit 1; warnings are shown but do
not fail. Defaults follow Vehtari et al. (2021) and Stan: rank-normalised R-hat
at most 1.01 (for predictions, at 95% of the inputs and 1.05 at every one),
bulk and tail ESS at least 100 per chain, no divergent
transitions; E-BFMI below 0.3 and a saturated tree depth are warnings (they
cost efficiency, and usually come with one of the failures above). Weight
arrays are not judged: they are not identifiable; their digest is informative
only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .thresholds import Thresholds


@dataclass
class Check:
    name: str
    ok: bool
    value: Any
    threshold: str
    detail: str  # what was found, in the words of its outcome: passed checks never carry failure wording
    severity: str = "fail"  # or "warn"
    kind: str = "computation"  # or "fit": does the model fit the data (diagnose/fit.py)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Verdict:
    checks: list[Check] = field(default_factory=list)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok and c.severity == "fail"]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if not c.ok and c.severity == "warn"]

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def headline(self) -> str:
        """Can the computation be trusted, then (when fit checks ran) does the model fit."""
        computation = [c for c in self.checks if c.kind == "computation"]
        fit = [c for c in self.checks if c.kind == "fit"]
        return _computation_headline(computation) + _fit_headline(fit)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "headline": self.headline,
            "checks": [c.as_dict() for c in self.checks],
        }


def _computation_headline(checks: list[Check]) -> str:
    failures = [c for c in checks if not c.ok and c.severity == "fail"]
    warnings = [c for c in checks if not c.ok and c.severity == "warn"]
    if not checks:
        return "no convergence checks apply to this run"
    if failures:
        more = len(failures) - 2
        also = [f"{more} more failed check(s)"] if more > 0 else []
        also += [f"{len(warnings)} warning(s)"] if warnings else []
        tail = f" (and {', '.join(also)})" if also else ""
        return "not converged: " + "; ".join(c.detail for c in failures[:2]) + tail
    if warnings:
        return "converged, with warnings: " + "; ".join(c.detail for c in warnings)
    return f"converged: all {len(checks)} checks passed"


def _fit_headline(checks: list[Check]) -> str:
    if not checks:
        return ""
    failures = [c for c in checks if not c.ok]
    if failures:
        return ". Poor fit: " + "; ".join(c.detail for c in failures)
    return f". Fits: all {len(checks)} fit checks passed"


def _check(name: str, ok: bool, value: Any, threshold: str, passed: str, failed: str, severity: str = "fail") -> Check:
    return Check(name, ok, value, threshold, passed if ok else failed, severity)


def judge(
    mcmc: bool,
    chains: int,
    summary: dict[str, Any],
    function_space: dict[str, dict[str, Any]],
    loglik: dict[str, Any] | None,
    loss: list[float] | None,
    limits: Thresholds,
) -> Verdict:
    """Checks for this run: Markov chains on R-hat, ESS and sampler health; a fitted approximation (SVI) on its
    loss curve."""
    v = Verdict()
    if not mcmc:
        if loss is not None and len(loss) >= 20:
            v.checks.append(_elbo_check(loss, limits))
        return v
    ess_min = limits.ess_min_per_chain * max(chains, 1)
    # (label, R-hat to judge, threshold, what the number is, the digest with ESS)
    judged: list[tuple[str, float | None, float, str, dict[str, Any]]] = []
    for k, s in summary.get("scalars", {}).items():
        judged.append((f"parameter {k}", s.get("r_hat"), limits.rhat_max, "R-hat", s))
    for k, fs in function_space.items():
        # many inputs: the largest of 200 R-hats passes 1.01 by chance even for independent draws,
        # so 1.01 holds for 95% of the inputs, and a looser bound for every one of them
        judged.append((f"predictions of {k}", fs.get("q95_r_hat"), limits.rhat_max, "95th-percentile R-hat", fs))
        judged.append(
            (f"predictions of {k} (worst input)", fs.get("max_r_hat"), limits.rhat_max_any_input, "R-hat", {})
        )
    if loglik is not None:
        judged.append(("log-likelihood", loglik.get("r_hat"), limits.rhat_max, "R-hat", loglik))
    for label, rhat, bound, what, s in judged:
        if rhat is not None:
            found = f"{what} of {label} is {rhat:.3f}"
            v.checks.append(
                _check(
                    f"r_hat: {label}",
                    rhat <= bound,
                    rhat,
                    f"<= {bound}",
                    f"{found} (<= {bound})",
                    f"{found} (> {bound}): chains disagree",
                )
            )
        for kind in ("bulk", "tail"):
            ess = s.get(f"ess_{kind}", s.get(f"min_ess_{kind}"))
            if ess is not None:
                found = f"{kind} ESS of {label} is {ess:.0f}"
                v.checks.append(
                    _check(
                        f"ess_{kind}: {label}",
                        ess >= ess_min,
                        ess,
                        f">= {ess_min:g}",
                        f"{found} (>= {ess_min:g})",
                        f"{found} (< {ess_min:g}): too few effective draws",
                    )
                )
    sampler = summary.get("sampler", {})
    if "divergences" in sampler:
        n = sampler["divergences"]
        v.checks.append(
            _check(
                "divergences",
                n <= limits.max_divergences,
                n,
                f"<= {limits.max_divergences}",
                f"{n} divergent transitions (at most {limits.max_divergences} allowed)",
                f"{n} divergent transitions: the sampler missed part of the posterior",
            )
        )
    if sampler.get("bfmi") is not None:
        low = min(sampler["bfmi"])
        v.checks.append(
            _check(
                "e_bfmi",
                low >= limits.bfmi_min,
                low,
                f">= {limits.bfmi_min}",
                f"E-BFMI {low:.2f} (>= {limits.bfmi_min})",
                f"E-BFMI {low:.2f} (< {limits.bfmi_min}): momentum resampling explores the energy poorly",
                "warn",
            )
        )
    if sampler.get("tree_depth_saturation") is not None:
        share = sampler["tree_depth_saturation"]
        v.checks.append(
            _check(
                "tree_depth",
                share <= limits.tree_depth_saturation_max,
                share,
                f"<= {limits.tree_depth_saturation_max}",
                f"{share:.0%} of draws hit the maximum tree depth (<= {limits.tree_depth_saturation_max:.0%})",
                f"{share:.0%} of draws hit the maximum tree depth: raise max_tree_depth or reparameterise",
                "warn",
            )
        )
    return v


def loss_converged(loss: list[float], tolerance: float) -> tuple[bool, float]:
    """Has the loss stopped falling? A straight line through the last quarter of the steps says.

    Still falling means both: the line's drop over that quarter is more than
    `tolerance` of the loss's size, and the slope is clearly negative (more
    than two standard errors; autocorrelation ignored, so stochastic losses are
    judged leniently). Returns (converged, relative drop over the quarter).
    """
    import numpy as np

    arr = np.asarray(loss, dtype=float)
    arr = arr[np.isfinite(arr)]
    tail = arr[-max(len(arr) // 4, 3) :]
    t = np.arange(len(tail), dtype=float) - (len(tail) - 1) / 2
    slope = float((t * (tail - tail.mean())).sum() / (t * t).sum())
    resid = tail - tail.mean() - slope * t
    se = float(np.sqrt((resid * resid).sum() / max(len(tail) - 2, 1) / (t * t).sum()))
    relative = -slope * len(tail) / max(abs(float(tail.mean())), 1.0)
    still_falling = relative > tolerance and slope < -2 * se
    return not still_falling, relative


def _elbo_check(loss: list[float], limits: Thresholds) -> Check:
    ok, relative = loss_converged(loss, limits.elbo_tolerance)
    return _check(
        "elbo",
        ok,
        round(relative, 6),
        f"relative drop over the last quarter <= {limits.elbo_tolerance} (or within noise)",
        f"the loss has stopped falling: it changes by {-relative:+.2%} over the last quarter of the steps",
        f"the loss still falls by {relative:.2%} over the last quarter of the steps: run more steps",
    )
