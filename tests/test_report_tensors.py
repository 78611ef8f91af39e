"""The report of image and sequence models (issue 22): views over input columns skipped with a reason, and a
reliability diagram and an OOD histogram whose numbers match an independent computation.

A tiny 2-D CNN, fitted briefly by SVI on 120 of the shipped 8x8 digits, is reported through the CLI with --test and
--ood NPZ files; a small tabular classifier, reported without them, has its reliability diagram on the training
rows. The independent numbers come from the run's predictive draws (`Run.predictive_draws`) and a few lines of
NumPy here, not from `diagnose.metrics`. Sequence and token inputs are checked on the views alone (no run: a conv
model's XLA compilations cost most of this file's time).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pytest

from bnnlang.api import Model, open_run
from bnnlang.cli import main
from bnnlang.diagnose import views

IMAGES = Path(__file__).resolve().parent.parent / "examples" / "data" / "images"
INFER = "infer svi(steps = 300, samples = 30, map_steps = 50)\n"  # map_steps: its conv layers' MAP start
DIGITS = (
    "import std.priors (neal)\n"
    "data {\n  x: real[N, 8, 8, 1]\n  y: int[N] in 0..9\n}\n"
    "network cnn(x) -> real[N, 10] {\n  default weight ~ neal()\n"
    "  conv2d(4, 3, relu)\n  maxpool(2)\n  globalavgpool\n  dense(10)\n}\n"
    "observe y ~ Categorical(logits = cnn(x))\n" + INFER
)
SEQUENCES = (
    "import std.priors (neal)\n"
    "data {\n  x: real[N, 40, 1]\n  y: int[N] in 0..9\n}\n"
    "network net(x) -> real[N, 10] {\n  default weight ~ neal()\n"
    "  conv1d(4, 5, relu)\n  maxpool(2)\n  globalavgpool\n  dense(10)\n}\n"
    "observe y ~ Categorical(logits = net(x))\n"
)
TABULAR = (
    "import std.priors (neal)\n"
    "data {\n  x: real[N, 2]\n  y: int[N] in 0..2\n}\n"
    "network net(x) -> real[N, 3] {\n  default weight ~ neal()\n  dense(8, tanh)\n  dense(3)\n}\n"
    "observe y ~ Categorical(logits = net(x))\n" + INFER
)
COLUMN_VIEWS = {"predictive_1d", "maps", "relevance", "prior_functions"}
COLUMN_FIGURES = ("predictive_", "uncertainty_", "map_", "prior_functions_")


def _rows(source: str, target: Path, n: int) -> Path:
    """The first n rows of a shipped NPZ file, as a new one."""
    with np.load(IMAGES / source, allow_pickle=False) as z:
        np.savez(target, **{k: z[k][:n] for k in z.files})
    return target


def _probs(run, data: Path) -> np.ndarray:
    """Class probabilities per draw [S, rows, K], from the run's own predictive draws (not the report's code)."""
    return np.asarray(run.predictive_draws(str(data), max_draws=None)["y"]["probs"], dtype=float)


def _mutual_information(probs: np.ndarray) -> np.ndarray:
    def entropy(p):
        p = np.clip(p, 1e-12, 1.0)
        return -(p * np.log(p)).sum(axis=-1)

    return np.maximum(entropy(probs.mean(axis=0)) - entropy(probs).mean(axis=0), 0.0)


def _bins(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> tuple[np.ndarray, float]:
    """Rows per confidence bin and the ECE, by a plain loop over bins."""
    index = np.minimum((confidence * bins).astype(int), bins - 1)
    counts, ece = np.zeros(bins, int), 0.0
    for b in range(bins):
        inside = index == b
        counts[b] = inside.sum()
        if counts[b]:
            ece += counts[b] / len(confidence) * abs(correct[inside].mean() - confidence[inside].mean())
    return counts, ece


def _auroc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """P(a positive scores above a negative), ties counting 1/2, over every pair."""
    diff = positives[:, None] - negatives[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """A tiny CNN on 120 digits, reported with 60 held-out digits and 40 noise images."""
    tmp = tmp_path_factory.mktemp("digits")
    (tmp / "cnn.bnn").write_text(DIGITS, encoding="utf-8")
    train = _rows("digits_train.npz", tmp / "train.npz", 120)
    test = _rows("digits_test.npz", tmp / "test.npz", 60)
    ood = _rows("digits_ood_noise.npz", tmp / "ood.npz", 40)
    out = tmp / "run"
    assert main(["run", str(tmp / "cnn.bnn"), "--data", str(train), "-o", str(out), "-q"]) == 0
    assert main(["report", str(out), "--test", str(test), "--ood", str(ood), "-q"]) == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    page = (out / "report.html").read_text(encoding="utf-8")
    return open_run(out), report, page, test, ood


def test_image_report_has_reliability_and_ood_and_no_column_views(digits) -> None:
    _, report, page, _, _ = digits
    figures = report["figures"]
    assert {"reliability_y", "ood_y", "ppc_y", "loss"} <= set(figures)
    assert not [f for f in figures if f.startswith(COLUMN_FIGURES)]
    assert report["relevance"] is None
    assert page.count("<img ") == len(figures)
    assert "Reliability diagram: y (held out)" in page and "Out-of-distribution: mutual information of y" in page


def test_image_report_says_which_views_are_skipped_and_why(digits) -> None:
    _, report, page, _, _ = digits
    skipped = {s["view"]: s["reason"] for s in report["skipped_views"]}
    assert set(skipped) == COLUMN_VIEWS  # the OOD histogram was drawn: not skipped
    for reason in skipped.values():
        assert "x: real[N, 8, 8, 1]" in reason and "an array of shape [8, 8, 1]" in reason
    assert 'id="skipped-views"' in page and "Not shown for this model" in page
    assert html.escape(skipped["maps"]) in page
    for s in report["skipped_views"]:
        assert html.escape(s["title"]) in page


def test_held_out_reliability_matches_an_independent_computation(digits) -> None:
    run, report, _, test, _ = digits
    with np.load(test) as z:
        labels = z["y"]
    probs = _probs(run, test).mean(axis=0)
    confidence, correct = probs.max(axis=1), (probs.argmax(axis=1) == labels).astype(float)
    counts, ece = _bins(confidence, correct)
    rel = report["reliability"]["y"]
    assert rel["inputs"] == "held-out inputs" and rel["rows"] == len(labels) == 60
    assert [int(c) for c in rel["bins"]["count"]] == counts.tolist()
    assert rel["ece"] == pytest.approx(ece, abs=1e-5)
    assert rel["ece"] == report["test"]["y"]["ece"] and rel["accuracy"] == pytest.approx(correct.mean(), abs=1e-6)
    np.testing.assert_allclose(rel["row_confidence"], confidence, atol=1e-5)
    assert rel["row_predicted"] == probs.argmax(axis=1).tolist()
    fig = report["figures"]["reliability_y"]
    assert fig["data"]["count"] == rel["bins"]["count"] and fig["data"]["ece"] == rel["ece"]
    assert f"ECE {ece:.3f}" in fig["caption"] and ", ".join(str(c) for c in counts) in fig["caption"]


def test_ood_auroc_matches_an_independent_computation(digits) -> None:
    run, report, _, test, ood = digits
    inside, outside = _mutual_information(_probs(run, test)), _mutual_information(_probs(run, ood))
    auroc = _auroc(inside, outside)
    o = report["ood"]["y"]
    assert o["score"] == "mutual information" and o["reference"] == "held-out inputs"
    assert (o["rows_reference"], o["rows_ood"]) == (60, 40)
    assert o["auroc"] == pytest.approx(auroc, abs=1e-3)  # the report's scores are float32; ties may fall apart
    data = report["figures"]["ood_y"]["data"]
    np.testing.assert_allclose(data["reference"], inside, atol=1e-5)
    np.testing.assert_allclose(data["ood"], outside, atol=1e-5)
    assert _auroc(np.asarray(data["reference"]), np.asarray(data["ood"])) == pytest.approx(o["auroc"], abs=1e-6)
    assert f"AUROC {o['auroc']:.3f}" in report["figures"]["ood_y"]["caption"]


def test_tabular_classifier_without_test_data_is_calibrated_on_the_training_rows(tmp_path) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(90, 2)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64)
    np.savez(tmp_path / "train.npz", x=x, y=y)
    run = Model.from_source(TABULAR).run(str(tmp_path / "train.npz"))
    report = run.report()
    content = report.as_json()
    ids = set(content["figures"])
    assert {"reliability_y", "map_mean_y"} <= ids and "ood_y" not in ids and "test" not in content
    skipped = {s["view"]: s["reason"] for s in content["skipped_views"]}
    assert set(skipped) == {"predictive_1d", "prior_functions", "ood"} and "--ood" in skipped["ood"]
    assert "this model has 2 (x[0], x[1])" in skipped["predictive_1d"]

    probs = _probs(run, tmp_path / "train.npz").mean(axis=0)
    confidence, correct = probs.max(axis=1), (probs.argmax(axis=1) == y).astype(float)
    counts, ece = _bins(confidence, correct)
    rel = content["reliability"]["y"]
    assert rel["inputs"] == "training inputs" and rel["rows"] == 90
    assert [int(c) for c in rel["bins"]["count"]] == counts.tolist()
    assert rel["ece"] == pytest.approx(ece, abs=1e-5)
    fig = content["figures"]["reliability_y"]
    assert fig["title"] == "Reliability diagram: y (training data)" and "In-sample" in fig["caption"]

    from bnnlang.diagnose.html import render

    page = render(report)
    assert "Calibration on the training data" in page and page.count("<img ") == len(ids)


def _checked(source: str):
    return Model.from_source(source).checked


def test_token_inputs_are_no_columns() -> None:
    src = (
        "import std.priors (neal)\n"
        "data {\n  t: int[N, 6] in 0..9\n  y: int[N] in 0..1\n}\n"
        "network net(t) -> real[N] {\n  default weight ~ neal()\n  embedding(10, 4)\n  globalavgpool\n  dense(1)\n}\n"
        "observe y ~ Bernoulli(logits = net(t))\n"
    )
    checked = _checked(src)
    rng = np.random.default_rng(0)
    train = Model.from_source(src).data({"t": rng.integers(0, 10, (20, 6)), "y": rng.integers(0, 2, 20)})
    lay = views.layout(checked, train)
    assert lay.columns == [] and "t: int[N, 6] holds integer ids" in lay.not_columns[0]
    skipped = views.skipped(checked, train, ["ppc_y", "reliability_y"], None, True, True)
    assert {s["view"] for s in skipped} == COLUMN_VIEWS
    assert all("t: int[N, 6]" in s["reason"] for s in skipped)
    assert views.one_input(checked) is None


def test_tabular_views_say_how_many_columns_there_are() -> None:
    src = (
        "import std.priors (neal)\n"
        "data {\n  x: real[N, 3]\n  y: real[N]\n}\n"
        "network net(x) -> real[N] {\n  default weight ~ neal()\n  dense(8, tanh)\n  dense(1)\n}\n"
        "observe y ~ Normal(net(x), 0.1)\n"
    )
    model = Model.from_source(src)
    rng = np.random.default_rng(0)
    train = model.data({"x": rng.normal(size=(20, 3)), "y": rng.normal(size=20)})
    skipped = views.skipped(model.checked, train, ["ppc_y"], {"y": []}, True, True)
    reasons = {s["view"]: s["reason"] for s in skipped}
    assert set(reasons) == {"predictive_1d", "maps", "prior_functions"}  # relevance was computed
    assert reasons["predictive_1d"].startswith("it needs exactly one real input column(s)")
    assert "this model has 3 (x[0], x[1], x[2])" in reasons["maps"]


def test_sequence_inputs_are_no_columns(tmp_path) -> None:
    model = Model.from_source(SEQUENCES)
    train = model.data(str(_rows("mnist1d_train.npz", tmp_path / "train.npz", 20)))
    skipped = views.skipped(model.checked, train, ["ppc_y", "reliability_y", "ood_y"], None, True, True)
    assert {s["view"] for s in skipped} == COLUMN_VIEWS
    assert all("x: real[N, 40, 1] gives each row an array of shape [40, 1]" in s["reason"] for s in skipped)


def test_predict_on_images_writes_predictions_without_the_images(digits, tmp_path) -> None:
    """`bnnc predict` has no columns for an image per row: its table holds the predictions only."""
    run, _, _, test, _ = digits
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(run.path), "--data", str(test), "-o", str(out), "-q"]) == 0
    header, *rows = out.read_text(encoding="utf-8").splitlines()
    assert len(rows) == 60
    assert not any(col.startswith("x") for col in header.split(","))
    names = header.split(",")
    for row in rows:
        values = dict(zip(names, (float(v) for v in row.split(",")), strict=True))
        assert abs(sum(values[f"y.p{k}"] for k in range(10)) - 1) < 1e-4
        assert values["y.pred"] == max(range(10), key=lambda k: values[f"y.p{k}"])
