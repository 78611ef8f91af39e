"""The vectorised R-hat / ESS agree with ArviZ's per-quantity functions, whose definitions they copy."""

import warnings

import arviz as az
import numpy as np
import pytest

from bnnlang.diagnose.convergence import rhat_ess


def ar1_chains(chains: int, draws: int, quantities: int, seed: int) -> np.ndarray:
    """AR(1) chains with autocorrelations from 0 to 0.95 and chain offsets (some R-hats well above 1)."""
    rng = np.random.default_rng(seed)
    phi = rng.uniform(0.0, 0.95, quantities)
    x = np.zeros((chains, draws, quantities))
    e = rng.normal(size=x.shape)
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x + rng.normal(size=(chains, 1, quantities)) * rng.uniform(0.0, 0.5, quantities)


@pytest.mark.parametrize("chains,draws", [(4, 401), (2, 400), (1, 300)])
def test_matches_arviz(chains, draws):
    x = ar1_chains(chains, draws, 200, seed=chains)
    ours = rhat_ess(x)
    ds = az.convert_to_dataset({"x": x})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = {
            "r_hat": az.rhat(ds)["x"].values,
            "ess_bulk": az.ess(ds, method="bulk")["x"].values,
            "ess_tail": az.ess(ds, method="tail")["x"].values,
        }
    if chains > 1:
        np.testing.assert_allclose(ours["r_hat"], ref["r_hat"], rtol=1e-10)
        assert ours["r_hat"].max() > 1.05  # the offsets make some chains disagree: the check has teeth
    for k in ("ess_bulk", "ess_tail"):
        rel = np.abs(ours[k] / ref[k] - 1)
        # same Geyer estimator up to where it truncates the autocorrelation sum
        assert np.median(rel) < 0.005 and rel.max() < 0.08, k


def test_constant_quantities_have_no_diagnostics_and_shape_is_kept():
    x = ar1_chains(2, 100, 6, seed=0).reshape(2, 100, 2, 3)
    x[:, :, 1, 2] = 3.0
    out = rhat_ess(x)
    assert out["r_hat"].shape == (2, 3)
    assert np.isnan(out["r_hat"][1, 2]) and np.isnan(out["ess_bulk"][1, 2])
    assert np.isfinite(out["r_hat"][0]).all()


def test_ess_is_never_negative_on_a_few_alternating_draws() -> None:
    """NumPyro's estimator gives negative ESS on 10 draws that alternate between two levels; the report's
    floor is 0, which fails every ESS check as it should."""
    from numpyro.diagnostics import effective_sample_size

    from bnnlang.diagnose.convergence import rhat_ess, split_chains, z_scale

    rng = np.random.default_rng(0)
    values = rng.normal(size=(1, 10, 3))
    values[:, ::2] += 3
    raw = effective_sample_size(z_scale(split_chains(values)))
    assert (raw < 0).any()  # what the floor is for
    ess = rhat_ess(values)
    assert (ess["ess_bulk"] >= 0).all() and (ess["ess_bulk"] == 0).any()
