"""The SVI backend against Bayesian linear regression (closed form), and its run mechanics.

With a known noise scale, a network without hidden layers is conjugate: the
posterior is Gaussian with precision I + A'A / s^2 (A = [x, 1]). The Laplace
guide is exact there; a Gaussian guide with rank >= dimension can match it; a
mean-field guide gets the mean right (not the correlations).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from models import LINREG_D as D
from models import LINREG_N as N
from models import (
    gap_data,
    linreg_draws,
    linreg_posterior,
    linreg_source,
    mlp_1d_source,
    nuts_reference_1d,
    save_linreg_data,
    sin_data,
    write_xy_csv,
)

from bnnlang.api import Model
from bnnlang.cli import main
from bnnlang.errors import BnnError
from bnnlang.infer.backends.svi import fit
from bnnlang.infer.backends.svi import run as run_svi
from bnnlang.infer.checkpoint import Checkpoint
from bnnlang.posterior.arviz import from_result

SOURCE = linreg_source("infer svi(steps = 3000)")
BNN = mlp_1d_source("infer svi(steps = 300, samples = 50)")


@pytest.fixture(scope="module")
def model() -> Model:
    return Model.from_source(SOURCE, "linear.bnn")


@pytest.fixture(scope="module")
def data_path(tmp_path_factory) -> Path:
    return save_linreg_data(tmp_path_factory.mktemp("linreg") / "data.npz")


@pytest.fixture(scope="module")
def bound(model, data_path):
    return model.data(data_path)


@pytest.fixture(scope="module")
def exact(bound) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mean and covariance of [w_0 .. w_{D-1}, b]."""
    return linreg_posterior(bound.arrays["x"], bound.arrays["y"])


def _order(fitted) -> np.ndarray:
    """Positions in the flat vector of [w_0 .. w_{D-1}, b] (the flat vector is in site-name order)."""
    sites = fitted.unravel(jnp.arange(D + 1, dtype=jnp.float32))
    w = np.asarray(sites["lin.0.weight"]).reshape(-1)
    b = np.asarray(sites["lin.0.bias"]).reshape(-1)
    return np.concatenate([w, b]).astype(int)


def _fit(model, bound, **overrides):
    settings = model.settings(backend="svi", **overrides)
    return fit(model.problem(bound, settings), settings)


def _draws(idata) -> np.ndarray:
    """[draw, D + 1], chains pooled."""
    return linreg_draws(idata).reshape(-1, D + 1)


def test_laplace_is_exact_on_linear_regression(model, bound, exact):
    mean, cov = exact
    fitted = _fit(model, bound, guide="laplace")
    order = _order(fitted)
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(np.asarray(fitted.mean())[order], mean, atol=1e-3 * sd.min())
    got = np.asarray(fitted.covariance(), np.float64)[np.ix_(order, order)]
    np.testing.assert_allclose(got, cov, rtol=1e-3, atol=1e-4 * sd.min() ** 2)
    corr = cov / np.outer(sd, sd)
    assert np.abs(corr[np.triu_indices(D + 1, 1)]).max() > 0.3  # a mean-field answer would fail the line above

    # the draws come from that Gaussian
    run = model.run(bound, backend="svi", guide="laplace", samples=4000)
    draws = _draws(run.idata)
    assert draws.shape == (4000, D + 1)
    np.testing.assert_array_less(np.abs(draws.mean(axis=0) - mean), 4 * sd / math.sqrt(4000))
    np.testing.assert_allclose(draws.std(axis=0), sd, rtol=0.06)


def test_lowrank_recovers_mean_and_covariance(model, bound, exact):
    mean, cov = exact
    sd = np.sqrt(np.diag(cov))
    fitted = _fit(model, bound, guide="lowrank", rank=4, steps=4000)
    order = _order(fitted)
    np.testing.assert_array_less(np.abs(np.asarray(fitted.mean())[order] - mean), 0.15 * sd)
    got = np.asarray(fitted.covariance(), np.float64)[np.ix_(order, order)]
    np.testing.assert_allclose(np.sqrt(np.diag(got)), sd, rtol=0.25)


def test_mean_field_recovers_mean(model, bound, exact):
    mean, cov = exact
    sd = np.sqrt(np.diag(cov))
    fitted = _fit(model, bound, guide="normal")
    np.testing.assert_array_less(np.abs(np.asarray(fitted.mean())[_order(fitted)] - mean), 0.15 * sd)
    # mean-field variances are the inverse diagonal of the precision: smaller than the marginal variances
    got = np.sqrt(np.diag(np.asarray(fitted.covariance())))[_order(fitted)]
    np.testing.assert_allclose(got, 1 / np.sqrt(np.diag(np.linalg.inv(cov))), rtol=0.3)


def test_map_is_the_posterior_mode_as_one_draw(model, bound, exact):
    mean, cov = exact
    run = model.run(bound, backend="svi", guide="map")
    draws = _draws(run.idata)
    assert draws.shape == (1, D + 1)
    np.testing.assert_allclose(draws[0], mean, atol=1e-3 * np.sqrt(np.diag(cov)).min())
    assert run.summary["run"]["guide"] == "map"


def test_a_point_estimate_still_predicts_with_its_noise(model, bound):
    """guide = map keeps one draw; its predictive must still carry the likelihood's noise (one replicate per
    draw gave zero-width intervals and 0% coverage at every level)."""
    from models import LINREG_NOISE

    from bnnlang.posterior.predict import REPLICATES

    run = model.run(bound, backend="svi", guide="map")
    pred = run.predictive_draws(bound)["y"]
    assert pred["draws"].shape[0] >= REPLICATES
    residual_sd = np.std(pred["draws"] - pred["mean"], axis=0)
    np.testing.assert_allclose(residual_sd.mean(), LINREG_NOISE, rtol=0.1)
    y = bound.arrays["y"]
    lo, hi = np.quantile(pred["draws"], [0.05, 0.95], axis=0)
    covered = np.mean((y >= lo) & (y <= hi))
    assert 0.8 <= covered <= 0.97


def test_same_seed_same_draws(model, bound):
    tiny = dict(backend="svi", guide="normal", steps=200, samples=20, batch_size=16)
    first = _draws(model.run(bound, seed=3, **tiny).idata)
    again = _draws(model.run(bound, seed=3, **tiny).idata)
    other = _draws(model.run(bound, seed=4, **tiny).idata)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


class CopyAt(Checkpoint):
    """A checkpoint that also keeps a copy of the file as it was after step `at`."""

    def __init__(self, path: Path, every: int, at: int, copy: Path) -> None:
        super().__init__(path, every, "test")
        self.at, self.copy = at, copy

    def save(self, step, state) -> None:
        super().save(step, state)
        if step == self.at:
            shutil.copy(self.path, self.copy)


@pytest.mark.parametrize("guide", ["normal", "lowrank"])
def test_resume_from_a_checkpoint_equals_the_uninterrupted_run(model, bound, tmp_path, guide):
    settings = model.settings(backend="svi", guide=guide, steps=300, samples=30, batch_size=16, seed=5)
    problem = model.problem(bound, settings)
    copy = tmp_path / f"{guide}-at-100.npz"
    full = run_svi(problem, settings, False, CopyAt(tmp_path / f"{guide}.npz", 50, 100, copy))
    assert copy.is_file()
    resumed = run_svi(problem, settings, False, Checkpoint(copy, 50, "test"))
    np.testing.assert_array_equal(full.traces["loss"], resumed.traces["loss"])
    np.testing.assert_array_equal(_draws(from_result(problem, full)), _draws(from_result(problem, resumed)))
    # it did resume: a fresh start would have run all 300 steps, including the MAP warm start
    assert resumed.timings["steps_run"] == 200 and full.timings["steps_run"] == 300


def test_bad_settings_are_refused(model, bound):
    with pytest.raises(BnnError) as err:
        Model.from_source(SOURCE.replace("steps = 3000", "guide = foo"), "bad.bnn")
    assert all(g in err.value.format() for g in ("normal", "lowrank", "map", "laplace"))
    with pytest.raises(BnnError) as err:
        model.settings(backend="svi", guide="foo")
    assert "laplace" in err.value.format()
    with pytest.raises(BnnError, match="batch_size"):
        model.run(bound, backend="svi", batch_size=N + 1)
    with pytest.raises(BnnError, match="lr"):
        model.settings(backend="svi", lr=-0.1)


def test_divergence_names_the_step(model, bound):
    with pytest.raises(BnnError, match=r"diverged.*at step \d+") as err:
        model.run(bound, backend="svi", optimizer="sgd", schedule="constant", lr=1e3, steps=50, init="uniform")
    assert "learning rate" in err.value.format()


def test_cli_run_writes_the_loss_trace(tmp_path):
    (tmp_path / "m.bnn").write_text(BNN)
    write_xy_csv(tmp_path / "d.csv", *sin_data(40, seed=1))
    out = tmp_path / "run"
    argv = ["run", str(tmp_path / "m.bnn"), "--data", str(tmp_path / "d.csv"), "--backend", "svi", "-o", str(out)]
    assert main([*argv, "--set", "guide=normal", "-q"]) == 0
    lines = (out / "loss.csv").read_text().splitlines()
    assert lines[0] == "step,loss" and len(lines) == 301
    loss = np.array([float(line.split(",")[1]) for line in lines[1:]])
    assert np.isfinite(loss).all()
    assert loss[-50:].mean() < loss[:50].mean()


def test_rows_are_sharded_over_two_devices(data_path):
    """With two host devices the minibatch is split over them; the fit is the same up to rounding."""
    script = textwrap.dedent(
        f"""
        import numpy as np
        import jax
        from bnnlang.api import Model
        from bnnlang.infer.backends.svi import fit
        assert jax.local_device_count() == 2
        m = Model.from_source({SOURCE!r}, "linear.bnn")
        b = m.data({str(data_path)!r})
        s = m.settings(backend="svi", guide="map", steps=500, batch_size=16)
        f = fit(m.problem(b, s), s)
        print(f.devices, " ".join(repr(float(v)) for v in np.asarray(f.mean())))
        """
    )
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu", "PATH": ""}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    devices, *values = done.stdout.split()
    assert devices == "2"
    m = Model.from_source(SOURCE, "linear.bnn")
    s = m.settings(backend="svi", guide="map", steps=500, batch_size=16)
    one = fit(m.problem(m.data(data_path), s), s)
    np.testing.assert_allclose(np.array(values, float), np.asarray(one.mean()), atol=1e-3)


@pytest.mark.slow
def test_defaults_match_nuts_on_the_1d_example(tmp_path_factory):
    """Default `infer svi()` on examples/regression_1d.bnn: held-out RMSE within 2x of NUTS, sigma near 0.1."""
    root = Path(__file__).resolve().parents[1]
    m = Model.from_file(root / "examples" / "regression_1d.bnn")
    bound = m.data(root / "examples" / "data" / "regression_1d.csv")
    xt, yt = gap_data(500, seed=7)

    def rmse(run) -> float:
        from bnnlang.posterior.predict import predictive_draws

        draws = predictive_draws(m.module, m.checked, run.idata, {"x": jnp.asarray(xt[:, None])}, 0, 1000)
        return float(np.sqrt(np.mean((np.asarray(draws["y"]["mean"]).mean(axis=0) - yt) ** 2)))

    nuts = nuts_reference_1d(tmp_path_factory)
    svi = m.run(bound, backend="svi")
    assert rmse(svi) < 2 * rmse(nuts)
    sigma = float(svi.idata.posterior["sigma"].mean())
    assert 0.05 < sigma < 0.2
    # the default (last-layer Laplace) is a distribution, not a point: epistemic spread comparable to NUTS's
    grid = {"x": jnp.asarray(xt[:, None])}
    from bnnlang.posterior.predict import predictive_draws

    def epistemic(run) -> float:
        return float(
            np.asarray(predictive_draws(m.module, m.checked, run.idata, grid, 0, 1000)["y"]["mean"]).std(0).mean()
        )

    assert epistemic(nuts) / 3 < epistemic(svi) < 3 * epistemic(nuts)


def test_draws_per_pass_shrinks_for_big_data_and_networks():
    from bnnlang.infer.backends.svi import draws_per_pass

    assert draws_per_pass(1000, 100, 2702) == 100  # the 1-D example: all at once, as before
    assert draws_per_pass(5, 100, 2702) == 5
    assert draws_per_pass(1000, 10_000, 42_202) == 32  # 10,000 rows x 205 -> 2**26 // 2,050,000
    assert draws_per_pass(1000, 1_000_000, 255_502) == 1  # asked for 40 GB with 100 at once
