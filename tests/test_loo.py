"""PSIS-LOO against exact leave-one-out, Pareto k-hat flags, ensemble runs, and `bnnc compare`."""

from __future__ import annotations

import json
from pathlib import Path

import arviz as az
import numpy as np
import pytest
import xarray as xr
from models import LINREG_NOISE, LINREG_SOURCE, linreg_posterior, save_linreg_data
from scipy.stats import norm

from bnnlang.api import Model
from bnnlang.cli import main
from bnnlang.diagnose import loo

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE, DATA = ROOT / "examples" / "regression_1d.bnn", ROOT / "examples" / "data" / "regression_1d.csv"
LINEAR_1D = """
data {
  x: real[N, 1]
  y: real[N]
}
param sigma ~ HalfNormal(0.5)
network lin(x) -> real[N] {
  dense(1) { weight ~ Normal(0, 1); bias ~ Normal(0, 1) }
}
observe y ~ Normal(lin(x), sigma)
"""


def exact_loo(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log p(y_i | y_-i) of the linear regression, each from the closed-form posterior of the other rows."""
    a = np.column_stack([x, np.ones(len(x))])
    out = np.empty(len(y))
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        mean, cov = linreg_posterior(x[keep], y[keep])
        out[i] = norm.logpdf(y[i], a[i] @ mean, np.sqrt(LINREG_NOISE**2 + a[i] @ cov @ a[i]))
    return out


def test_psis_loo_matches_exact_leave_one_out(tmp_path):
    """50 refits in closed form against one NUTS run: elpd_loo within Monte Carlo error, point by point too;
    and the in-sample log density would not pass (it is higher by p_loo ~ the 4 parameters)."""
    data = np.load(save_linreg_data(tmp_path / "lin.npz"))
    x, y = data["x"].astype(float), data["y"].astype(float)
    run = Model.from_source(LINREG_SOURCE).run(tmp_path / "lin.npz", chains=2, warmup=500, samples=1500, seed=1)
    result = loo.elpd(run.idata)
    s = loo.summary(result, within_chains=False)
    exact = exact_loo(x, y)
    assert s["points"] == 50 and s["k_high"] == s["k_very_high"] == 0
    assert abs(s["elpd_loo"] - exact.sum()) < 0.15, (s["elpd_loo"], exact.sum())
    np.testing.assert_allclose(np.asarray(result.loo_i), exact, atol=0.03)
    assert 3.0 < s["p_loo"] < 5.0
    in_sample = float(np.sum(np.log(np.mean(np.exp(loo.pointwise_loglik(run.idata)), axis=(0, 1)))))
    assert in_sample - exact.sum() > 2.5


def test_heavy_tailed_weights_are_flagged_worst_first():
    """A point whose likelihood some draws nearly rule out has heavy-tailed importance ratios: k-hat > 0.7."""
    rng = np.random.default_rng(0)
    ll = rng.normal(-1.0, 0.1, (2, 500, 6))
    ll[:, :, 4] = -np.exp(rng.normal(0, 2.0, (2, 500)))  # log-ratios -log p: lognormal, very heavy tailed
    ll[:, :, 1] = -np.exp(rng.normal(0, 1.2, (2, 500)))
    idata = az.InferenceData(log_likelihood=xr.Dataset({"y": (("chain", "draw", "row"), ll)}))
    s = loo.summary(loo.elpd(idata), within_chains=False)
    assert s["flagged_points"][:1] == [4] and set(s["flagged_points"]) <= {1, 4}
    assert s["k_good"] == 6 - len(s["flagged_points"]) and s["max_k"] > 0.7


def test_mixture_of_modes_counts_efficiency_within_chains():
    """Two chains in two modes: across chains the likelihood looks unmixed; each chain alone is well mixed."""
    rng = np.random.default_rng(1)
    ll = rng.normal(-1.0, 0.05, (2, 400, 10))
    ll[1] -= 0.5  # the second member's mode explains every point less well
    pooled = loo.relative_efficiency(ll, within_chains=False)
    within = loo.relative_efficiency(ll, within_chains=True)
    assert within > 0.7 and pooled < 0.1


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("compare")
    (d / "linear.bnn").write_text(LINEAR_1D)
    quick = ["--chains", "1", "--warmup", "100", "--samples", "100", "-q"]
    assert main(["run", str(EXAMPLE), "--data", str(DATA), "-o", str(d / "mlp"), *quick]) == 0
    assert main(["run", str(d / "linear.bnn"), "--data", str(DATA), "-o", str(d / "linear"), *quick]) == 0
    return d / "mlp", d / "linear"


def test_compare_ranks_the_network_above_a_line(two_runs, capsys):
    """On the shipped sin(3x) data a straight line is misspecified; the network should win by many se."""
    mlp, linear = two_runs
    assert main(["compare", str(linear), str(mlp)]) == 0
    out = capsys.readouterr().out
    assert out.index("| 1 | mlp |") < out.index("| 2 | linear |") and "beyond 2 se" in out
    table = json.loads((mlp.parent / "compare.json").read_text())
    first, second = table["rows"]
    assert (first["run"], second["run"]) == ("mlp", "linear")
    assert second["elpd_diff"] < -5 * second["dse"] and first["weight"] > 0.9
    assert (mlp.parent / "compare.md").read_text().count("| mlp |") == 1


def test_compare_refuses_runs_on_other_data(two_runs, tmp_path, capsys):
    mlp, linear = two_runs
    rows = DATA.read_text().splitlines()
    (tmp_path / "half.csv").write_text("\n".join(rows[: len(rows) // 2]) + "\n")
    other = tmp_path / "other"
    quick = ["--chains", "1", "--warmup", "30", "--samples", "20", "-q"]
    model = str(linear.parent / "linear.bnn")
    assert main(["run", model, "--data", str(tmp_path / "half.csv"), "-o", str(other), *quick]) == 0
    capsys.readouterr()
    assert main(["compare", str(mlp), str(other)]) == 2
    err = capsys.readouterr().err
    assert "fit to other data" in err and "other" in err and "Traceback" not in err
    assert main(["compare", str(mlp)]) == 2
    assert "at least two runs" in capsys.readouterr().err
