"""Prior predictive checks (`bnnc prior`, priors/predictive.py): scale and saturation of what the priors imply.

Each case is a model whose prior is known to be right or wrong for its data by construction: the shipped
examples (sensible), their weights made 100x wider, their data 1000x larger, a standardized target.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import bnnlang
from bnnlang.api import Model
from bnnlang.cli import main
from bnnlang.diagnose.html import render
from bnnlang.priors.predictive import SCALE_FACTOR

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
REG = EXAMPLES / "regression_1d.bnn"
REG_DATA = EXAMPLES / "data" / "regression_1d.csv"
CLS = EXAMPLES / "classification_binary.bnn"
CLS_DATA = EXAMPLES / "data" / "classification_binary.csv"
DRAWS = 100


def _with(path: Path, old: str, new: str) -> str:
    """An example's source with one line changed (the change must apply)."""
    source = path.read_text()
    assert old in source
    return source.replace(old, new)


def _reg_arrays(y_factor: float = 1.0) -> dict[str, np.ndarray]:
    table = np.genfromtxt(REG_DATA, delimiter=",", names=True)
    return {"x": table["x"].reshape(-1, 1), "y": table["y"] * y_factor}


def test_data_a_thousand_times_larger_is_out_of_reach() -> None:
    result = bnnlang.load(REG).prior_predictive(_reg_arrays(1000.0), draws=DRAWS)
    (y,) = result.outputs
    assert y.ratio < 1 / SCALE_FACTOR
    assert "too narrow" in y.warning


def test_a_standardized_target_is_judged_on_the_standardized_scale() -> None:
    """The same 1000x data, declared `standardized`: the priors speak of standardized y, so it fits."""
    model = Model.from_source(_with(REG, "y: real[N]", "y: real[N] standardized"), "standardized.bnn")
    (y,) = model.prior_predictive(_reg_arrays(1000.0), draws=DRAWS).outputs
    assert y.scale == "standardized"
    assert y.data_sd == pytest.approx(1.0)
    assert 1 / SCALE_FACTOR < y.ratio < SCALE_FACTOR and y.warning is None


def test_cli_prints_the_line_and_warns_about_weights_100x_too_wide(tmp_path, capsys) -> None:
    wide = tmp_path / "wide.bnn"
    wide.write_text(_with(REG, "default weight ~ neal()", "default weight ~ Normal(0, 100)"))
    code = main(["prior", str(wide), "--data", str(REG_DATA), "--draws", str(DRAWS)])
    out, err = capsys.readouterr()
    assert code == 0
    line = next(s for s in out.splitlines() if s.startswith("y (regression, data units)"))
    ratio = float(line.split("ratio ")[1].split(",")[0])
    assert ratio > SCALE_FACTOR
    assert "warning: 'y'" in err and "too wide" in err


def test_cli_refuses_too_few_draws_without_a_traceback(capsys) -> None:
    assert main(["prior", str(REG), "--data", str(REG_DATA), "--draws", "1"]) == 2
    err = capsys.readouterr().err
    assert "at least 2 draws" in err and "Traceback" not in err


def test_a_classifier_with_huge_weights_is_saturated_and_the_example_is_not() -> None:
    huge = Model.from_source(_with(CLS, "neal(scale = 2)", "Normal(0, 100)"), "huge.bnn")
    (bad,) = huge.prior_predictive(CLS_DATA, draws=DRAWS).outputs
    (good,) = bnnlang.load(CLS).prior_predictive(CLS_DATA, draws=DRAWS).outputs
    assert bad.kind == good.kind == "classification"
    assert bad.saturated > 0.5 and "one class probability above 0.99" in bad.warning
    assert good.saturated < 0.2 and good.warning is None
    assert bad.relative_entropy < good.relative_entropy <= 1.0


def test_the_1d_examples_report_holds_its_prior_check_which_is_on_the_datas_scale() -> None:
    """One short run serves both: the report's JSON and page carry the check, and on the shipped example the
    prior's functions spread on the data's scale (regression_1d.csv: sd 0.70; the prior's about 1.2)."""
    run = bnnlang.load(REG).run(REG_DATA, chains=1, warmup=30, samples=20)
    report = run.report()
    prior = report.as_json()["prior_predictive"]
    y = prior["outputs"]["y"]
    assert prior["draws"] == 200
    assert (y["kind"], y["scale"]) == ("regression", "data units")
    assert y["data_sd"] == pytest.approx(np.std(_reg_arrays()["y"]))
    assert 1 / SCALE_FACTOR < y["ratio"] < SCALE_FACTOR and y["warning"] is None
    assert y["ratio"] == pytest.approx(y["function_sd"] / y["data_sd"])
    assert y["predictive_sd"] > y["function_sd"]  # the noise adds to the functions' spread
    assert y["saturated"] is None
    assert "Prior predictive check" in render(report)
