"""SG-HMC: a closed-form posterior, determinism, checkpoint resume, refused settings, and (slow) BNN quality.

The closed-form model is the Bayesian linear regression with known noise in tests/models.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import arviz as az
import numpy as np
import pytest
from models import LINREG_D as D
from models import LINREG_N as N
from models import (
    LINREG_NOISE,
    LINREG_SOURCE,
    bnnc_argv,
    gap_data,
    linreg_draws,
    linreg_posterior,
    mlp_1d_source,
    nuts_reference_1d,
    save_linreg_data,
    sin_data,
    write_xy_csv,
)

from bnnlang.api import Model
from bnnlang.errors import BnnError
from bnnlang.infer.backends.sghmc import make_plan
from bnnlang.infer.backends.sghmc import run as run_sghmc
from bnnlang.infer.checkpoint import Checkpoint
from bnnlang.infer.devices.chains import chain_layout

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model() -> Model:
    return Model.from_source(LINREG_SOURCE, "linear.bnn")


@pytest.fixture(scope="module")
def bound(model, tmp_path_factory):
    return model.data(save_linreg_data(tmp_path_factory.mktemp("linreg_sghmc") / "data.npz"))


TINY = dict(backend="sghmc", chains=2, warmup=20, samples=30, thinning=2, leapfrog=5, map_steps=50, map_restarts=2)


@pytest.mark.parametrize("noise", ["rademacher", "gaussian"])
def test_recovers_bayesian_linear_regression(model, bound, noise):
    mean, cov = linreg_posterior(bound.arrays["x"], bound.arrays["y"])
    run = model.run(
        bound, backend="sghmc", chains=2, seed=1, warmup=200, samples=1000, thinning=1, leapfrog=20, noise=noise
    )
    draws = linreg_draws(run.idata)
    assert draws.shape == (2, 1000, D + 1)
    flat = draws.reshape(-1, D + 1)
    sd = np.sqrt(np.diag(cov))
    ess = az.ess(az.convert_to_dataset({"theta": draws}))["theta"].values
    mcse = flat.std(axis=0, ddof=1) / np.sqrt(ess)
    # the mean within sampling error (plus a little discretisation bias), the variances within 25%
    np.testing.assert_array_less(np.abs(flat.mean(axis=0) - mean), 4 * mcse + 0.1 * sd)
    np.testing.assert_allclose(flat.var(axis=0, ddof=1), sd**2, rtol=0.25)
    assert np.isfinite(run.idata.sample_stats["lp"].values).all()


def test_step_size_is_relative_to_the_exact_curvature(model, bound):
    """lambda_max (power iteration at the start) is the posterior precision's top eigenvalue: the Hessian of a
    Gaussian posterior's potential everywhere, so the check holds wherever the MAP fits ended."""
    top = top_eig(linreg_posterior(bound.arrays["x"], bound.arrays["y"])[1])
    info = model.run(bound, **TINY, seed=0).summary["run"]
    assert info["lambda_max"] == pytest.approx(top, rel=1e-3)
    assert info["step_size"] == 1.0  # the full-batch default
    assert info["learning_rate"] == pytest.approx(1.0 / top, rel=1e-3)


def test_curvature_from_a_subsample_of_rows_scales_to_all_rows(model, tmp_path):
    """With minibatches and N > 1024 the curvature is measured on 1,024 rows, scaled up to N by the plate."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((4000, D)) + np.array([0.5, -0.3, 0.2])
    y = x @ np.array([0.8, -0.5, 0.3]) + 0.2 + LINREG_NOISE * rng.standard_normal(len(x))
    np.savez(tmp_path / "big.npz", x=x, y=y)
    info = model.run(model.data(tmp_path / "big.npz"), **{**TINY, "batch_size": 128}).summary["run"]
    assert info["lambda_max"] == pytest.approx(top_eig(linreg_posterior(x, y)[1]), rel=0.1)
    assert info["step_size"] == pytest.approx(np.sqrt(128 / 4000))


def test_defaults_recover_a_posterior_100x_sharper(tmp_path):
    """Noise sd 0.003 instead of 0.3: the curvature grows 1e4-fold. An absolute default step (1e-3 / N, this
    backend's before it measured curvature) diverges here; the relative one samples the same closed form."""
    noise = LINREG_NOISE / 100
    rng = np.random.default_rng(7)
    x = np.load(save_linreg_data(tmp_path / "base.npz"))["x"]
    y = x @ np.array([0.8, -0.5, 0.3]) + 0.2 + noise * rng.standard_normal(len(x))
    np.savez(tmp_path / "sharp.npz", x=x, y=y)
    sharp = Model.from_source(LINREG_SOURCE.replace(f"lin(x), {LINREG_NOISE})", f"lin(x), {noise})"), "sharp.bnn")
    mean, cov = linreg_posterior(x, y, noise)
    run = sharp.run(sharp.data(tmp_path / "sharp.npz"), backend="sghmc", chains=2, seed=3, samples=1000, thinning=1)
    flat = linreg_draws(run.idata).reshape(-1, D + 1)
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_array_less(np.abs(flat.mean(axis=0) - mean), 0.2 * sd)
    np.testing.assert_allclose(flat.var(axis=0, ddof=1), sd**2, rtol=0.2)
    old = 1e-3 / N * top_eig(cov)  # the old default's learning rate, 1e-3 / N, as a relative step (~170)
    with pytest.raises(BnnError, match="diverged"):
        sharp.run(sharp.data(tmp_path / "sharp.npz"), backend="sghmc", chains=2, step_size=old)


def test_burn_in_remeasures_the_curvature_of_a_random_start(tmp_path):
    """From a random start (sigma ~ 1, the network near zero) the curvature is far below the posterior's; with the
    start's measurement alone the 1-D example diverged at step 11. Burn-in measures again at steps 1, 2, 4, ..."""
    m = Model.from_file(ROOT / "examples" / "regression_1d.bnn")
    bound = m.data(ROOT / "examples" / "data" / "regression_1d.csv")
    run = m.run(bound, backend="sghmc", init="uniform", chains=2, warmup=300, samples=200, seed=0)
    sigma = run.idata.posterior["sigma"].values
    assert 0.08 < sigma.mean() < 0.15, sigma.mean(axis=1)
    lam = run.summary["run"]["lambda_max_per_chain"]
    assert len(lam) == 2 and min(lam) > 1e4  # sigma ~ 0.1 on 100 rows: curvature ~ N / sigma^2 and more


def top_eig(cov: np.ndarray) -> float:
    """The largest eigenvalue of the precision matrix."""
    return float(np.linalg.eigvalsh(np.linalg.inv(cov)).max())


def test_same_seed_same_draws_other_seed_other_draws(model, bound):
    first = linreg_draws(model.run(bound, seed=3, **TINY).idata)
    again = linreg_draws(model.run(bound, seed=3, **TINY).idata)
    other = linreg_draws(model.run(bound, seed=4, **TINY).idata)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert not np.allclose(first[0], first[1]), "the two chains should not be copies of each other"


def test_chunking_and_resume_do_not_change_draws(model, bound, tmp_path):
    """Checkpoint chunks of 7 steps, an interruption after the second save, then a resume: same draws."""
    settings = model.settings(seed=5, **TINY)
    problem = model.problem(bound, settings)
    plain = run_sghmc(problem, settings, progress=False)
    path = tmp_path / "checkpoint.npz"

    class Interrupt(Exception):
        pass

    class Dying(Checkpoint):
        saves = 0

        def save(self, step, state):
            super().save(step, state)
            Dying.saves += 1
            if Dying.saves == 2:
                raise Interrupt

    with pytest.raises(Interrupt):
        run_sghmc(problem, settings, progress=False, checkpoint=Dying(path, 7, "fp"))
    assert path.is_file()
    resumed = run_sghmc(problem, settings, progress=False, checkpoint=Checkpoint(path, 7, "fp"))
    assert resumed.info["resumed_from_step"] == 14
    assert set(plain.posterior) == set(resumed.posterior)
    for site in plain.posterior:
        np.testing.assert_array_equal(plain.posterior[site], resumed.posterior[site])
    np.testing.assert_array_equal(plain.sample_stats["lp"], resumed.sample_stats["lp"])


def test_plan_and_chain_layout():
    plan = make_plan({"warmup": 10, "samples": 4, "thinning": 3, "schedule": "constant", "cycles": 1})
    assert plan.total == 22 and list(plan.kept) == [12, 15, 18, 21]
    cyc = make_plan({"warmup": 0, "samples": 4, "thinning": 1, "schedule": "cyclical", "cycles": 2})
    assert cyc.cycle == 4 and list(cyc.kept) == [2, 3, 6, 7]  # the second half of each cycle
    assert chain_layout(4, 2) == (2, 4)
    assert chain_layout(3, 2) == (2, 4)  # padded with one throw-away chain
    assert chain_layout(1, 2) == (1, 1)
    assert chain_layout(5, 4) == (3, 6)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(batch_size=N + 1), "larger than the 50 rows"),
        (dict(step_size=-0.1), "step_size"),
        (dict(friction=1.5), "friction"),
        (dict(schedule="sometimes"), "schedule"),
    ],
)
def test_bad_settings_are_refused(model, bound, overrides, message):
    with pytest.raises(BnnError, match=message):
        model.run(bound, backend="sghmc", **overrides)


def test_divergence_names_chain_and_hints_step_size(model, bound):
    with pytest.raises(BnnError, match="chain 0 diverged") as err:
        model.run(bound, **{**TINY, "step_size": 50.0, "init": "uniform"})
    assert "smaller step_size" in err.value.format()


MLP = mlp_1d_source(
    "infer sghmc(chains = 2, warmup = 200, samples = 6000, thinning = 1, leapfrog = 20, batch_size = 16)"
)


@pytest.mark.long
@pytest.mark.parametrize("backend", ["sghmc", "svi"])
def test_killed_cli_run_resumes_to_the_same_posterior(tmp_path, backend):
    """`bnnc run` killed with SIGKILL after its first checkpoint, then `bnnc run --resume`: same posterior.

    Three `bnnc` processes per backend (about a minute on 2 cores): the crash-safety promise end to end.
    """
    (tmp_path / "m.bnn").write_text(MLP)
    write_xy_csv(tmp_path / "d.csv", *sin_data(60, seed=0))
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    common = ["--data", str(tmp_path / "d.csv"), "-q", "--backend", backend, "--set", "checkpoint_every=500"]
    if backend == "svi":
        common += ["--guide", "normal", "--set", "steps=6000", "--set", "map_steps=500"]
    full = subprocess.run(
        bnnc_argv("run", str(tmp_path / "m.bnn"), "-o", str(tmp_path / "full"), *common),
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert full.returncode == 0, full.stderr
    ckpt = tmp_path / ".cut.partial" / "checkpoint.npz"
    proc = subprocess.Popen(
        bnnc_argv("run", str(tmp_path / "m.bnn"), "-o", str(tmp_path / "cut"), *common),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 240
    while not ckpt.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if proc.poll() is not None:
        pytest.skip("the run finished before it could be killed (machine too fast for this test's run length)")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert ckpt.is_file() and not (tmp_path / "cut").exists()
    resumed = subprocess.run(
        bnnc_argv("run", "--resume", str(tmp_path / "cut"), "-q"), capture_output=True, text=True, timeout=240, env=env
    )
    assert resumed.returncode == 0, resumed.stderr
    a = az.from_netcdf(tmp_path / "full" / "posterior.nc").posterior
    b = az.from_netcdf(tmp_path / "cut" / "posterior.nc").posterior
    for site in a.data_vars:
        np.testing.assert_array_equal(a[site].values, b[site].values)


# -- slow: the defaults on the 1-D example against NUTS ------------------------------------------------------


def _quality(m: Model, run, test_path: Path, grid_path: Path) -> dict[str, float]:
    from scipy.special import logsumexp

    from bnnlang.posterior.predict import predictive_draws

    def pred(path):
        b = m.data(path, require_observed=False)
        return predictive_draws(m.module, m.checked, run.idata, b.model_kwargs(m.checked, observed=False), 0, 2000)

    d = pred(test_path)["y"]
    y = m.data(test_path).arrays["y"]
    mu, var = np.asarray(d["mean"]), np.asarray(d["var"])
    ll = logsumexp(-0.5 * np.log(2 * np.pi * var) - 0.5 * (y - mu) ** 2 / var, axis=0) - np.log(len(mu))
    return {
        "test_ll": float(ll.mean()),
        "sd": float(np.asarray(pred(grid_path)["y"]["mean"]).std(0).mean()),
        "sigma": float(run.idata.posterior["sigma"].values.mean()),
    }


@pytest.mark.slow
def test_defaults_match_nuts_on_the_1d_example(tmp_path, tmp_path_factory):
    m = Model.from_file(ROOT / "examples" / "regression_1d.bnn")
    bound = m.data(ROOT / "examples" / "data" / "regression_1d.csv")
    x, y = gap_data(1000, 99)
    np.savez(tmp_path / "test.npz", x=x[:, None], y=y)
    grid = np.concatenate([np.linspace(-2, -0.5, 50), np.linspace(0.5, 2, 50)])
    np.savez(tmp_path / "grid.npz", x=grid[:, None], y=np.zeros_like(grid))
    nuts = _quality(m, nuts_reference_1d(tmp_path_factory), *_paths(tmp_path))
    sg = _quality(m, m.run(bound, backend="sghmc"), *_paths(tmp_path))
    assert abs(sg["test_ll"] - nuts["test_ll"]) < 0.1, (sg, nuts)
    assert nuts["sd"] / 2 < sg["sd"] < 2 * nuts["sd"], (sg, nuts)
    assert 0.08 < sg["sigma"] < 0.13, sg


def _paths(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "test.npz", tmp_path / "grid.npz"


def test_a_run_of_one_chunk_writes_its_log(tmp_path):
    """A run short enough for one jitted chunk has no compile-free per-gradient time; its log says so."""
    from bnnlang.cli import main

    (tmp_path / "m.bnn").write_text(LINREG_SOURCE)
    data = save_linreg_data(tmp_path / "d.npz")
    out = tmp_path / "run"
    argv = ["run", str(tmp_path / "m.bnn"), "--data", str(data), "-o", str(out), "-q", "--backend", "sghmc"]
    assert main([*argv, "--set", "warmup=100", "--set", "samples=100", "--set", "chains=1"]) == 0
    log = (out / "log.txt").read_text()
    assert "per_gradient_us: not measured" in log
