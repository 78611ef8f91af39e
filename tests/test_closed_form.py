"""NUTS through bnnlang against a posterior known in closed form, and seed determinism.

A network with no hidden layer and a known noise scale is Bayesian linear
regression: with prior N(0, I) on theta = [w, b] and y = [X, 1] theta + N(0, s^2),
the posterior is Gaussian with precision I + A'A / s^2 and mean cov A'y / s^2.
"""

from __future__ import annotations

import textwrap

import arviz as az
import numpy as np
import pytest

from bnnlang.api import Model

NOISE = 0.3
D = 3
N = 50

SOURCE = textwrap.dedent(
    f"""
    data {{
      x: real[N, D]
      y: real[N]
    }}
    network lin(x) -> real[N] {{
      dense(1) {{ weight ~ Normal(0, 1); bias ~ Normal(0, 1) }}
    }}
    observe y ~ Normal(lin(x), {NOISE})
    """
)


@pytest.fixture(scope="module")
def model() -> Model:
    return Model.from_source(SOURCE, "linear.bnn")


@pytest.fixture(scope="module")
def bound(model, tmp_path_factory):
    rng = np.random.default_rng(42)
    # correlated features with a non-zero mean, so the posterior has non-trivial correlations
    z = rng.standard_normal((N, D))
    x = z @ np.array([[1.0, 0.6, 0.0], [0.0, 0.8, 0.3], [0.0, 0.0, 0.5]]) + np.array([0.5, -0.3, 0.2])
    y = x @ np.array([0.8, -0.5, 0.3]) + 0.2 + NOISE * rng.standard_normal(N)
    path = tmp_path_factory.mktemp("linreg") / "data.npz"
    np.savez(path, x=x, y=y)
    return model.data(path)


def analytic_posterior(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.column_stack([x, np.ones(len(x))]).astype(np.float64)
    precision = np.eye(a.shape[1]) + a.T @ a / NOISE**2
    cov = np.linalg.inv(precision)
    return cov @ a.T @ y.astype(np.float64) / NOISE**2, cov


def _draws(idata) -> np.ndarray:
    """[chain, draw, D + 1]: the weights then the bias."""
    w = idata.posterior["lin.0.weight"].values  # chain, draw, D, 1
    b = idata.posterior["lin.0.bias"].values  # chain, draw, 1
    return np.concatenate([w[..., 0], b], axis=-1)


def test_posterior_matches_bayesian_linear_regression(model, bound):
    assert set(model.checked.data) == {"x", "y"} and bound.dims == {"N": N, "D": D}
    mean, cov = analytic_posterior(bound.arrays["x"], bound.arrays["y"])
    run = model.run(bound, chains=2, warmup=500, samples=1000, seed=0)
    draws = _draws(run.idata)
    assert draws.shape == (2, 1000, D + 1)
    assert int(run.idata.sample_stats["diverging"].sum()) == 0

    theta = az.convert_to_dataset({"theta": draws})
    ess = az.ess(theta)["theta"].values
    rhat = az.rhat(theta)["theta"].values
    assert (rhat < 1.01).all(), rhat
    assert (ess > 200).all(), ess

    flat = draws.reshape(-1, D + 1)
    sd = np.sqrt(np.diag(cov))
    mcse = flat.std(axis=0, ddof=1) / np.sqrt(ess)
    np.testing.assert_array_less(np.abs(flat.mean(axis=0) - mean), 4 * mcse)

    emp_cov = np.cov(flat, rowvar=False)
    emp_sd = np.sqrt(np.diag(emp_cov))
    np.testing.assert_allclose(emp_sd, sd, rtol=0.1)
    corr = cov / np.outer(sd, sd)
    emp_corr = emp_cov / np.outer(emp_sd, emp_sd)
    assert np.abs(corr[np.triu_indices(D + 1, 1)]).max() > 0.3  # the check below is not vacuous
    np.testing.assert_allclose(emp_corr, corr, atol=0.1)


def test_same_seed_same_draws_other_seed_other_draws(model, bound):
    tiny = dict(chains=2, warmup=50, samples=50)
    first = _draws(model.run(bound, seed=3, **tiny).idata)
    again = _draws(model.run(bound, seed=3, **tiny).idata)
    other = _draws(model.run(bound, seed=4, **tiny).idata)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert not np.allclose(first[0], first[1]), "the two chains should not be copies of each other"
