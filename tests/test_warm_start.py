"""Warm starts (`Model.run(data, init=previous)`, `bnnc run --init-from RUN`): a run that starts from a previous
run's posterior, with a short warmup (docs/inference.md, "Warm starts").

Each test can fail: the closed-form posteriors are those of all the rows (a warm run that kept the previous data, or
stayed where it started, misses them), the starts are compared with the previous run's last draws value for value,
and the refusals name what differs.
"""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from models import LINREG_SOURCE, linreg_draws, linreg_posterior, record_mcmc_inits, save_linreg_data

from bnnlang.api import Model
from bnnlang.check.settings import warm_warmup
from bnnlang.cli import main
from bnnlang.errors import BnnError
from bnnlang.infer.backends import nuts

NORMAL_MEAN = """
data {
  y: real[N]
}
param mu ~ Normal(0, 1)
observe y ~ Normal(mu, 1)
"""
LOCATION_SCALE = """
data {
  y: real[N]
}
param mu ~ Normal(0, 10)
param s ~ HalfNormal(2)
observe y ~ Normal(mu, s)
"""
TINY = {"chains": 2, "warmup": 30, "samples": 30}


def normal_mean_posterior(y: np.ndarray) -> tuple[float, float]:
    """mu | y under mu ~ Normal(0, 1), y_i ~ Normal(mu, 1): Normal(sum(y) / (n + 1), 1 / sqrt(n + 1))."""
    return float(y.sum() / (len(y) + 1)), float(1 / np.sqrt(len(y) + 1))


@pytest.fixture(scope="module")
def rows() -> np.ndarray:
    return np.random.default_rng(11).normal(1.0, 1.0, 60)


@pytest.fixture(scope="module")
def first(rows):
    """A cold NUTS run on the first 20 rows."""
    return Model.from_source(NORMAL_MEAN).run({"y": rows[:20]}, chains=2, warmup=300, samples=500, seed=0)


def test_a_warm_update_matches_the_closed_form_of_all_rows(first, rows) -> None:
    update = Model.from_source(NORMAL_MEAN).run({"y": rows}, init=first, chains=2, samples=500, seed=1)
    assert update.record.settings["warmup"] == warm_warmup("nuts") < 500  # the short warmup
    info = update.summary["run"]["warm_start"]
    assert info["chains_from"] == [0, 1] and info["step_size"] == "previous run's"
    assert update.record.warm_start["backend"] == "nuts" and update.record.warm_start["from"] is None
    assert update.record.warm_start["digest"] in info["from"]  # an in-memory run is named by its draws' digest
    mean, sd = normal_mean_posterior(rows)
    old_mean, old_sd = normal_mean_posterior(rows[:20])
    assert abs(sd - old_sd) > 0.08  # the check below tells the two posteriors apart
    draws = update.idata.posterior["mu"].values.ravel()
    ess = update.summary["scalars"]["mu"]["ess_bulk"]
    assert ess > 200, ess
    assert abs(draws.mean() - mean) < 4 * sd / np.sqrt(ess), (draws.mean(), mean)
    assert abs(draws.std() / sd - 1) < 4 / np.sqrt(2 * ess), (draws.std(), sd)


def test_chains_start_at_the_previous_chains_last_draws(monkeypatch, rows) -> None:
    """Chain c starts at the last draw of previous chain c mod 2, on the unconstrained scale (s through its log), with
    that chain's step size; after one transition it is still near there, where a cold start is far away."""

    y = 5.0 + 0.5 * rows  # far from the uniform starts in (-0.5, 0.5): mu ~ 5.5, s ~ 0.5
    model = Model.from_source(LOCATION_SCALE)
    previous = model.run({"y": y[:30]}, chains=2, warmup=200, samples=100, seed=3)
    seen = record_mcmc_inits(monkeypatch)
    warm = model.run({"y": y}, init=previous, chains=3, warmup=0, samples=1, seed=4)
    last = {k: previous.idata.posterior[k].values[:, -1] for k in ("mu", "s")}
    steps = previous.idata.sample_stats["step_size"].values[:, -1]
    assert len(seen) == 3  # one device: one MCMC call per chain
    for c, start in enumerate(seen):
        np.testing.assert_allclose(float(start.z["mu"]), last["mu"][c % 2], rtol=1e-6)
        np.testing.assert_allclose(float(start.z["s"]), np.log(last["s"][c % 2]), rtol=1e-5)
        np.testing.assert_allclose(float(start.step_size), steps[c % 2], rtol=1e-6)
        assert start.inverse_mass_matrix.shape == (2,) and np.all(start.inverse_mass_matrix > 0)
    first_mu = warm.idata.posterior["mu"].values[:, 0]
    assert np.all(np.abs(first_mu - last["mu"][[0, 1, 0]]) < 0.5), (first_mu, last["mu"])
    cold = model.run({"y": y}, chains=3, warmup=0, samples=1, seed=4)
    assert np.all(np.abs(cold.idata.posterior["mu"].values[:, 0] - 5.5) > 1.0)  # the check above is not vacuous


def test_a_run_of_another_model_is_refused(first, rows, tmp_path) -> None:
    other_sites = Model.from_source(LOCATION_SCALE)
    with pytest.raises(BnnError, match=r"another model: it has no `s`") as err:
        other_sites.run({"y": rows}, init=first, **TINY)
    assert "same model" in (err.value.hint or "")
    wider = Model.from_source(
        NORMAL_MEAN.replace("y: real[N]", "y: real[N]\n  K = 2").replace("mu ~", "mu[K] ~").replace("(mu,", "(mu[0],")
    )
    with pytest.raises(BnnError, match=r"`mu` has shape \[\] there and \[2\] here"):
        wider.run({"y": rows}, init=first, **TINY)
    # same sites and shapes, another support: mu's draws include negative values, which HalfNormal rules out
    positive = Model.from_source(NORMAL_MEAN.replace("mu ~ Normal(0, 1)", "mu ~ HalfNormal(1)"))
    negative = Model.from_source(NORMAL_MEAN).run({"y": -rows[:20]}, **TINY)
    with pytest.raises(BnnError, match=r"draws of `mu` in the previous run \(in memory, draws \w+\) lie outside"):
        positive.run({"y": rows}, init=negative, **TINY)
    with pytest.raises(BnnError, match=r"sghmc cannot start from a previous run") as err:
        Model.from_source(NORMAL_MEAN).run({"y": rows}, init=first, backend="sghmc")
    assert "nuts and mile" in (err.value.hint or "")
    # from a run directory, through the CLI: located at the folder, exit 2, no traceback
    folder = tmp_path / "first"
    Model.from_source(NORMAL_MEAN).run({"y": rows[:20]}, out=folder, **TINY)
    src = tmp_path / "other.bnn"
    src.write_text(LOCATION_SCALE)
    data = tmp_path / "d.csv"
    data.write_text("y\n" + "".join(f"{v:.5f}\n" for v in rows))
    argv = ["run", str(src), "--data", str(data), "--init-from", str(folder), "-o", str(tmp_path / "x"), "-q"]
    assert main(argv) == 2


def test_cli_init_from_end_to_end(tmp_path, rows, capsys) -> None:
    src = tmp_path / "m.bnn"
    src.write_text(NORMAL_MEAN + "infer nuts(chains = 2, warmup = 200, samples = 200)\n")
    for name, n in (("d20.csv", 20), ("d60.csv", 60)):
        (tmp_path / name).write_text("y\n" + "".join(f"{v:.5f}\n" for v in rows[:n]))
    first, update = tmp_path / "first", tmp_path / "update"
    assert main(["run", str(src), "--data", str(tmp_path / "d20.csv"), "-o", str(first), "-q"]) == 0
    argv = ["run", str(src), "--data", str(tmp_path / "d60.csv"), "--init-from", str(first), "-o", str(update)]
    assert main(argv) == 0
    assert f"starting from {first}" in capsys.readouterr().err
    settings = json.loads((update / "settings.json").read_text())
    assert settings["warm_start"]["from"] == str(first) and settings["warm_start"]["backend"] == "nuts"
    assert settings["settings"]["warmup"] == warm_warmup("nuts")  # the model's 200 sizes a cold run
    summary = json.loads((update / "summary.json").read_text())
    assert summary["run"]["warm_start"]["from"] == str(first)
    mean, sd = normal_mean_posterior(rows)
    assert abs(summary["scalars"]["mu"]["mean"] - mean) < 0.25 * sd
    # an explicit warmup is kept; --init-from and --set init=... together are refused
    again = ["run", str(src), "--data", str(tmp_path / "d60.csv"), "--init-from", str(first), "-q"]
    assert main([*again, "-o", str(tmp_path / "u2"), "--warmup", "40"]) == 0
    assert json.loads((tmp_path / "u2" / "settings.json").read_text())["settings"]["warmup"] == 40
    assert main([*again, "-o", str(tmp_path / "u3"), "--set", "init=ensemble"]) == 2
    assert "--init-from" in capsys.readouterr().err
    assert main(["run", str(src), "--data", str(tmp_path / "d60.csv"), "--init-from", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_second_warm_start_reuses_the_compiled_sampler(first, rows) -> None:
    """Start, mass matrix and step size are values in the chains' state, not constants of the compiled loop: a warm
    start on data of the same shapes runs the kept sampler and draws what a fresh sampler draws."""
    traced: list[str] = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda name, _secs, **kw: traced.append(kw.get("fun_name", "")) if name.endswith("trace_duration") else None
    )
    model = Model.from_source(NORMAL_MEAN)
    nuts._samplers.clear()
    model.run({"y": rows}, init=first, chains=2, samples=200, seed=5)
    before = len(traced)
    kept = model.run({"y": rows}, init=first, chains=2, samples=200, seed=6)
    assert len(traced) - before <= 2 and "_body_fn" not in traced[before:], traced[before:]
    assert len(nuts._samplers) == 1
    nuts._samplers.clear()
    before = len(traced)
    fresh = model.run({"y": rows}, init=first, chains=2, samples=200, seed=6)
    assert "_body_fn" in traced[before:]  # the check above is not vacuous
    np.testing.assert_array_equal(kept.idata.posterior["mu"].values, fresh.idata.posterior["mu"].values)


def test_mile_warm_start_skips_the_ensemble_and_matches_the_closed_form(tmp_path) -> None:
    data = np.load(save_linreg_data(tmp_path / "d.npz"))
    x, y = data["x"], data["y"]
    fast = {"backend": "mile", "chains": 2, "samples": 400, "thinning": 5}
    model = Model.from_source(LINREG_SOURCE)
    previous = model.run({"x": x[:30], "y": y[:30]}, map_steps=1500, warmup=400, seed=3, **fast)
    update = model.run({"x": x, "y": y}, init=previous, seed=4, **fast)
    run = update.summary["run"]
    assert run["ensemble"] is None and update.timings["ensemble_s"] == 0.0
    assert run["gradient_budget"]["ensemble"] == 0
    assert run["warm_start"]["step_size"] == "previous run's" and run["warm_start"]["previous_backend"] == "mile"
    assert update.record.settings["warmup"] == warm_warmup("mile")
    mean, cov = linreg_posterior(x, y)
    old_mean, _ = linreg_posterior(x[:30], y[:30])
    sd = np.sqrt(np.diag(cov))
    assert np.max(np.abs(old_mean - mean) / sd) > 0.5  # the previous posterior is not the answer
    draws = linreg_draws(update.idata).reshape(-1, mean.size)
    assert np.all(np.abs(draws.mean(axis=0) - mean) < 0.3 * sd), (draws.mean(axis=0), mean)
    assert np.all(np.abs(draws.std(axis=0) / sd - 1) < 0.25), (draws.std(axis=0), sd)
