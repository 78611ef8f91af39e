"""The table `bnnc run` prints when a run ends: scalars, weight digests, sampler health and time."""

from __future__ import annotations

from typing import Any


def run_table(summary: dict[str, Any], chains_in_modes: bool = False) -> str:
    """`chains_in_modes`: chains started in different modes by design (ensemble members), so the R-hat here,
    pooled over chains, is expected to be high; the report judges each chain on its own instead."""
    rhat = "pooled r_hat" if chains_in_modes else "r_hat"
    lines = [f"{'param':<28}{'mean':>10}{'sd':>10}{'5%':>10}{'95%':>10}{rhat:>13}{'ess_bulk':>10}"]
    for name, v in summary["scalars"].items():
        lines.append(
            f"{name:<28}{_f(v['mean']):>10}{_f(v['sd']):>10}{_f(v['q5']):>10}{_f(v['q95']):>10}"
            f"{_f(v['r_hat'], 3):>13}{_f(v['ess_bulk'], 0):>10}"
        )
    if summary["arrays"]:
        lines.append("")
        lines.append(f"{'array':<28}{'shape':>12}{'max ' + rhat:>17}{'min ess':>10}")
        for name, v in summary["arrays"].items():
            lines.append(f"{name:<28}{str(v['shape']):>12}{_f(v['max_r_hat'], 3):>17}{_f(v['min_ess_bulk'], 0):>10}")
    sampler = summary.get("sampler", {})
    t = summary.get("timings", {})
    total = t.get("run_s", t.get("sampling_s", 0.0))
    lines.append("")
    if "divergences" in sampler:
        lines.append(
            f"divergences: {sampler.get('divergences')}  mean tree depth: {sampler.get('mean_tree_depth')}  "
            f"time: {total:.1f} s (sampling {t.get('sampling_s', 0):.1f} s)"
        )
    else:
        lines.append(f"backend: {summary.get('run', {}).get('backend')}  time: {total:.1f} s")
    if chains_in_modes:
        lines.append(
            "note: each chain started from its own ensemble member, in its own mode: R-hat pooled over chains says "
            "how far apart the modes are; `bnnc report` judges each chain on its own."
        )
    lines.append(
        "note: weights of a network are not identifiable (permutations, sign flips); judge convergence by "
        "scalars and predictions."
    )
    return "\n".join(lines)


def _f(x, digits: int = 3) -> str:
    if x is None:
        return "-"
    return f"{x:.{digits}f}" if digits else f"{x:.0f}"
