"""The report's maps over two real inputs (issue 23): what the model predicts over the plane of its inputs and
where its posterior disagrees, for a classifier (two moons) and a regression; none for other inputs.

The runs are short but real NUTS runs through the API (one chain, a shallow tree: compiling the sampler is most
of their time), one per model, shared by the tests that read it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from models import LINREG_SOURCE, save_linreg_data
from PIL import Image

import bnnlang
from bnnlang.api import Model, Run
from bnnlang.diagnose.html import render
from bnnlang.diagnose.predictive import input_plane, predict_batched, training_data
from bnnlang.diagnose.report import MAP_SIDE, Report

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "examples" / "data"

SURFACE = """
data {
  x: real[N, 2] from (x1, x2)
  y: real[N]
}
param sigma ~ HalfNormal(0.5)
network mlp(x) -> real[N] {
  dense(8, tanh)
  dense(1)
}
observe y ~ Normal(mlp(x), sigma)
"""


@pytest.fixture(scope="module")
def moons(tmp_path_factory) -> tuple[Run, Report]:
    model = bnnlang.load(ROOT / "examples" / "classification_binary.bnn")
    run = model.run(DATA / "classification_binary.csv", chains=1, warmup=40, samples=40, max_tree_depth=6, seed=3)
    return run, run.report()


@pytest.fixture(scope="module")
def surface(tmp_path_factory) -> tuple[Run, Report]:
    """y = sin(x1) + 0.5 x2 + noise on [-2, 2]^2 with a hole of radius 0.8 in the middle; 1 chain x 30 draws, so
    the maps (<= 200 draws) and `Run.predict` (every draw) read the same draws."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (400, 2))
    x = x[np.hypot(x[:, 0], x[:, 1]) > 0.8][:120]
    y = np.sin(x[:, 0]) + 0.5 * x[:, 1] + 0.1 * rng.standard_normal(len(x))
    model = Model.from_source(SURFACE, "surface.bnn")
    run = model.run({"x": x, "y": y}, chains=1, warmup=40, samples=30, max_tree_depth=5, seed=1)
    return run, run.report()


def _figure_data(report: Report, fid: str) -> dict:
    return json.loads(json.dumps(report.as_json()["figures"][fid]))  # what report.json holds


def _decoded(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_two_moons_report_has_a_probability_map_and_an_epistemic_map(moons) -> None:
    run, report = moons
    ids = {f.id for f in report.figures}
    assert {"map_mean_y", "map_epistemic_y"} <= ids
    for f in report.figures:
        if f.id.startswith("map_"):
            image = _decoded(f.png)
            assert image.shape[0] > 200 and image.shape[1] > 300
            assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50, f"{f.id} is blank"
    mean = _figure_data(report, "map_mean_y")["data"]
    values = np.asarray(mean["values"], dtype=float)
    assert values.shape == (MAP_SIDE, MAP_SIDE) and len(mean["x"]) == len(mean["y"]) == MAP_SIDE
    assert np.all((values >= 0) & (values <= 1)) and values.min() < 0.1 and values.max() > 0.9
    assert (mean["x_label"], mean["y_label"]) == ("x.0", "x.1")  # the CSV's column names
    x = np.asarray(run.idata.constant_data["x"].values)
    span = x[:, 0].max() - x[:, 0].min()
    assert mean["x"][0] == pytest.approx(x[:, 0].min() - 0.1 * span, abs=1e-4)
    page = render(report)  # placed under Predictions, before the predictive checks
    assert page.index('id="fig-map_mean_y"') < page.index('id="fig-ppc_y"')
    assert len(json.dumps(report.as_json()["figures"]["map_epistemic_y"])) < 100_000


def test_mutual_information_is_larger_far_from_the_training_inputs(moons) -> None:
    """The property the epistemic map exists to show: the posterior disagrees where there are no data."""
    run, report = moons
    data = _figure_data(report, "map_epistemic_y")["data"]
    mi = np.asarray(data["values"], dtype=float)
    assert np.all(mi >= 0)
    gx, gy = np.meshgrid(data["x"], data["y"])  # values[i, j] is at (x[j], y[i])
    points = np.stack([gx.ravel(), gy.ravel()], axis=1)
    x = np.asarray(run.idata.constant_data["x"].values)
    nearest = np.min(np.linalg.norm(points[:, None, :] - x[None, :, :], axis=-1), axis=1)
    far = mi.ravel()[nearest > np.quantile(nearest, 0.9)].mean()
    near = mi.ravel()[nearest < np.quantile(nearest, 0.1)].mean()
    assert far > 2 * near, f"mutual information far from the data {far:.4f}, near it {near:.4f}"


def test_regression_map_matches_run_predict_and_its_sd_is_not_negative(surface) -> None:
    run, report = surface
    mean = _figure_data(report, "map_mean_y")["data"]
    sd = _figure_data(report, "map_epistemic_y")["data"]
    assert (mean["x_label"], mean["y_label"]) == ("x1", "x2")  # the columns the data block names
    grid_mean, grid_sd = np.asarray(mean["values"], dtype=float), np.asarray(sd["values"], dtype=float)
    assert np.all(grid_sd >= 0) and grid_sd.max() > 0
    at = [(0, 0), (7, 31), (25, 25), (49, 12)]  # (row i, column j): the point (x[j], y[i])
    points = np.array([[mean["x"][j], mean["y"][i]] for i, j in at], dtype=np.float32)
    table = run.predict({"x": points}, max_draws=None)
    np.testing.assert_allclose([grid_mean[i, j] for i, j in at], table["y.mean"], atol=2e-3, rtol=1e-3)
    np.testing.assert_allclose([grid_sd[i, j] for i, j in at], table["y.epistemic_sd"], atol=2e-3, rtol=1e-3)
    assert not any(f.id.startswith("predictive_") for f in report.figures)  # the 1-D figures need one input


def test_grid_predictions_in_batches_join_into_the_whole(surface) -> None:
    """Batching the grid's rows (to bound memory) changes nothing: the same draws, rows joined in order (here two
    batches, of 13 and 12 rows)."""
    run, _ = surface
    checked, module = run.model.checked, run.model.module
    plane = input_plane(checked, training_data(run.idata, run.record.dims))
    _, bound = plane.grid(training_data(run.idata, run.record.dims), 5, 0.1)
    whole = predict_batched(module, checked, run.idata, bound, plane.row_dim, max_draws=200)["y"]
    parts = predict_batched(module, checked, run.idata, bound, plane.row_dim, max_draws=200, max_cells=200 * 13)["y"]
    assert whole.mean.shape == parts.mean.shape == (1, 30, 25)
    np.testing.assert_allclose(parts.mean, whole.mean, rtol=1e-5, atol=1e-6)


def test_a_plane_is_two_real_columns_and_nothing_else(tmp_path) -> None:
    """Two columns of one matrix or two vectors make a plane; one input column, three, or an int input do not."""
    two_vectors = Model.from_source(
        "data { a: real[N]  b: real[N]  y: real[N] }\nparam w ~ Normal(0, 1)\nobserve y ~ Normal(w * a + b, 1)\n"
    )
    rng = np.random.default_rng(0)
    plane = input_plane(two_vectors.checked, two_vectors.data({k: rng.normal(size=9) for k in "aby"}))
    assert plane is not None and plane.labels == ("a", "b") and plane.columns == (("a", None), ("b", None))
    one = bnnlang.load(ROOT / "examples" / "regression_1d.bnn")
    assert input_plane(one.checked, one.data(DATA / "regression_1d.csv")) is None
    three = Model.from_source(LINREG_SOURCE)
    assert input_plane(three.checked, three.data(save_linreg_data(tmp_path / "d.npz"))) is None
    with_int = Model.from_source(
        "data { a: real[N]  g: int[N] in 0..2  y: real[N] }\nparam w[3] ~ Normal(0, 1)\n"
        "observe y ~ Normal(a + w[g], 1)\n"
    )
    bound = with_int.data({"a": rng.normal(size=9), "g": np.arange(9) % 3, "y": rng.normal(size=9)})
    assert input_plane(with_int.checked, bound) is None
