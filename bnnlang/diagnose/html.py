"""The run report as one self-contained HTML page: figures embedded as PNG data, no scripts, no network.

Every string that comes from the model file, the data or the settings passes
through `html.escape` on its way in (`_e`); nothing else is interpolated raw.
"""

from __future__ import annotations

import json
from typing import Any

from .figure import Figure
from .html_parts import escape as _e
from .html_parts import figure, fmt, table, verdict_block
from .report import Report

CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2327;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:12px 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:18px 0 6px}
.verdict{padding:12px 16px;border-radius:6px;margin:12px 0;border:1px solid}
.ok{background:#e8f5e9;border-color:#81c784}.bad{background:#fdecea;border-color:#e57373}
.warn{background:#fff8e1;border-color:#ffd54f}
table{border-collapse:collapse;margin:6px 0 12px;font-size:13px}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f0f0f0}
td:first-child,th:first-child{text-align:left}
tr.fail td{background:#fdecea}tr.warnrow td{background:#fff8e1}
figure{margin:10px 0 18px;background:#fff;border:1px solid #e3e3e3;padding:8px;display:inline-block;max-width:100%}
figure img{max-width:100%;height:auto;display:block}figcaption{font-size:13px;color:#555;margin-top:4px;max-width:640px}
pre{background:#fff;border:1px solid #e3e3e3;padding:10px;overflow:auto;font-size:13px}
.muted{color:#666;font-size:13px}
"""


class _Figures:
    """The report's figures, each placed once: the first section to ask for a prefix takes them."""

    def __init__(self, figures: list[Figure]) -> None:
        self.figs = {f.id: f for f in figures}
        self.used: set[str] = set()

    def __call__(self, prefix: str) -> str:
        out = []
        for fid, f in self.figs.items():
            if fid.startswith(prefix) and fid not in self.used:
                self.used.add(fid)
                out.append(figure(f))
        return "".join(out)


def render(report: Report) -> str:
    c = report.content
    fig = _Figures(report.figures)
    run = c["run"]
    parts = _header(c)
    parts += _predictions(c, fig)
    parts += _predictive_checks(c, fig)
    parts += _prior_predictive(c.get("prior_predictive"), fig)
    parts += _relevance(c.get("relevance"))
    parts += _loo(c.get("loo"))
    parts += _convergence(c["convergence"], fig)
    rest = fig("")
    if rest:
        parts.append("<h2>Other figures</h2>" + rest)
    parts += _run_section(run)
    parts.append("<h2>Model</h2>")
    parts.append(f"<pre>{_e(c['model_source'])}</pre>")
    title = _e(f"bnnlang report: {run.get('model_path') or ''}")
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
        f"<body><main>{''.join(parts)}</main></body></html>\n"
    )


def _header(c: dict[str, Any]) -> list[str]:
    run, v = c["run"], c["verdict"]
    parts = [f"<h1>bnnlang run report: {_e(run.get('model_path') or '')}</h1>"]
    parts.append(
        f'<p class="muted">{_e(run["backend"])}, {run["chains"]} chain(s) × {run["draws_per_chain"]} draws; '
        f"data {_e(run.get('data_path'))}; run folder {_e(run.get('path'))}; bnnlang {_e(run.get('bnnlang_version'))}</p>"
    )
    if run.get("noncentered"):
        parts.append(f'<p class="muted">Sampled non-centred (loc + scale * z): {_e(", ".join(run["noncentered"]))}</p>')
    return parts + verdict_block(v)


def _predictions(c: dict[str, Any], fig: _Figures) -> list[str]:
    parts = ["<h2>Predictions</h2>", fig("predictive_") + fig("uncertainty_") + fig("map_")]
    parts += _skipped_views(c.get("skipped_views"))
    for name, u in c.get("uncertainty", {}).items():
        parts.append(f"<h3>Uncertainty split: {_e(name)}</h3>")
        rows = []
        for where in (u, u.get("held_out")):
            if where:
                rows.append([where["inputs"]] + [v for k, v in where.items() if k.startswith("mean_")])
        keys = [k[5:].replace("_", " ") for k in u if k.startswith("mean_")]
        parts.append(table(["inputs"] + [f"mean {k}" for k in keys], rows))
    if "test" in c:
        parts.append("<h2>Held-out accuracy and calibration</h2>")
        for name, m in c["test"].items():
            parts.append(f"<h3>{_e(name)} ({m['rows']} rows)</h3>")
            if m["kind"] == "classification":
                parts.append(
                    table(["accuracy", "NLL", "Brier", "ECE"], [[m["accuracy"], m["nll"], m["brier"], m["ece"]]])
                )
                parts.append(f"<p>Calibration: {_e(m['reading'])}.</p>")
            else:
                cov = m["coverage"]
                parts.append(
                    table(
                        ["RMSE", "NLPD"] + [f"coverage {float(k):.0%}" for k in cov],
                        [[m["rmse"], m["nlpd"]] + list(cov.values())],
                    )
                )
        parts.append(fig("pit_") + fig("coverage_") + fig("reliability_"))
    elif c.get("reliability"):
        parts.append("<h2>Calibration on the training data</h2>")
        rows = [[n, r["rows"], r["accuracy"], r["ece"], r["reading"]] for n, r in c["reliability"].items()]
        parts.append(table(["output", "rows", "accuracy", "ECE", "reading"], rows))
        parts.append(
            '<p class="muted">In-sample: the rows the model was fitted to. '
            "<b>bnnc report RUN --test FILE</b> scores it on held-out rows.</p>" + fig("reliability_")
        )
    if "ood" in c:
        parts.append("<h2>Out-of-distribution inputs</h2>")
        rows = [
            [n, o["score"], o["reference"], o["rows_reference"], o["rows_ood"], o["auroc"]] for n, o in c["ood"].items()
        ]
        parts.append(table(["output", "score", "against", "rows", "OOD rows", "AUROC"], rows))
        parts.append(fig("ood_"))
    return parts


def _skipped_views(skipped: list[dict[str, str]] | None) -> list[str]:
    """The views over the inputs that this model does not get, with why (`views.py`); views left out for the same
    reason (an image input leaves out every view over input columns) share one line."""
    if not skipped:
        return []
    by_reason: dict[str, list[str]] = {}
    for s in skipped:
        by_reason.setdefault(s["reason"], []).append(s["title"])
    items = "".join(f"<li><b>{_e(', '.join(t))}</b>: {_e(r)}.</li>" for r, t in by_reason.items())
    return [f'<div class="muted" id="skipped-views"><p>Not shown for this model:</p><ul>{items}</ul></div>']


def _predictive_checks(c: dict[str, Any], fig: _Figures) -> list[str]:
    parts = ["<h2>Posterior predictive checks (training data)</h2>"]
    for name, ppc in c.get("predictive_checks", {}).items():
        rows = [[k, s["observed"], s["replicated_mean"], s["p_value"]] for k, s in ppc["statistics"].items()]
        parts.append(f"<h3>{_e(name)}</h3>")
        parts.append(table(["statistic", "observed", "replicated mean", "p-value"], rows))
        if ppc.get("in_sample_coverage"):
            cov = ppc["in_sample_coverage"]
            parts.append(table([f"in-sample coverage {float(k):.0%}" for k in cov], [list(cov.values())]))
    parts.append(fig("ppc_"))
    return parts


def _prior_predictive(prior: dict[str, Any] | None, fig: _Figures) -> list[str]:
    """What the priors implied at the training inputs before fitting (`bnnc prior`); rows that warn are marked;
    the prior's functions over a single real input, drawn."""
    if not prior:
        return []
    parts = ["<h2>Prior predictive check (training inputs, before fitting)</h2>"]
    head = ["output", "scale", "prior function spread", "data sd", "ratio", "saturated", "warning"]
    outputs = prior["outputs"].values()
    keys = ("name", "scale", "function_sd", "data_sd", "ratio", "saturated")
    rows = [[o[k] for k in keys] + [o["warning"] or ""] for o in outputs]
    parts.append(table(head, rows, ["warnrow" if o["warning"] else "" for o in outputs]))
    t = prior["thresholds"]
    parts.append(
        f'<p class="muted">{prior["draws"]} joint prior draws. The spread is the sd over draws of the '
        "likelihood's mean, root mean square over rows; a ratio to the data's sd beyond "
        f"{t['scale_factor']:g}x either way, or more than {t['saturated_max']:.0%} of class predictions above "
        f"p = {t['confident_p']:g}, is flagged.</p>"
    )
    parts.append(fig("prior_functions_"))
    return parts


def _relevance(relevance: dict[str, list[dict[str, Any]]] | None) -> list[str]:
    if not relevance:
        return []
    parts = ["<h2>Input relevance</h2>"]
    for name, entries in relevance.items():
        parts.append(f"<h3>{_e(name)}</h3>")
        rows = [[e["input"], e["relevance"], f"{fmt(e['lo'])} – {fmt(e['hi'])}", f"{e['share']:.0%}"] for e in entries]
        parts.append(table(["input", "sensitivity", "90% interval", "share"], rows))
    parts.append(
        '<p class="muted">Change of the predictive function (mean, or class probabilities) per input sd, averaged over '
        "training rows, per posterior draw: a finite difference at ±0.1 sd. An input near 0 is one the fitted model "
        "does not use.</p>"
    )
    return parts


def _loo(loo: dict[str, Any] | None) -> list[str]:
    if not loo:
        return []
    parts = ["<h2>Leave-one-out predictive accuracy (PSIS-LOO)</h2>"]
    rows = [[loo["elpd_loo"], loo["se"], loo["p_loo"], loo["points"], loo["k_good"], loo["k_high"], loo["k_very_high"]]]
    head = ["elpd_loo", "se", "p_loo", "points", "k̂ ≤ 0.7", "0.7 < k̂ ≤ 1", "k̂ > 1"]
    parts.append(table(head, rows, ["warnrow" if loo["k_high"] + loo["k_very_high"] else ""]))
    text = "Compare runs of other models on the same data with: bnnc compare RUN RUN ..."
    if loo["flagged_points"]:
        worst = ", ".join(str(i) for i in loo["flagged_points"][:10])
        text = (
            f"Points with k̂ &gt; 0.7 (unreliable estimates; worst first, row numbers from 0): {_e(worst)}. "
            "Refit without them or use K-fold cross-validation before trusting elpd_loo. " + text
        )
    if loo["mixture_of_modes"]:
        text += " Chains started from ensemble members: this is the LOO of their equal-weight mixture."
    parts.append(f'<p class="muted">{text}</p>')
    return parts


def _convergence(conv: dict[str, Any], fig: _Figures) -> list[str]:
    parts = ["<h2>Convergence</h2>"]
    if conv["function_space"]:
        parts += _function_space(conv)
    if conv.get("log_likelihood"):
        ll = conv["log_likelihood"]
        parts.append(
            table(
                ["training log-likelihood", "R-hat", "bulk ESS", "tail ESS"],
                [["", ll["r_hat"], ll["ess_bulk"], ll["ess_tail"]]],
            )
        )
    if conv["scalars"]:
        rows = [
            [n, s["mean"], s["sd"], s["q5"], s["q95"], s["r_hat"], s["ess_bulk"], s["ess_tail"], s["mcse_mean"]]
            for n, s in conv["scalars"].items()
        ]
        parts.append("<h3>Scalar parameters</h3>")
        parts.append(table(["parameter", "mean", "sd", "5%", "95%", "R-hat", "bulk ESS", "tail ESS", "MCSE"], rows))
    if conv["weights"]:
        rows = [
            [n, "×".join(map(str, w["shape"])), w["max_r_hat"], w["min_ess_bulk"], w["min_ess_tail"]]
            for n, w in conv["weights"].items()
        ]
        parts.append("<h3>Weight arrays (per-layer digest, informative only)</h3>")
        parts.append(
            '<p class="muted">Weights are not identifiable (hidden units permute, signs flip), so a high R-hat here '
            "is expected even when every prediction has converged; the verdict does not use these rows.</p>"
        )
        parts.append(table(["site", "shape", "worst R-hat", "min bulk ESS", "min tail ESS"], rows))
    if conv["sampler"]:
        s = conv["sampler"]
        rows = [
            [k.replace("_", " "), ", ".join(fmt(x) for x in val) if isinstance(val, list) else val]
            for k, val in s.items()
        ]
        parts.append("<h3>Sampler</h3>" + table(["statistic", "value"], rows))
    parts.append(fig("log_likelihood") + fig("loss") + fig("trace_"))
    return parts


def _function_space(conv: dict[str, Any]) -> list[str]:
    keys = ("quantity", "inputs", "rows", "median_r_hat", "q95_r_hat", "max_r_hat", "min_ess_bulk", "min_ess_tail")
    rows = [[n] + [f[k] for k in keys] for n, f in conv["function_space"].items()]
    parts = ["<h3>Function space: the network's outputs</h3>"]
    if conv.get("within_members"):
        parts.append(
            '<p class="muted">Chains started from deep-ensemble members: R-hat is each chain\'s split R-hat '
            "(worst chain), ESS is summed over chains. Between members: "
            + "; ".join(
                f"{_e(n)}: {fmt(f.get('between_member_share'))} of the spread lies between members "
                f"(pooled R-hat {fmt(f.get('pooled_max_r_hat'))}, expected to be high)"
                for n, f in conv["function_space"].items()
            )
            + ".</p>"
        )
    header = ["output", "quantity", "inputs", "rows", "median R-hat", "95% R-hat", "max R-hat"]
    parts.append(table(header + ["min bulk ESS", "min tail ESS"], rows))
    return parts


def _run_section(run: dict[str, Any]) -> list[str]:
    parts = ["<h2>Run</h2>"]
    if run.get("backend_summary"):
        parts.append(f"<p>{_e(run['backend'])}: {_e(run['backend_summary'])}. {_e(run.get('run_summary', ''))}</p>")
    settings = run.get("settings", {})
    parts.append(table(["setting", "value"], [[k, val] for k, val in settings.items()]))
    timings = run.get("timings", {})
    if timings:
        parts.append(
            table(["timing", "seconds"], [[k, val] for k, val in timings.items() if isinstance(val, (int, float))])
        )
    if run.get("info"):
        parts.append(
            f"<details><summary>Backend details</summary><pre>{_e(json.dumps(run['info'], indent=2))}</pre></details>"
        )
    return parts
