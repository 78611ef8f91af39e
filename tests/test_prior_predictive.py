"""Prior predictive checks (`bnnc prior`, priors/predictive.py): scale and saturation of what the priors imply.

Each case is a model whose prior is known to be right or wrong for its data by construction: the shipped
examples (sensible), their weights made 100x wider, their data 1000x larger, a standardized target.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

import bnnlang
from bnnlang.api import Model
from bnnlang.cli import main
from bnnlang.diagnose.html import render
from bnnlang.priors.functions import GRID_POINTS, LINES, PAD
from bnnlang.priors.predictive import SCALE_FACTOR

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
REG = EXAMPLES / "regression_1d.bnn"
REG_DATA = EXAMPLES / "data" / "regression_1d.csv"
CLS = EXAMPLES / "classification_binary.bnn"
CLS_DATA = EXAMPLES / "data" / "classification_binary.csv"
HIER = EXAMPLES / "hierarchical_scale.bnn"
HIER_DATA = EXAMPLES / "data" / "hierarchical_scale.csv"
DRAWS = 100
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _nonblank_png(data: bytes) -> None:
    assert data.startswith(PNG_SIGNATURE)
    image = mpimg.imread(io.BytesIO(data))
    assert image.shape[0] > 200 and image.shape[1] > 400
    assert image[..., :3].std() > 0.03  # a blank (all-white) image has std 0


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


def test_cli_prints_the_line_warns_about_weights_100x_too_wide_and_draws_them(tmp_path, capsys) -> None:
    wide = tmp_path / "wide.bnn"
    wide.write_text(_with(REG, "default weight ~ neal()", "default weight ~ Normal(0, 100)"))
    png = tmp_path / "prior.png"
    code = main(["prior", str(wide), "--data", str(REG_DATA), "--draws", str(DRAWS), "-o", str(png)])
    out, err = capsys.readouterr()
    assert code == 0
    _nonblank_png(png.read_bytes())
    assert f"wrote {png}" in err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left behind
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


def test_the_1d_examples_report_holds_its_prior_check_which_is_on_the_datas_scale_and_drawn() -> None:
    """One short run serves all: the report's JSON and page carry the check, on the shipped example the prior's
    functions spread on the data's scale (regression_1d.csv: sd 0.70; the prior's about 1.2), and the figure of
    those functions is in the section."""
    report = bnnlang.load(REG).run(REG_DATA, chains=1, warmup=30, samples=20).report()
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
    _the_figure_shows_the_sections_draws(report)


# -- the prior's functions over one real input (priors/functions.py) ----------------------------------------------


def _the_figure_shows_the_sections_draws(report) -> None:
    """The figure is drawn from the very draws the section summarises: their sd along the grid, read at the
    training inputs, is the section's function sd (up to linear interpolation between grid points)."""
    fig = next(f for f in report.figures if f.id == "prior_functions_y")
    _nonblank_png(fig.png)
    x = _reg_arrays()["x"].reshape(-1)
    lo, hi = x.min(), x.max()
    grid = np.asarray(fig.data["x"])
    assert grid.shape == (GRID_POINTS,) and np.all(np.diff(grid) > 0)
    assert grid[0] == pytest.approx(lo - PAD * (hi - lo), abs=1e-5)
    assert grid[-1] == pytest.approx(hi + PAD * (hi - lo), abs=1e-5)
    assert np.asarray(fig.data["lines"]).shape == (LINES, GRID_POINTS)
    assert np.all(np.asarray(fig.data["lo"]) < np.asarray(fig.data["hi"]))
    at_data = np.interp(x, grid, np.asarray(fig.data["sd"]))
    function_sd = report.content["prior_predictive"]["outputs"]["y"]["function_sd"]
    assert np.sqrt(np.mean(at_data**2)) == pytest.approx(function_sd, rel=0.02)
    # report.json keeps the figure's numbers; the page shows it in the prior predictive section
    assert set(report.as_json()["figures"]["prior_functions_y"]["data"]) >= {"x", "lines", "lo", "hi", "sd"}
    section = render(report).split("<h2>Prior predictive check")[1].split("<h2>")[0]
    assert 'id="fig-prior_functions_y"' in section


def test_every_draw_is_over_the_grid_and_a_100x_prior_spreads_the_functions_about_100x() -> None:
    """`neal(scale = 100)` multiplies every weight sd by 100: the functions' sd grows about as much (the biases
    keep their Normal(0, 1), and tanh saturates, so not exactly)."""
    sds = []
    for source in (REG.read_text(), _with(REG, "default weight ~ neal()", "default weight ~ neal(scale = 100)")):
        result = Model.from_source(source, "r.bnn").prior_predictive(REG_DATA, draws=DRAWS)
        assert result.functions["y"].values.shape == (DRAWS, GRID_POINTS)
        (fig,) = result.figures()
        sds.append(np.sqrt(np.mean(np.square(fig.data["sd"]))))
    assert 30 < sds[1] / sds[0] < 300


def test_a_model_with_two_real_inputs_gets_no_figure_and_no_error(tmp_path, capsys) -> None:
    """Two input columns have no one axis to draw functions over: the numbers stay, the figure is absent, and
    asking for it on the command line is refused before anything runs."""
    result = bnnlang.load(HIER).prior_predictive(HIER_DATA, draws=DRAWS)
    assert result.outputs[0].function_sd > 0
    assert result.functions == {} and result.figures() == [] and result.png() is None
    out = tmp_path / "f.png"
    assert main(["prior", str(HIER), "--data", str(HIER_DATA), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no single real input column" in err and "Traceback" not in err
    assert not out.exists()


def test_cli_refuses_a_figure_path_it_cannot_write(tmp_path, capsys) -> None:
    for bad, why in ((tmp_path / "no such folder" / "f.png", "no folder"), (tmp_path, "it is a folder")):
        assert main(["prior", str(REG), "--data", str(REG_DATA), "-o", str(bad)]) == 2
        out, err = capsys.readouterr()
        assert "Cannot write" in err and why in err and "Traceback" not in err
        assert out == ""  # refused before any draws
