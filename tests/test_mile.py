"""MILE and ensemble starts: closed-form agreement, determinism, the gradient budget, bad input, the report."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest
from models import (
    LINREG_SOURCE,
    linreg_draws,
    linreg_posterior,
    mlp_1d_source,
    record_mcmc_inits,
    save_linreg_data,
    sin_data,
    write_xy_csv,
)

from bnnlang.api import Model
from bnnlang.cli import main
from bnnlang.errors import BnnError
from bnnlang.infer.backends.mile import gradient_budget

FAST = {"map_steps": 1500, "warmup": 400, "samples": 400, "thinning": 5}


@pytest.fixture(scope="module")
def linreg_data(tmp_path_factory):
    return save_linreg_data(tmp_path_factory.mktemp("mile") / "d.npz")


@pytest.fixture(scope="module")
def linreg_run(linreg_data):
    return Model.from_source(LINREG_SOURCE).run(linreg_data, backend="mile", chains=2, seed=3, **FAST)


def test_mile_matches_the_closed_form_posterior(linreg_run, linreg_data) -> None:
    data = np.load(linreg_data)
    mean, cov = linreg_posterior(data["x"], data["y"])
    draws = linreg_draws(linreg_run.idata).reshape(-1, mean.size)
    sd = np.sqrt(np.diag(cov))
    # no accept/reject: MCLMC is biased by its step size, tuned to a small energy error; 800 draws
    assert np.all(np.abs(draws.mean(axis=0) - mean) < 0.25 * sd), (draws.mean(axis=0), mean)
    assert np.all(np.abs(draws.std(axis=0) / sd - 1) < 0.2), (draws.std(axis=0), sd)


def test_mile_records_its_budget_and_tuning(linreg_run) -> None:
    info = linreg_run.summary["run"]
    s = {**FAST}
    assert info["gradient_budget"] == gradient_budget(s, 2)
    assert info["gradient_budget"]["sampling"] == 2 * (400 + 400 * 5)
    assert len(info["L"]) == 2 and all(v > 0 for v in info["L"] + info["step_size"])
    assert linreg_run.idata.posterior.sizes["chain"] == 2 and linreg_run.idata.posterior.sizes["draw"] == 400


def test_same_seed_same_draws(linreg_run, linreg_data) -> None:
    again = Model.from_source(LINREG_SOURCE).run(linreg_data, backend="mile", chains=2, seed=3, **FAST)
    np.testing.assert_array_equal(linreg_draws(again.idata), linreg_draws(linreg_run.idata))
    other = Model.from_source(LINREG_SOURCE).run(linreg_data, backend="mile", chains=2, seed=4, **FAST)
    assert not np.allclose(linreg_draws(other.idata), linreg_draws(linreg_run.idata))


def test_mile_report_judges_members_one_by_one(tmp_path, capsys) -> None:
    x, y = sin_data(80, seed=2)
    data = write_xy_csv(tmp_path / "d.csv", x, y)
    src = tmp_path / "m.bnn"
    src.write_text(mlp_1d_source("infer mile(chains = 2, map_steps = 1500, warmup = 300, samples = 200)"))
    assert main(["run", str(src), "--data", str(data), "-o", str(tmp_path / "run"), "-q"]) == 0
    assert main(["report", str(tmp_path / "run"), "-q"]) == 0
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    fs = report["convergence"]["function_space"]["y"]
    assert report["convergence"]["within_members"] is True and fs["within"] == "members"
    assert 0.0 <= fs["between_member_share"] <= 1.0 and fs["pooled_max_r_hat"] is not None
    assert "deep-ensemble member" in report["verdict"]["note"]
    assert report["run"]["info"]["members"] == 2


def test_nuts_chains_start_at_the_ensemble_members(linreg_data, monkeypatch) -> None:

    from bnnlang.infer.backends import nuts
    from bnnlang.infer.starts import fit_ensemble

    seen = record_mcmc_inits(monkeypatch)
    model = Model.from_source(LINREG_SOURCE)
    run = model.run(linreg_data, chains=1, warmup=50, samples=50, init="ensemble", map_steps=300, seed=5)
    assert run.summary["run"]["ensemble"]["members"] == 1
    problem = model.problem(model.data(linreg_data))
    ens = fit_ensemble(problem, 1, jax.random.fold_in(jax.random.PRNGKey(5), nuts.KEY_ENSEMBLE), 300, holdout=0.1)
    expected = ens.unravel(ens.positions[0])
    assert set(seen[0]) == set(expected)
    for k in expected:
        np.testing.assert_allclose(np.asarray(seen[0][k]), np.asarray(expected[k]), rtol=1e-5, atol=1e-6)


def test_bad_settings_and_failures_are_refused(linreg_data, tmp_path, capsys) -> None:
    src = tmp_path / "m.bnn"
    src.write_text(LINREG_SOURCE)
    base = ["run", str(src), "--data", str(linreg_data), "--backend", "mile", "-o", str(tmp_path / "r"), "-q"]
    assert main([*base, "--chains", "0"]) == 2
    assert "chains" in capsys.readouterr().err
    assert main([*base, "--warmup", "10"]) == 2  # too few steps to tune step size and L
    assert "warmup" in capsys.readouterr().err
    assert main([*base, "--set", "holdout=0.9"]) == 2
    assert not (tmp_path / "r").exists()
    with pytest.raises(BnnError, match="member"):  # an ensemble that blows up names the member and step
        Model.from_source(LINREG_SOURCE).run(linreg_data, backend="mile", chains=2, lr=1e25, map_steps=50)


def test_mile_on_the_gap_example_is_uncertain_in_the_gap(tmp_path) -> None:
    """CI-sized version of benchmarks/mile_1d.py: sound predictions, and the gap stays uncertain."""
    root = Path(__file__).resolve().parent.parent
    model = Model.from_file(root / "examples" / "regression_1d.bnn")
    data = root / "examples" / "data"
    run = model.run(data / "regression_1d.csv", backend="mile", chains=2, map_steps=4000, samples=300, thinning=5)
    lpd = run.log_predictive_density(data / "regression_1d_test.csv")["y"]
    assert lpd.mean() > 0.7  # NUTS reaches 0.83 on these 100 rows (noise sd 0.1: a perfect fit gives 0.88)
    report = run.report()
    grid = report.content["uncertainty"]["y"]["grid"]
    x, epistemic = np.asarray(grid["x"]), np.asarray(grid["epistemic_sd"]) ** 2
    ratio = epistemic[np.abs(x) < 0.3].mean() / epistemic[(np.abs(x) > 0.8) & (np.abs(x) < 1.8)].mean()
    assert ratio >= 5, ratio


def test_a_collapsed_tuning_is_refused_naming_the_member() -> None:
    from bnnlang.infer.backends.mile import check_tuning

    check_tuning([0, 1], np.array([0.2, 0.3]), np.array([5.0, 6.0]), 1000)  # healthy: no error
    with pytest.raises(BnnError, match="member 7 collapsed.*step size 0"):
        check_tuning([3, 7], np.array([0.2, 0.0]), np.array([5.0, 6.0]), 1000)
    with pytest.raises(BnnError, match="member 3"):
        check_tuning([3, 7], np.array([np.nan, 0.1]), np.array([5.0, 6.0]), 1000)


def test_sghmc_chains_start_at_the_ensemble_members(linreg_data, monkeypatch) -> None:
    """init = ensemble for SG-HMC: with no warmup and a negligible step, the first draws are the members."""
    from bnnlang.infer.backends import sghmc

    fits = []
    real = sghmc.ensemble_from_settings

    def spy(*args, **kwargs):
        fits.append(real(*args, **kwargs))
        return fits[-1]

    monkeypatch.setattr(sghmc, "ensemble_from_settings", spy)
    model = Model.from_source(LINREG_SOURCE)
    settings = {"warmup": 0, "samples": 1, "thinning": 1, "leapfrog": 1, "step_size": 1e-12, "friction": 0.1}
    run = model.run(linreg_data, backend="sghmc", chains=2, init="ensemble", map_steps=300, seed=4, **settings)
    (ens,) = fits
    assert ens.info["members"] == 2 and ens.info["start"] == "fan_in"
    for c in range(2):
        expected = ens.params(c)
        got = run.idata.posterior["lin.0.weight"].values[c, 0]
        np.testing.assert_allclose(got, np.asarray(expected["lin.0.weight"]), atol=1e-4)
    assert not np.allclose(ens.positions[0], ens.positions[1])  # two members, two starts
