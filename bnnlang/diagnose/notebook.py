"""How a run and its report show themselves in a notebook cell (`_repr_html_`): compact, escaped, script-free.

A cell is not a page: the styles are scoped to the cell's own class so they neither restyle the notebook nor
clash with a second report further down, and elements carry no ids (several reports may share one page). The
verdict box, tables and figures are the report page's own (`html_parts.py`), so a cell and report.html agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .figure import Figure
from .html_parts import escape, figure, fmt, table, verdict_block
from .thresholds import DEFAULT

CELL = "bnnlang-cell"
CSS = f"""
.{CELL}{{font:13px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:900px}}
.{CELL} .verdict{{padding:8px 12px;border-radius:6px;margin:6px 0;border:1px solid;color:#1d2327}}
.{CELL} .ok{{background:#e8f5e9;border-color:#81c784}}.{CELL} .bad{{background:#fdecea;border-color:#e57373}}
.{CELL} .warn{{background:#fff8e1;border-color:#ffd54f}}
.{CELL} table{{border-collapse:collapse;margin:4px 0 8px;font-size:12px}}
.{CELL} td,.{CELL} th{{border:1px solid #ddd;padding:2px 6px;text-align:right}}
.{CELL} td:first-child,.{CELL} th:first-child{{text-align:left}}
.{CELL} tr.fail td{{background:#fdecea;color:#1d2327}}.{CELL} tr.warnrow td{{background:#fff8e1;color:#1d2327}}
.{CELL} figure{{margin:6px 0;display:inline-block;max-width:100%}}
.{CELL} figure img{{max-width:560px;width:100%;height:auto;display:block;background:#fff}}
.{CELL} figcaption{{font-size:12px;max-width:560px}}.{CELL} .muted{{opacity:.75;font-size:12px}}
"""
# The figures a cell shows, the first prefix that has any: the fit over a 1-D input, the predictive map over two
# inputs, a classifier's reliability diagram (any input rank), else the predictive checks.
KEY_FIGURES = ("predictive_", "map_mean_", "reliability_", "ppc_")
MAX_SCALAR_ROWS = 12  # a cell lists this many scalar parameters; the rest are counted


def _cell(parts: list[str]) -> str:
    return f'<div class="{CELL}"><style>{CSS}</style>{"".join(parts)}</div>'


def _line(title: str, model_path: str | None, backend: str, chains: int, draws: int) -> str:
    name = model_path or "<string>"
    return (
        f"<p><b>{escape(title)}</b> {escape(name)}: {escape(backend)}, {int(chains)} chain(s) × {int(draws)} draws</p>"
    )


def report_html(content: Mapping[str, Any], figures: Sequence[Figure]) -> str:
    """A report in a cell: its verdict with the checks folded, the key figures, and where the rest is."""
    run = content["run"]
    folder = f"; run folder {escape(run['path'])}" if run.get("path") else ""
    parts = [_line("bnnlang report", run.get("model_path"), run["backend"], run["chains"], run["draws_per_chain"])]
    parts.append(f'<p class="muted">data {escape(run.get("data_path"))}{folder}</p>')
    parts += verdict_block(content["verdict"], element_id=None)
    for prefix in KEY_FIGURES:
        shown = [figure(f, anchored=False) for f in figures if f.id.startswith(prefix)]
        if shown:
            parts += shown
            break
    parts.append(
        f'<p class="muted">{len(figures)} figure(s) in all, with predictive checks, convergence and the model: '
        "<b>run.write_report(report)</b> writes them to report.html.</p>"
    )
    return _cell(parts)


def run_html(
    model_path: str | None,
    backend: str,
    settings: Mapping[str, Any],
    summary: Mapping[str, Any],
    data_path: str | None = None,
    folder: str | None = None,
) -> str:
    """A run in a cell, before any report: what ran, with which settings, and the convergence its summary has.

    No verdict: that needs the report's function-space checks, so the cell says how to get one."""
    parts = [_line("bnnlang run", model_path, backend, summary["chains"], summary["draws_per_chain"])]
    where = f"; run folder {escape(folder)}" if folder else ""
    parts.append(f'<p class="muted">data {escape(data_path)}{where}</p>')
    parts.append("<details><summary>Settings</summary>")
    parts.append(table(["setting", "value"], [[k, v] for k, v in settings.items()]) + "</details>")
    parts += _scalars(summary.get("scalars", {}))
    parts += _weights(summary.get("arrays", {}))
    sampler = summary.get("sampler")
    if sampler:
        rows = [[k.replace("_", " "), v] for k, v in sampler.items() if not isinstance(v, list)]
        parts.append(
            table(["sampler", "value"], rows, ["fail" if r[0] == "divergences" and r[1] else "" for r in rows])
        )
    parts.append(
        '<p class="muted">For the verdict, predictive checks and figures: <b>report = run.report()</b> '
        "(with <b>test=</b> held-out data for calibration); <b>run.idata</b> is the ArviZ InferenceData.</p>"
    )
    return _cell(parts)


def _scalars(scalars: Mapping[str, Mapping[str, Any]]) -> list[str]:
    if not scalars:
        return []
    keys = ("mean", "sd", "q5", "q95", "r_hat", "ess_bulk")
    names = list(scalars)[:MAX_SCALAR_ROWS]
    rows = [[n] + [scalars[n].get(k) for k in keys] for n in names]
    high = [(scalars[n].get("r_hat") or 0.0) > DEFAULT.rhat_max for n in names]
    out = [
        table(
            ["parameter", "mean", "sd", "5%", "95%", "R-hat", "bulk ESS"], rows, ["warnrow" if h else "" for h in high]
        )
    ]
    if len(scalars) > MAX_SCALAR_ROWS:
        out.append(f'<p class="muted">and {len(scalars) - MAX_SCALAR_ROWS} more scalar parameter(s) in run.summary</p>')
    return out


def _weights(arrays: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Weight arrays as one line: they are not identifiable, so their R-hat says little (docs/diagnostics.md)."""
    if not arrays:
        return []
    worst = [a["max_r_hat"] for a in arrays.values() if a.get("max_r_hat") is not None]
    high = f"; worst R-hat {fmt(max(worst))}" if worst else ""
    return [
        f'<p class="muted">{len(arrays)} weight array(s){high} (weights are not identifiable: the report judges '
        "the network's outputs instead).</p>"
    ]
