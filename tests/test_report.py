"""`bnnc report`: the verdict, the uncertainty split on the gap example, calibration, strictness, bad input.

The runs are short but real (NUTS and SVI through the API); each is shared by the tests of one module.
"""

from __future__ import annotations

import html
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from models import LINREG_SOURCE, save_linreg_data

import bnnlang
from bnnlang.api import Model, open_run
from bnnlang.cli import main
from bnnlang.diagnose.html import render

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "regression_1d.bnn"
DATA = ROOT / "examples" / "data"
TRUE_NOISE = 0.1  # examples/data/make_data.py: y = sin(3x) + 0.1 noise


@pytest.fixture(scope="module")
def gap_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gap") / "run"
    model = bnnlang.load(EXAMPLE)
    return model.run(DATA / "regression_1d.csv", out=out, chains=2, warmup=150, samples=150, seed=1)


@pytest.fixture(scope="module")
def gap_report(gap_run):
    report = gap_run.report(DATA / "regression_1d_test.csv", DATA / "regression_1d_ood.csv")
    gap_run.write_report(report)
    return report


def test_report_has_psis_loo_of_every_training_point(gap_report) -> None:
    s = gap_report.content["loo"]
    assert s["points"] == 100 and s["k_good"] + s["k_high"] + s["k_very_high"] == 100 and not s["mixture_of_modes"]
    assert np.isfinite(s["elpd_loo"]) and 0 < s["p_loo"] < 100 and s["se"] > 0
    assert "PSIS-LOO" in render(gap_report)


def test_epistemic_variance_grows_in_the_gap_and_aleatoric_stays_at_the_noise(gap_report) -> None:
    grid = gap_report.content["uncertainty"]["y"]["grid"]
    x = np.asarray(grid["x"])
    epistemic = np.asarray(grid["epistemic_sd"]) ** 2
    aleatoric_sd = np.asarray(grid["aleatoric_sd"])
    gap = np.abs(x) < 0.3
    dense = (np.abs(x) > 0.8) & (np.abs(x) < 1.8)  # well inside the data on both sides
    ratio = epistemic[gap].mean() / epistemic[dense].mean()
    assert ratio >= 5, f"epistemic variance in the gap only {ratio:.1f}x that in the data"
    assert np.all(np.abs(aleatoric_sd[dense] - TRUE_NOISE) < 0.03), aleatoric_sd[dense]


def test_held_out_metrics_and_ood_separation(gap_report) -> None:
    test = gap_report.content["test"]["y"]
    assert test["rows"] == 100
    assert test["rmse"] < 0.2  # the noise is 0.1; the gap is not in the test set's x range
    assert test["nlpd"] < 0.0  # a Normal with sd ~0.1 has density > 1 where it is right
    cov = test["coverage"]
    assert 0.75 <= cov["0.9"] <= 1.0 and cov["0.5"] <= cov["0.8"] <= cov["0.9"] <= cov["0.95"]
    assert sum(test["pit_histogram"]) == 100
    # inputs beyond [-2, 2] on both sides are far less certain than the test inputs
    assert gap_report.content["ood"]["y"]["auroc"] > 0.95


def test_report_files_hold_every_figure_and_escape_the_model(gap_run, gap_report) -> None:
    page = (gap_run.path / "report.html").read_text(encoding="utf-8")
    data = json.loads((gap_run.path / "report.json").read_text(encoding="utf-8"))
    ids = {f.id for f in gap_report.figures}
    assert {"predictive_y", "uncertainty_y", "ppc_y", "pit_y", "coverage_y", "ood_y", "trace_sigma"} <= ids
    assert set(data["figures"]) == ids
    assert not any(i.startswith("map_") for i in ids)  # maps need two input columns; this model has one
    assert page.count('<img alt="') == len(ids)
    assert "http://" not in page and "https://" not in page and "<script" not in page  # self-contained
    assert html.escape(data["verdict"]["headline"]) in page
    assert data["convergence"]["function_space"]["y"]["rows"] == 100
    assert set(data["convergence"]["weights"]) >= {"mlp.0.weight", "mlp.2.weight"}
    # the model source is shown, escaped
    assert "import std.priors (neal)" in page and "real[N, 1]" in page


def test_model_and_paths_are_escaped_in_the_html(tmp_path) -> None:
    src = (
        "# <script>alert('model')</script> & <b>bold</b>\n" + LINREG_SOURCE + "infer nuts(warmup = 50, samples = 50)\n"
    )
    data = save_linreg_data(tmp_path / "d<i>&x.npz")
    model = Model.from_source(src, str(tmp_path / "m<b>.bnn"))
    run = model.run(data, out=tmp_path / "run", chains=1)
    page_path, _ = run.write_report(run.report())
    page = page_path.read_text(encoding="utf-8")
    assert "<script>" not in page and "<b>bold" not in page and "<i>&" not in page and "m<b>" not in page
    assert "&lt;script&gt;alert(&#x27;model&#x27;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    assert "d&lt;i&gt;&amp;x.npz" in page


@pytest.fixture(scope="module")
def linreg_data(tmp_path_factory) -> Path:
    return save_linreg_data(tmp_path_factory.mktemp("linreg") / "d.npz")


def _cli_run(model_src: str, data: Path, out: Path, *flags: str) -> Path:
    model_path = out.parent / f"{out.name}.bnn"
    model_path.write_text(model_src, encoding="utf-8")
    assert main(["run", str(model_path), "--data", str(data), "-o", str(out), "-q", *flags]) == 0
    return out


def test_unconverged_run_fails_strict_and_a_good_run_passes(tmp_path, capsys) -> None:
    short = tmp_path / "short"
    assert main(["run", str(EXAMPLE), "--data", str(DATA / "regression_1d.csv"), "-o", str(short), "-q",
                 "--warmup", "20", "--samples", "20", "--max-tree-depth", "5"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["report", str(short), "--strict"]) == 1
    err = capsys.readouterr().err
    assert "verdict: not converged" in err
    assert main(["report", str(short)]) == 0  # without --strict the report is written all the same
    verdict = json.loads((short / "report.json").read_text())["verdict"]
    assert not verdict["ok"] and any(not c["ok"] and c["name"].startswith("r_hat") for c in verdict["checks"])


def test_good_nuts_run_passes_strict(tmp_path, linreg_data, capsys) -> None:
    run = _cli_run(
        LINREG_SOURCE, linreg_data, tmp_path / "good", "--chains", "2", "--warmup", "500", "--samples", "1000"
    )
    capsys.readouterr()
    assert main(["report", str(run), "--strict"]) == 0, capsys.readouterr().err
    verdict = json.loads((run / "report.json").read_text())["verdict"]
    names = {c["name"] for c in verdict["checks"]}
    assert {"r_hat: predictions of y", "ess_tail: log-likelihood", "divergences"} <= names
    figures = json.loads((run / "report.json").read_text())["figures"]
    assert figures and not any(i.startswith("map_") for i in figures)  # three input columns: no maps
    # the same run fails a threshold set above what it reached
    assert main(["report", str(run), "--strict", "--min-ess-per-chain", "100000"]) == 1


def test_svi_verdict_reads_the_loss(tmp_path, linreg_data, capsys) -> None:
    src = LINREG_SOURCE + "infer svi(guide = normal)\n"
    # a small learning rate: after 400 steps the loss is still on its way down
    short = _cli_run(src, linreg_data, tmp_path / "svi_short", "--steps", "400", "--lr", "0.0005")
    long = _cli_run(src, linreg_data, tmp_path / "svi_long", "--steps", "6000", "--lr", "0.002")
    assert main(["report", str(short), "--strict"]) == 1
    assert main(["report", str(long), "--strict"]) == 0
    data = json.loads((long / "report.json").read_text())
    computation = [c["name"] for c in data["verdict"]["checks"] if c["kind"] == "computation"]
    assert computation == ["elbo"]
    assert data["verdict"]["headline"].endswith("Fits: all 2 fit checks passed")  # calibration and accuracy
    assert len(data["figures"]["loss"]["data"]["values"]) == 6000
    # the short run's guide is still far from the data: the fit checks say so beside the loss
    short_verdict = json.loads((short / "report.json").read_text())["verdict"]
    assert "loss still falls" in short_verdict["headline"] and "Poor fit" in short_verdict["headline"]


def test_bad_run_directories_exit_2(tmp_path, gap_run, capsys) -> None:
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    broken = tmp_path / "broken"
    shutil.copytree(gap_run.path, broken)
    (broken / "posterior.nc").unlink()
    assert main(["report", str(broken)]) == 2
    assert "posterior.nc missing" in capsys.readouterr().err
    old = tmp_path / "old"
    shutil.copytree(gap_run.path, old)
    record = json.loads((old / "settings.json").read_text())
    (old / "settings.json").write_text(json.dumps({**record, "format_version": 0}))
    assert main(["report", str(old)]) == 2
    assert "another version of bnnlang" in capsys.readouterr().err


def test_test_file_that_does_not_match_the_model_exits_2(tmp_path, gap_run, capsys) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("z,y\n0.1,0.2\n0.3,0.4\n")
    before = sorted(p.name for p in gap_run.path.iterdir())
    (gap_run.path / "report.html").unlink(missing_ok=True)
    assert main(["report", str(gap_run.path), "--test", str(wrong)]) == 2
    err = capsys.readouterr().err
    assert "wrong.csv" in err and "x" in err and "Traceback" not in err
    assert not (gap_run.path / "report.html").exists()  # nothing written on refusal
    assert main(["report", str(gap_run.path), "--ood", str(tmp_path / "missing.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["report", str(gap_run.path), "--rhat-max", "0"]) == 2
    assert sorted(p.name for p in gap_run.path.iterdir()) == [n for n in before if n != "report.html"]


def test_sghmc_report_judges_predictions_and_log_likelihood(tmp_path, linreg_data, capsys) -> None:
    src = LINREG_SOURCE + "infer sghmc(chains = 2, warmup = 1000, samples = 1000)\n"
    run = _cli_run(src, linreg_data, tmp_path / "sghmc")
    assert main(["report", str(run), "-q"]) == 0
    data = json.loads((run / "report.json").read_text())
    names = {c["name"] for c in data["verdict"]["checks"]}
    assert {"r_hat: predictions of y", "r_hat: log-likelihood", "ess_bulk: log-likelihood"} <= names
    assert "divergences" not in names  # a NUTS notion
    trace = np.asarray(data["figures"]["log_likelihood_trace"]["data"]["values"])
    assert trace.shape == (2, 1000)
    # the trace is the sum of the stored per-row log-likelihoods, draw by draw
    idata = open_run(run).idata
    assert np.allclose(trace, idata.log_likelihood["y"].values.sum(axis=-1), atol=1e-3)


def test_a_fit_checks_numbers_read_side_by_side_not_as_a_python_dict() -> None:
    """The accuracy and calibration checks hold several numbers (the model's, k-NN's); the verdict table lists
    them by name, escaped, instead of printing a dict."""
    from bnnlang.diagnose.html_parts import table

    out = table(["value"], [[{"model": 0.8871, "k<nn": 0.98}]])
    assert "model 0.887, k&lt;nn 0.980" in out and "{" not in out and "'" not in out
