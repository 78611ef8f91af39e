"""The pieces the report page and the notebook view share: escaping, numbers, tables, figures, the verdict box.

Kept apart from `html.py` (the page) and `notebook.py` (a cell) so both lay out the same verdict the same way,
and free of `report.py` so that `Report` can render itself in Jupyter without an import cycle.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from .figure import Figure


def escape(x: Any) -> str:
    """Every string from a model, data file, path or setting goes through here on its way into HTML."""
    return html.escape(str(x), quote=True)


def fmt(x: Any, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, dict):  # a fit check's numbers side by side, e.g. the model's accuracy and k-NN's
        return ", ".join(f"{escape(k)} {fmt(v, digits)}" for k, v in x.items())
    if isinstance(x, float):
        if abs(x) >= 1e5:
            return f"{x:.3g}"
        return f"{x:.0f}" if abs(x) >= 1000 else (f"{x:.1f}" if abs(x) >= 100 else f"{x:.{digits}f}")
    return escape(x)


def table(header: list[str], rows: list[list[Any]], classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{fmt(c)}</td>" for c in row) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def figure(f: Figure, anchored: bool = True) -> str:
    """A figure as an embedded PNG; `anchored` gives it an id to link to (not in a notebook, where ids repeat)."""
    data = base64.b64encode(f.png).decode("ascii")
    ident = f' id="fig-{escape(f.id)}"' if anchored else ""
    return (
        f'<figure{ident}><img alt="{escape(f.title)}" src="data:image/png;base64,{data}">'
        f"<figcaption><b>{escape(f.title)}.</b> {escape(f.caption)}</figcaption></figure>"
    )


def verdict_block(v: dict[str, Any], element_id: str | None = "verdict") -> list[str]:
    """The verdict box and its checks (folded): the top of the page and of a notebook cell's report.

    `element_id` is None where several reports may share one page (a notebook), so no id repeats."""
    cls = "bad" if not v["ok"] else ("warn" if any(not k["ok"] for k in v["checks"]) else "ok")
    ident = f' id="{escape(element_id)}"' if element_id else ""
    parts = [f'<div class="verdict {cls}"{ident}><b>Verdict: {escape(v["headline"])}</b>']
    if v.get("note"):
        parts.append(f"<p>{escape(v['note'])}</p>")
    parts.append("</div>")
    if v["checks"]:
        rows = [[k["name"], k["value"], k["threshold"], "pass" if k["ok"] else k["severity"]] for k in v["checks"]]
        classes = ["" if k["ok"] else ("fail" if k["severity"] == "fail" else "warnrow") for k in v["checks"]]
        parts.append("<details><summary>All checks</summary>")
        parts.append(table(["check", "value", "threshold", "result"], rows, classes) + "</details>")
    return parts
