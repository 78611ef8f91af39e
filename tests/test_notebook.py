"""What a notebook user does: run from a DataFrame, predict from a dict of arrays into a DataFrame, reach the
ArviZ data, and see a run and its report in a cell (`_repr_html_`): escaped, script-free, scoped styles.

One short NUTS run of examples/regression_1d.bnn (30 rows, 20 + 20 draws, one chain) under a model path with
markup in it serves every test; its report is built once.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from models import gap_data
from test_confinement import ALLOWED_ATTRS, ALLOWED_TAGS

from bnnlang.api import Model, Run
from bnnlang.diagnose.figure import Figure
from bnnlang.diagnose.html import render
from bnnlang.diagnose.report import Report

pd = pytest.importorskip("pandas")
az = pytest.importorskip("arviz")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "regression_1d.bnn"
HOSTILE_NAME = "m<b>&'x\".bnn"


class _Cell(HTMLParser):
    """Tags with their attributes, and the decoded text, of a cell's HTML."""

    def __init__(self, raw: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(raw)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def assert_safe_cell(raw: str) -> _Cell:
    """No script, only the report page's own tags and attributes (tests/test_confinement.py), no ids (a
    notebook may show several reports), and every style rule scoped to the cell."""
    assert "<script" not in raw.lower() and "javascript:" not in raw.lower()
    cell = _Cell(raw)
    assert cell.tags[0] == ("div", {"class": "bnnlang-cell"})
    for tag, attrs in cell.tags:
        assert tag in ALLOWED_TAGS, tag
        assert set(attrs) <= ALLOWED_ATTRS - {"id"}, (tag, attrs)
        if "src" in attrs:
            assert attrs["src"].startswith("data:image/png;base64,"), attrs["src"][:40]
    style = re.search(r"<style>(.*?)</style>", raw, re.S).group(1)
    for selectors in re.findall(r"([^{}]+)\{", style):
        for sel in selectors.split(","):
            assert sel.strip().startswith(".bnnlang-cell"), sel
    return cell


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    x, y = gap_data(30, seed=3)
    return pd.DataFrame({"x": x, "y": y})


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame) -> Run:
    path = tmp_path_factory.mktemp("nb") / HOSTILE_NAME
    model = Model.from_source(EXAMPLE.read_text(encoding="utf-8"), str(path))
    return model.run(frame, warmup=20, samples=20, chains=1, seed=0)


@pytest.fixture(scope="module")
def report(run: Run) -> Report:
    return run.report()


def test_a_run_from_a_dataframe_is_arviz_data_of_those_rows(run: Run, frame: pd.DataFrame) -> None:
    """`Model.run(DataFrame)` binds the frame's columns; `to_arviz()` is the run's InferenceData, which holds
    the frame's rows as its observed and constant data."""
    idata = run.to_arviz()
    assert idata is run.idata and isinstance(idata, az.InferenceData)
    assert {"posterior", "sample_stats", "log_likelihood", "observed_data", "constant_data"} <= set(idata.groups())
    assert run.record.data_path == "<DataFrame>"
    assert dict(idata.posterior.sizes)["chain"] == 1 and dict(idata.posterior.sizes)["draw"] == 20
    np.testing.assert_allclose(idata.observed_data["y"].values, frame["y"].to_numpy(), rtol=1e-6)
    np.testing.assert_allclose(idata.constant_data["x"].values.reshape(-1), frame["x"].to_numpy(), rtol=1e-6)
    assert "sigma" in az.summary(idata, var_names=["sigma"]).index


def test_predict_from_a_dict_of_arrays_is_a_table_pandas_takes(run: Run) -> None:
    """`predict` takes a dict of arrays (inputs only) and returns equal-length columns, so `pd.DataFrame(...)`
    is the table; the same inputs as a DataFrame give the same numbers."""
    grid = np.linspace(-3, 3, 7)
    table = run.predict({"x": grid.reshape(-1, 1)}, max_draws=20)
    assert all(np.asarray(v).shape == (7,) for v in table.values())
    df = pd.DataFrame(table)
    assert list(df.columns[:2]) == ["x", "y.mean"] and {"y.sd", "y.epistemic_sd", "y.aleatoric_sd"} <= set(df)
    np.testing.assert_allclose(df["x"], grid)
    assert np.all(df["y.q5"] <= df["y.mean"]) and np.all(df["y.mean"] <= df["y.q95"])
    again = pd.DataFrame(run.predict(pd.DataFrame({"x": grid}), max_draws=20))
    pd.testing.assert_frame_equal(df, again)


def test_a_run_shows_what_ran_and_its_convergence_in_a_cell(run: Run) -> None:
    """A run's cell: model path (escaped), backend, chains × draws, settings, the scalar parameters' R-hat and
    ESS, the sampler's divergences, and the hint to call `.report()`; it is a cell, not a page."""
    raw = run._repr_html_()
    cell = assert_safe_cell(raw)
    text = "".join(cell.text)
    assert run.record.model_path in text and html.escape(run.record.model_path, quote=True) in raw
    assert "m<b>" not in raw and "<DataFrame>" not in raw and "&lt;DataFrame&gt;" in raw
    assert "nuts, 1 chain(s) × 20 draws" in text
    assert "warmup" in text and "sigma" in text and "R-hat" in text and "divergences" in text
    assert "run.report()" in text
    assert "<html" not in raw and "<body" not in raw and "<h1" not in raw


def test_a_report_shows_its_verdict_and_key_figure_in_a_cell(run: Run, report: Report) -> None:
    """A report's cell: the verdict headline and its checks, the predictive figure (an embedded PNG), the count
    of the other figures; escaped; far smaller than report.html."""
    raw = report._repr_html_()
    cell = assert_safe_cell(raw)
    text = "".join(cell.text)
    verdict = report.content["verdict"]
    assert f"Verdict: {verdict['headline']}" in text
    assert all(c["name"] in text for c in verdict["checks"])
    imgs = [attrs for tag, attrs in cell.tags if tag == "img"]
    predictive = next(f for f in report.figures if f.id == "predictive_y")
    assert [a["alt"] for a in imgs] == [predictive.title]
    assert f"{len(report.figures)} figure(s)" in text
    assert run.record.model_path in text and "m<b>" not in raw
    assert len(raw) < len(render(report)) / 2


def test_a_report_without_a_1d_input_shows_its_predictive_checks() -> None:
    """The key figure falls back to the posterior predictive check; user strings in the content are escaped."""
    hostile = "<script>alert(1)</script>"
    content: dict[str, Any] = {
        "run": {"model_path": hostile, "data_path": hostile, "path": "", "backend": "svi", "chains": 1},
        "verdict": {"ok": True, "headline": hostile, "checks": [], "note": hostile},
    }
    content["run"]["draws_per_chain"] = 100
    figures = [
        Figure("trace_a", hostile, "c", b"\x89PNG", {}),
        Figure("ppc_y", "Predictive check of y", hostile, b"\x89PNG", {}),
    ]
    raw = Report(content, figures)._repr_html_()
    cell = assert_safe_cell(raw)
    assert [a["alt"] for t, a in cell.tags if t == "img"] == ["Predictive check of y"]
    # the model path, the data path, the headline, the note and the caption: each escaped once, none raw
    assert "<script>" not in raw and raw.count(html.escape(hostile, quote=True)) == 5
