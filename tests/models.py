"""Models and data shared by several test files, so each is written (and reviewed) once.

Test files import it as `from models import ...`: pytest's default import mode puts
tests/ on sys.path (there is no tests/__init__.py), as it does for the test files themselves.

Two models:
- Bayesian linear regression with a known noise scale: a network with no hidden layer,
  prior N(0, I) on theta = [w, b] and y = [X, 1] theta + N(0, s^2). The posterior is
  Gaussian with precision I + A'A / s^2 and mean cov A'y / s^2 (A = [X, 1]): the
  closed-form ground truth for every backend.
- A small 1-D MLP (one tanh layer of 8, neal() weights, unknown sigma): a real BNN that
  runs in seconds, for end-to-end runs through the CLI.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

# ---------------------------------------------------------------- Bayesian linear regression

LINREG_NOISE = 0.3
LINREG_D = 3
LINREG_N = 50


def linreg_source(infer_line: str = "") -> str:
    """The .bnn text of the linear regression, with an optional `infer ...` line (settings a test file relies on)."""
    return f"""
data {{
  x: real[N, D]
  y: real[N]
}}
network lin(x) -> real[N] {{
  dense(1) {{ weight ~ Normal(0, 1); bias ~ Normal(0, 1) }}
}}
observe y ~ Normal(lin(x), {LINREG_NOISE})
{infer_line}
"""


LINREG_SOURCE = linreg_source()


def save_linreg_data(path: Path) -> Path:
    """Write N = 50 rows of D = 3 features to `path` (.npz) and return it.

    The features are correlated and have a non-zero mean, so the posterior has non-trivial
    correlations (a mean-field answer would be visibly wrong).
    """
    rng = np.random.default_rng(42)
    z = rng.standard_normal((LINREG_N, LINREG_D))
    x = z @ np.array([[1.0, 0.6, 0.0], [0.0, 0.8, 0.3], [0.0, 0.0, 0.5]]) + np.array([0.5, -0.3, 0.2])
    y = x @ np.array([0.8, -0.5, 0.3]) + 0.2 + LINREG_NOISE * rng.standard_normal(LINREG_N)
    np.savez(path, x=x, y=y)
    return path


def linreg_posterior(x: np.ndarray, y: np.ndarray, noise: float = LINREG_NOISE) -> tuple[np.ndarray, np.ndarray]:
    """Exact posterior mean and covariance of [w_0 .. w_{D-1}, b] under N(0, I) priors, in float64."""
    a = np.column_stack([x, np.ones(len(x))]).astype(np.float64)
    cov = np.linalg.inv(np.eye(a.shape[1]) + a.T @ a / noise**2)
    return cov @ a.T @ y.astype(np.float64) / noise**2, cov


def linreg_draws(idata) -> np.ndarray:
    """[chain, draw, D + 1]: the weights then the bias, in the order of `linreg_posterior`."""
    w = idata.posterior["lin.0.weight"].values  # chain, draw, D, 1
    b = idata.posterior["lin.0.bias"].values  # chain, draw, 1
    return np.concatenate([w[..., 0], b], axis=-1)


# ---------------------------------------------------------------- a small 1-D MLP


def mlp_1d_source(infer_line: str) -> str:
    """The .bnn text of the 1-D MLP; `infer_line` picks the backend and its settings."""
    return f"""
import std.priors (neal)
data {{
  x: real[N, 1]
  y: real[N]
}}
param sigma ~ HalfNormal(0.5)
network mlp(x) -> real[N] {{
  default weight ~ neal()
  dense(8, tanh)
  dense(1)
}}
observe y ~ Normal(mlp(x), sigma)
{infer_line}
"""


def sin_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n points x ~ U(-2, 2), y = sin(2x) + N(0, 0.1^2): what the 1-D MLP fits in a few hundred steps."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, n)
    return x, np.sin(2 * x) + 0.1 * rng.normal(size=n)


def write_xy_csv(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    """Write columns x and y to a CSV file (5 decimals, as a user's file would have) and return its path."""
    path.write_text("x,y\n" + "".join(f"{a:.5f},{b:.5f}\n" for a, b in zip(x, y)))
    return path


def gap_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Held-out data like examples/data/regression_1d.csv: y = sin(3x) + N(0, 0.1^2), x in [-2, 2] minus (-0.5, 0.5)."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.uniform(-2, -0.5, n // 2), rng.uniform(0.5, 2, n - n // 2)])
    return x, np.sin(3 * x) + 0.1 * rng.standard_normal(n)


def load_benchmark(name: str):
    """A script of benchmarks/ as a module, for tests that use its model texts and helpers.

    The benchmarks folder goes on sys.path, as when the script runs, for its sibling imports (provenance).
    """
    folder = Path(__file__).resolve().parents[1] / "benchmarks"
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
    path = folder / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def bnnc_argv(*args: str) -> list[str]:
    """`bnnc ARGS` as a subprocess command with this interpreter (no reliance on the entry point being on PATH)."""
    return [sys.executable, "-c", "from bnnlang.cli import entry; entry()", *args]


def record_mcmc_inits(monkeypatch) -> list:
    """The `init_params` of every NumPyro `MCMC.run` call from now on (the list fills as runs happen)."""
    from numpyro.infer import MCMC

    seen: list = []
    original = MCMC.run

    def spy(self, rng_key, *args, init_params=None, **kwargs):
        seen.append(init_params)
        return original(self, rng_key, *args, init_params=init_params, **kwargs)

    monkeypatch.setattr(MCMC, "run", spy)
    return seen


# ---------------------------------------------------------------- one NUTS reference for the slow checks


def nuts_reference_1d(tmp_path_factory):
    """examples/regression_1d.bnn under NUTS with its own settings, run once for every test process of a session.

    The slow checks of each backend's defaults (test_sghmc, test_svi) compare against this same run; it is the
    costliest part of each (a minute on 2 cores), so the first process to ask writes it to a run directory under
    the session's shared temporary folder, holding a file lock, and the others read it from there.
    """
    import fcntl
    import os

    from bnnlang.api import load, open_run

    root = tmp_path_factory.getbasetemp()
    shared = root.parent if "PYTEST_XDIST_WORKER" in os.environ else root  # xdist: one folder per worker below
    folder = shared / "nuts_reference_1d"
    with open(shared / "nuts_reference_1d.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not folder.exists():
            examples = Path(__file__).resolve().parents[1] / "examples"
            model = load(examples / "regression_1d.bnn")
            model.run(examples / "data" / "regression_1d.csv", out=folder, chains=2, warmup=400, samples=400)
    return open_run(folder)
