"""NUTS through bnnlang against a posterior known in closed form, and seed determinism.

A network with no hidden layer and a known noise scale is Bayesian linear
regression: with prior N(0, I) on theta = [w, b] and y = [X, 1] theta + N(0, s^2),
the posterior is Gaussian with precision I + A'A / s^2 and mean cov A'y / s^2
(model, data and exact posterior in tests/models.py).
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
from models import LINREG_D as D
from models import LINREG_N as N
from models import LINREG_SOURCE, linreg_draws, linreg_posterior, save_linreg_data

from bnnlang.api import Model


@pytest.fixture(scope="module")
def model() -> Model:
    return Model.from_source(LINREG_SOURCE, "linear.bnn")


@pytest.fixture(scope="module")
def bound(model, tmp_path_factory):
    return model.data(save_linreg_data(tmp_path_factory.mktemp("linreg") / "data.npz"))


def test_posterior_matches_bayesian_linear_regression(model, bound):
    assert set(model.checked.data) == {"x", "y"} and bound.dims == {"N": N, "D": D}
    mean, cov = linreg_posterior(bound.arrays["x"], bound.arrays["y"])
    run = model.run(bound, chains=2, warmup=500, samples=1000, seed=0)
    draws = linreg_draws(run.idata)
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
    first = linreg_draws(model.run(bound, seed=3, **tiny).idata)
    again = linreg_draws(model.run(bound, seed=3, **tiny).idata)
    other = linreg_draws(model.run(bound, seed=4, **tiny).idata)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert not np.allclose(first[0], first[1]), "the two chains should not be copies of each other"
