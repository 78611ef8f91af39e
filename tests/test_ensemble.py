"""Deep-ensemble starts: the convex case's MAP, distinct modes on a BNN, early stopping, determinism, divergence."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from models import (
    LINREG_NOISE,
    LINREG_SOURCE,
    linreg_posterior,
    mlp_1d_source,
    save_linreg_data,
    sin_data,
    write_xy_csv,
)

from bnnlang.api import Model
from bnnlang.errors import BnnError
from bnnlang.infer.starts import fit_ensemble, holdout_split, log_likelihood

MLP_KEY = jax.random.PRNGKey(7)
MLP_STEPS = 1500


def problem_for(source: str, path):
    model = Model.from_source(source)
    return model.problem(model.data(path))


@pytest.fixture(scope="module")
def linreg(tmp_path_factory):
    path = save_linreg_data(tmp_path_factory.mktemp("ens_lin") / "data.npz")
    data = np.load(path)
    return problem_for(LINREG_SOURCE, path), data["x"], data["y"]


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    x, y = sin_data(100, seed=3)
    return problem_for(mlp_1d_source(""), write_xy_csv(tmp_path_factory.mktemp("ens_mlp") / "d.csv", x, y))


@pytest.fixture(scope="module")
def mlp_fit(mlp):
    return fit_ensemble(mlp, 4, MLP_KEY, MLP_STEPS, lr=0.01, holdout=0.2, patience=10 * MLP_STEPS)


def linreg_theta(problem, params) -> np.ndarray:
    c = problem.constrain(params)
    return np.concatenate([np.asarray(c["lin.0.weight"])[:, 0], np.asarray(c["lin.0.bias"])])


def test_linear_regression_members_reach_the_posterior_mean(linreg):
    problem, x, y = linreg
    mean, _ = linreg_posterior(x, y)
    ens = fit_ensemble(problem, 3, jax.random.PRNGKey(0), 6000, lr=0.02, holdout=0.0)
    assert ens.val_nll is None and ens.steps_run == 6000
    assert ens.train_loss.shape == (3, 6000)
    np.testing.assert_array_equal(ens.best_step, [6000, 6000, 6000])  # no hold-out: the final params
    for m in range(3):
        np.testing.assert_allclose(linreg_theta(problem, ens.params(m)), mean, atol=1e-3)


def test_log_likelihood_is_the_unscaled_gaussian_sum(linreg):
    problem, x, y = linreg
    w, b = np.array([0.5, -1.0, 0.25]), 0.3
    params = {"lin.0.weight": jnp.asarray(w[:, None], jnp.float32), "lin.0.bias": jnp.asarray([b], jnp.float32)}
    rows = np.array([4, 11, 30])
    r = y[rows] - (x[rows] @ w + b)
    expected = np.sum(-0.5 * (r / LINREG_NOISE) ** 2 - math.log(LINREG_NOISE) - 0.5 * math.log(2 * math.pi))
    got = float(log_likelihood(problem, params, problem.take(jnp.asarray(rows))))
    assert got == pytest.approx(expected, rel=1e-5)
    r_all = y - (x @ w + b)
    full = np.sum(-0.5 * (r_all / LINREG_NOISE) ** 2 - math.log(LINREG_NOISE) - 0.5 * math.log(2 * math.pi))
    assert float(log_likelihood(problem, params)) == pytest.approx(full, rel=1e-5)


def test_holdout_split(linreg, tmp_path):
    problem, _, _ = linreg
    key = jax.random.PRNGKey(5)
    train, val = holdout_split(problem, key, 0.1)
    assert len(val) == 5 and len(train) == 45  # ceil(0.1 * 50) held out
    np.testing.assert_array_equal(np.sort(np.concatenate([train, val])), np.arange(50))
    again, _ = holdout_split(problem, key, 0.1)
    np.testing.assert_array_equal(again, train)  # the key fixes the split
    other, _ = holdout_split(problem, jax.random.PRNGKey(6), 0.1)
    assert not np.array_equal(np.sort(other), np.sort(train))  # and another key gives another one
    assert holdout_split(problem, key, 0.0) is None
    x, y = sin_data(15, seed=0)
    small = problem_for(mlp_1d_source(""), write_xy_csv(tmp_path / "small.csv", x, y))
    assert holdout_split(small, key, 0.1) is None  # fewer than 20 rows: no split


def test_mlp_members_find_distinct_modes_and_keep_the_best_held_out_step(mlp, mlp_fit):
    ens = mlp_fit
    assert ens.positions.shape[0] == 4 and ens.val_nll.shape == (4, MLP_STEPS) and ens.info["holdout_rows"] == 20
    dists = np.linalg.norm(ens.positions[:, None] - ens.positions[None], axis=-1)[np.triu_indices(4, 1)]
    assert dists.min() > 1.0, dists
    assert (ens.train_loss[:, -1] < ens.train_loss[:, 0] - 100).all(), ens.train_loss[:, [0, -1]]
    _, held_out = holdout_split(mlp, MLP_KEY, 0.2)
    val = mlp.take(jnp.asarray(held_out))
    for m in range(4):
        np.testing.assert_array_equal(ens.best_step[m], np.argmin(ens.val_nll[m]))
        nll = -float(log_likelihood(mlp, ens.params(m), val)) / 20
        assert nll == pytest.approx(ens.val_nll[m].min(), abs=1e-4)
        assert ens.info["best_val_nll"][m] == pytest.approx(nll, abs=1e-4)


def test_same_key_same_members_whatever_the_chunks(mlp, mlp_fit):
    again = fit_ensemble(mlp, 4, MLP_KEY, MLP_STEPS, lr=0.01, holdout=0.2, patience=10 * MLP_STEPS, chunk=50)
    np.testing.assert_allclose(again.positions, mlp_fit.positions, atol=1e-6)
    np.testing.assert_array_equal(again.best_step, mlp_fit.best_step)
    np.testing.assert_allclose(again.train_loss, mlp_fit.train_loss, rtol=1e-6)


def test_member_ids_pick_the_same_members(mlp, mlp_fit):
    """Member 2 run alone (as on another host would) is member 2 of the full run, up to float rounding."""
    alone = fit_ensemble(mlp, 1, MLP_KEY, MLP_STEPS, lr=0.01, holdout=0.2, patience=10 * MLP_STEPS, member_ids=[2])
    # the same start and the same path; vmapping 1 or 4 members rounds differently, which Adam carries along
    np.testing.assert_allclose(alone.train_loss[0, :50], mlp_fit.train_loss[2, :50], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(alone.train_loss[0, -1], mlp_fit.train_loss[2, -1], rtol=1e-3)
    np.testing.assert_allclose(alone.positions[0], mlp_fit.positions[2], atol=0.05)
    others = [np.abs(mlp_fit.positions[m] - alone.positions[0]).max() for m in (0, 1, 3)]
    assert min(others) > 1.0  # and not some other member


def test_divergence_names_the_member(mlp):
    with pytest.raises(BnnError, match=r"member \d+ diverged.*step \d+") as err:
        fit_ensemble(mlp, 2, MLP_KEY, 200, lr=1e6, holdout=0.0, chunk=100)
    assert "learning rate" in err.value.hint


def test_early_stopping_stops(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, 30)
    y = np.sin(2 * x) + 0.2 * rng.standard_normal(30)
    wide = mlp_1d_source("").replace("dense(8, tanh)", "dense(64, tanh)")
    problem = problem_for(wide, write_xy_csv(tmp_path / "noisy.csv", x, y))
    ens = fit_ensemble(problem, 2, jax.random.PRNGKey(1), 5000, lr=0.03, holdout=0.2, patience=200, chunk=100)
    assert ens.steps_run < 5000 and ens.steps_run % 100 == 0
    assert ens.train_loss.shape == (2, ens.steps_run)
    # it stopped at the first chunk end where both members had gone 200 steps without a better held-out NLL
    assert (ens.steps_run - 1 - ens.best_step >= 200).all()
    assert (ens.steps_run - 101 - ens.best_step < 200).any()


WIDE_UNIT_PRIOR = """
data {
  x: real[N, 6]
  y: real[N]
}
param sigma ~ HalfNormal(1.0)
network mlp(x) -> real[N] {
  default weight ~ Normal(0, 1)
  dense(50, relu) { bias ~ Normal(0, 1) }
  dense(1) { bias ~ Normal(0, 1) }
}
observe y ~ Normal(mlp(x), sigma)
"""


def test_fan_in_starts_scale_weights_by_the_layer_width(tmp_path):
    """Default starts: dense weights ~ Normal(0, 1/sqrt(fan_in)), biases 0, sigma from the prior; `prior`: prior draws."""
    from bnnlang.infer.starts import fan_in_start

    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, x=rng.normal(size=(40, 6)).astype(np.float32), y=rng.normal(size=40).astype(np.float32))
    model = Model.from_source(WIDE_UNIT_PRIOR)
    problem = model.problem(model.data(path))
    draw = problem.prior_draw(jax.random.PRNGKey(0))
    start = fan_in_start(problem, draw, jax.random.PRNGKey(1))
    w0, w1 = np.asarray(start["mlp.0.weight"]), np.asarray(start["mlp.1.weight"])
    assert w0.shape == (6, 50) and w1.shape == (50, 1)
    assert abs(w0.std() - 1 / math.sqrt(6)) < 0.06 and abs(w1.std() - 1 / math.sqrt(50)) < 0.05
    assert abs(np.asarray(draw["mlp.0.weight"]).std() - 1.0) < 0.15  # the prior draw it replaces: unit scale
    assert not np.asarray(start["mlp.0.bias"]).any() and not np.asarray(start["mlp.1.bias"]).any()
    np.testing.assert_array_equal(np.asarray(start["sigma"]), np.asarray(draw["sigma"]))
    fan = fit_ensemble(problem, 2, jax.random.PRNGKey(3), 1, holdout=0.0)
    prior = fit_ensemble(problem, 2, jax.random.PRNGKey(3), 1, holdout=0.0, start="prior")
    # one Adam step (lr 0.01) moves each weight by at most ~0.01: the starts' scales show through
    for ens, scale in ((fan, 1 / math.sqrt(6)), (prior, 1.0)):
        w = np.stack([np.asarray(ens.params(m)["mlp.0.weight"]) for m in range(2)])
        assert abs(w.std() - scale) < 0.15 * scale
