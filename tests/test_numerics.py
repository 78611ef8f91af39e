"""Numerical robustness: extreme but legal prior scales, float64 runs (`--x64`), and data in extreme units.

Ground truth is the conjugate linear regression of tests/models.py with prior N(0, s0^2 I): its posterior
is Gaussian with precision I / s0^2 + A'A / noise^2, computed here in float64.
"""

from __future__ import annotations

import subprocess

import arviz as az
import numpy as np
import pytest
from models import LINREG_NOISE, bnnc_argv, linreg_draws, save_linreg_data

from bnnlang.api import Model

SOURCE = """
data {{
  x: real[N, D]{s}
  y: real[N]
}}
network lin(x) -> real[N] {{
  dense(1) {{ weight ~ Normal(0, {s0}); bias ~ Normal(0, {s0}) }}
}}
observe y ~ Normal(lin(x), {noise})
infer nuts(chains = 2, warmup = 400, samples = 600)
"""


def exact(x: np.ndarray, y: np.ndarray, s0: float, noise: float) -> tuple[np.ndarray, np.ndarray]:
    a = np.column_stack([x, np.ones(len(x))]).astype(np.float64)
    cov = np.linalg.inv(np.eye(a.shape[1]) / s0**2 + a.T @ a / noise**2)
    return cov @ a.T @ y.astype(np.float64) / noise**2, cov


def assert_matches(draws: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> None:
    """Each coordinate's posterior mean within 5 Monte Carlo standard errors, and its sd within 20%."""
    flat = draws.reshape(-1, draws.shape[-1]).astype(np.float64)
    sd = np.sqrt(np.diag(cov))
    ess = np.array([float(az.ess(draws[..., j])) for j in range(draws.shape[-1])])
    z = np.abs(flat.mean(axis=0) - mean) / (sd / np.sqrt(ess))
    assert np.all(z < 5), (z, flat.mean(axis=0), mean)
    np.testing.assert_allclose(flat.std(axis=0), sd, rtol=0.2)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = save_linreg_data(tmp_path_factory.mktemp("num") / "d.npz")
    with np.load(path) as f:
        return path, f["x"], f["y"]


@pytest.mark.parametrize("s0", [1e-4, 1e4])
def test_extreme_prior_scales_give_the_exact_posterior(data, s0):
    """A prior a thousand times tighter than the likelihood, and one ten thousand times looser."""
    path, x, y = data
    model = Model.from_source(SOURCE.format(s="", s0=s0, noise=LINREG_NOISE), "extreme.bnn")
    run = model.run(path, seed=1)
    assert_matches(linreg_draws(run.idata), *exact(x, y, s0, LINREG_NOISE))


def test_data_in_extreme_units_runs_when_standardized(tmp_path, data):
    """Inputs in units of 1e6 with a unit prior: the raw posterior is extremely tight and ill-conditioned for
    float32 NUTS; standardized inputs reparameterise it, and predictions still match the exact ones."""
    _, x, y = data
    big = tmp_path / "big.npz"
    np.savez(big, x=x * 1e6, y=y)
    model = Model.from_source(SOURCE.format(s=" standardized", s0=1.0, noise=LINREG_NOISE), "big.bnn")
    run = model.run(big, seed=2)
    # exact predictive mean at the training inputs, from the model as written on standardized inputs
    m, sd = x.mean(axis=0), x.std(axis=0)
    mean, cov = exact((x - m) / sd, y, 1.0, LINREG_NOISE)
    assert_matches(linreg_draws(run.idata), mean, cov)
    pred = run.predict(big)
    a = np.column_stack([(x - m) / sd, np.ones(len(x))])
    np.testing.assert_allclose(pred["y.mean"], a @ mean, atol=0.02)


def test_x64_runs_in_float64_and_matches_the_exact_posterior(tmp_path, data):
    """`bnnc run --x64`: every posterior array is float64, and the draws match the float64 ground truth."""
    path, x, y = data
    (tmp_path / "m.bnn").write_text(SOURCE.format(s="", s0=1.0, noise=LINREG_NOISE))
    out = tmp_path / "run"
    done = subprocess.run(
        bnnc_argv("run", str(tmp_path / "m.bnn"), "--data", str(path), "-o", str(out), "--x64", "-q"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    idata = az.from_netcdf(out / "posterior.nc")
    assert {str(v.dtype) for v in idata.posterior.data_vars.values()} == {"float64"}
    assert_matches(linreg_draws(idata), *exact(x, y, 1.0, LINREG_NOISE))
