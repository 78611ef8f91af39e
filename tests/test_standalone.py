"""The program `bnnc compile` prints runs on its own: a Python that cannot import bnnlang.

Each subprocess runs in isolated mode (`-I`) and, before anything else, makes
every `import bnnlang...` fail (a `sys.meta_path` finder, and `sys.modules['bnnlang'] = None`),
then checks that it really does fail before loading the generated file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest
from numpyro import handlers
from numpyro.infer.util import log_density

from bnnlang.api import Model
from bnnlang.cli import main as bnnc

MLP = textwrap.dedent(
    """
    import std.priors (neal)
    data {
      x: real[N, 1]
      y: real[N]
    }
    param sigma ~ HalfNormal(0.5)
    network mlp(x) -> real[N] {
      default weight ~ neal()
      dense(16, tanh) { bias ~ Normal(0, 1) }
      dense(16, tanh) { bias ~ Normal(0, 1) }
      dense(1) { bias ~ Normal(0, 1) }
    }
    observe y ~ Normal(mlp(x), sigma)
    infer nuts(chains = 1, warmup = 20, samples = 20)
    """
)

CATEGORICAL = textwrap.dedent(
    """
    data {
      K = 3
      x: real[N, 2]
      y: int[N] in 0..K-1
    }
    network net(x) -> real[N, K] {
      dense(8, relu)
      dense(K)
    }
    observe y ~ Categorical(logits = net(x))
    infer nuts(chains = 1, warmup = 20, samples = 20)
    """
)

# Runs first in every subprocess: bnnlang must not be importable from here on.
BLOCK_BNNLANG = textwrap.dedent(
    """
    import importlib.abc
    import sys

    class _NoBnnlang(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "bnnlang" or name.startswith("bnnlang."):
                raise ImportError("bnnlang is blocked in this process")
            return None

    sys.meta_path.insert(0, _NoBnnlang())
    for _name in [m for m in sys.modules if m == "bnnlang" or m.startswith("bnnlang.")]:
        del sys.modules[_name]
    sys.modules["bnnlang"] = None
    try:
        import bnnlang  # noqa: F401
    except ImportError:
        print("BNNLANG-BLOCKED")
    else:
        raise SystemExit("bnnlang could be imported")
    """
)

# Then: the log density of each compiled program at given values, and the program's own main().
CHILD = textwrap.dedent(
    """
    import importlib.util
    import json
    import runpy

    import jax.numpy as jnp
    import numpy as np
    from numpyro.infer.util import log_density

    jobs, main_program, main_data = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
    out = {}
    for name, program, data_path, params_path in jobs:
        spec = importlib.util.spec_from_file_location("generated_" + name, program)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        data, params = np.load(data_path), np.load(params_path)
        kwargs = {k: jnp.asarray(data[k]) for k in module.DATA}
        values = {k: jnp.asarray(params[k]) for k in params.files}
        out[name] = float(log_density(module.model, (), kwargs, values)[0])
    print("LOG-DENSITY " + json.dumps(out))
    print("MAIN-START", flush=True)
    sys.argv = [main_program, main_data]  # as if run as: python generated.py data.npz
    runpy.run_path(main_program, run_name="__main__")
    """
)


def _compile(source: str, folder: Path, name: str) -> tuple[Model, Path]:
    """`bnnc compile model.bnn -o model.py`, and the same model through the Python API."""
    bnn = folder / f"{name}.bnn"
    bnn.write_text(source)
    program = folder / f"{name}_generated.py"
    assert bnnc(["compile", str(bnn), "-o", str(program)]) == 0
    model = Model.from_file(bnn)
    assert program.read_text() == model.python_source
    return model, program


def _data(model: Model, folder: Path, name: str, seed: int) -> tuple[Path, dict]:
    rng = np.random.default_rng(seed)
    n = 20
    x = rng.uniform(-2, 2, size=(n, model.checked.data["x"].shape[1]))
    if model.checked.data["y"].base == "int":
        y = rng.integers(0, 3, size=n)
    else:
        y = np.sin(2 * x[:, 0]) + 0.1 * rng.normal(size=n)
    path = folder / f"{name}_data.npz"
    np.savez(path, x=x, y=y)
    return path, model.data(path).model_kwargs(model.checked)


def _prior_draw(fn, kwargs, seed: int) -> dict[str, np.ndarray]:
    def draw(key):
        tr = handlers.trace(handlers.seed(fn, key)).get_trace(**kwargs)
        return {k: s["value"] for k, s in tr.items() if s["type"] == "sample" and not s["is_observed"]}

    return {k: np.asarray(v) for k, v in jax.jit(draw)(jax.random.PRNGKey(seed)).items()}


@pytest.fixture(scope="module")
def child(tmp_path_factory):
    """One isolated subprocess for the whole module (importing JAX there is the slow part)."""
    assert not jax.config.jax_enable_x64, "compare in float32, as `bnnc run` does"
    folder = tmp_path_factory.mktemp("standalone")
    jobs, expected = [], {}
    for name, source in (("mlp", MLP), ("categorical", CATEGORICAL)):
        model, program = _compile(source, folder, name)
        data_path, kwargs = _data(model, folder, name, seed=len(name))
        params = _prior_draw(model.numpyro_model, kwargs, seed=len(name))
        params_path = folder / f"{name}_params.npz"
        np.savez(params_path, **params)
        density = jax.jit(lambda p, m=model, kw=kwargs: log_density(m.numpyro_model, (), kw, p)[0])
        expected[name] = float(density(params))
        jobs.append([name, str(program), str(data_path), str(params_path)])
    proc = subprocess.run(
        [sys.executable, "-I", "-c", BLOCK_BNNLANG + CHILD, json.dumps(jobs), jobs[0][1], jobs[0][2]],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, expected


def test_bnnlang_is_not_importable_in_the_child(child):
    stdout, _ = child
    assert stdout.splitlines()[0] == "BNNLANG-BLOCKED"


def test_generated_log_density_matches_without_bnnlang(child):
    stdout, expected = child
    line = next(line for line in stdout.splitlines() if line.startswith("LOG-DENSITY "))
    got = json.loads(line.split(" ", 1)[1])
    assert set(got) == {"mlp", "categorical"}
    for name, value in expected.items():
        assert np.isfinite(value)
        assert got[name] == pytest.approx(value, rel=1e-5), name


def test_generated_main_samples_and_prints_a_summary(child):
    stdout, _ = child
    summary = stdout.split("MAIN-START", 1)[1]
    assert "sigma" in summary and "n_eff" in summary and "r_hat" in summary, summary[-2000:]
    assert "mlp.0.weight" in summary


def test_generated_main_uses_the_models_infer_settings(tmp_path, monkeypatch):
    import numpyro.infer

    source = MLP.replace(
        "infer nuts(chains = 1, warmup = 20, samples = 20)",
        "infer nuts(chains = 1, warmup = 20, samples = 20, dense_mass = true, init_radius = 0.1, thinning = 2)",
    )
    model, _ = _compile(source, tmp_path, "settings")
    data_path, _ = _data(model, tmp_path, "settings", seed=0)
    seen = {}

    class FakeNUTS:
        def __init__(self, model_fn, **kwargs):
            seen["nuts"] = kwargs

    class FakeMCMC:
        def __init__(self, kernel, **kwargs):
            seen["mcmc"] = kwargs

        def run(self, key, *args, **kwargs):
            seen["key"] = np.asarray(key)

        def print_summary(self):
            pass

    monkeypatch.setattr(numpyro.infer, "NUTS", FakeNUTS)
    monkeypatch.setattr(numpyro.infer, "MCMC", FakeMCMC)
    model.module.main([str(data_path)])
    assert seen["nuts"].get("dense_mass") is True
    init = seen["nuts"].get("init_strategy")
    assert init is not None and getattr(init, "keywords", {}).get("radius") == 0.1
    assert seen["mcmc"].get("thinning") == 2
    np.testing.assert_array_equal(seen["key"], np.asarray(jax.random.fold_in(jax.random.PRNGKey(0), 0)))
