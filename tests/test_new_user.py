"""Problems a new user hit, each tried as they tried it: in-memory data through the API, a missing GPU backend,
location-free errors from the API and the command line, a report whose passed checks read as passed, and the
commands' shared flags."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from models import LINREG_SOURCE, save_linreg_data

from bnnlang.api import Model
from bnnlang.cli import main
from bnnlang.diagnose.thresholds import Thresholds
from bnnlang.diagnose.verdict import judge
from bnnlang.errors import BnnError, UsageError

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "regression_1d.bnn"
EXAMPLE_DATA = ROOT / "examples" / "data" / "regression_1d.csv"
FAST = dict(chains=1, warmup=50, samples=30, seed=2)

# What a failed check says; a passed check must say none of it.
FAILURE_WORDS = ("disagree", "too few", "missed", "poorly", "raise max_tree_depth", "still falls", "run more steps")


@pytest.fixture(scope="module")
def linreg(tmp_path_factory):
    model = Model.from_source(LINREG_SOURCE, "linear.bnn")
    path = save_linreg_data(tmp_path_factory.mktemp("new_user") / "data.npz")
    return model, path


def test_arrays_and_a_dataframe_run_like_the_file(linreg) -> None:
    """`model.run(dict)` and `model.run(DataFrame)` used to raise a raw TypeError; they are checked like files
    and give the same draws."""
    import pandas as pd

    model, path = linreg
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    frame = pd.DataFrame({**{f"x.{j}": arrays["x"][:, j] for j in range(arrays["x"].shape[1])}, "y": arrays["y"]})
    from_file = model.run(path, **FAST).idata.posterior
    for data in (arrays, frame):
        got = model.run(data, **FAST).idata.posterior
        for site in from_file.data_vars:
            np.testing.assert_array_equal(got[site].values, from_file[site].values)


def test_bad_in_memory_data_is_refused_at_the_declaration(linreg) -> None:
    model, path = linreg
    with np.load(path) as f:
        arrays = {k: f[k].copy() for k in f.files}
    arrays["y"][3] = np.nan
    with pytest.raises(BnnError) as err:
        model.run(arrays, **FAST)
    text = err.value.format()
    assert "<arrays>" in text and "NaN" in text and "[3]" in text
    assert err.value.location is not None and err.value.location.path == "linear.bnn"
    with pytest.raises(UsageError, match="DataFrame"):
        model.run([1.0, 2.0], **FAST)


def test_a_missing_gpu_backend_is_a_user_error() -> None:
    """`JAX_PLATFORMS=cuda bnnc run ...` on a machine without a GPU build exited 3 ("a bug in bnnc") with a bare
    AssertionError; it is exit 2, saying what is missing and how to install it."""
    env = {**os.environ, "JAX_PLATFORMS": "cuda", "XDG_CACHE_HOME": os.environ.get("TMPDIR", "/tmp")}
    argv = [sys.executable, "-m", "bnnlang.cli", "run", str(EXAMPLE), "--data", str(EXAMPLE_DATA), "-q"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    if done.returncode == 0:
        pytest.skip("this machine has a CUDA build of JAX")
    assert done.returncode == 2, done.stderr
    assert "JAX_PLATFORMS=cuda" in done.stderr and "jax[cuda12]" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr


def test_api_and_command_line_errors_have_no_fake_location(linreg, capsys) -> None:
    model, _ = linreg
    with pytest.raises(UsageError) as err:
        model.settings(chains=0)
    assert err.value.format().startswith("error: Setting 'chains' of nuts must be"), err.value.format()
    assert main(["run", str(EXAMPLE), "--data", str(EXAMPLE_DATA), "--set", "nonsense"]) == 2
    out = capsys.readouterr().err
    assert out.startswith("error: --set expects KEY=VALUE") and "<command line>" not in out


def test_passed_checks_do_not_carry_failure_wording() -> None:
    """report.json said "0 divergent transitions: the sampler missed part of the posterior" and "the loss still
    falls by -0.00%" on checks that passed."""
    summary = {
        "scalars": {"sigma": {"r_hat": 1.001, "ess_bulk": 900.0, "ess_tail": 800.0}},
        "sampler": {"divergences": 0, "bfmi": [0.9, 1.1], "tree_depth_saturation": 0.0},
    }
    fs = {"y": {"q95_r_hat": 1.002, "max_r_hat": 1.01, "min_ess_bulk": 700.0, "min_ess_tail": 600.0}}
    mcmc = judge(True, 4, summary, fs, {"r_hat": 1.0, "ess_bulk": 900.0, "ess_tail": 900.0}, None, Thresholds())
    flat = [5.0 + 0.001 * np.sin(i) for i in range(400)]
    svi = judge(False, 1, {}, {}, None, flat, Thresholds())
    for verdict in (mcmc, svi):
        assert verdict.checks and all(c.ok for c in verdict.checks)
        for c in verdict.checks:
            assert not any(w in c.detail for w in FAILURE_WORDS), c.detail
    failing = judge(True, 4, {**summary, "sampler": {"divergences": 3}}, {}, None, None, Thresholds())
    assert "missed part of the posterior" in failing.failures[0].detail


def test_a_real_report_has_no_failure_wording_on_passed_checks(linreg, tmp_path) -> None:
    model, path = linreg
    run = model.run(path, chains=2, warmup=200, samples=200, seed=1, out=tmp_path / "run")
    _, data = run.write_report(run.report())
    checks = json.loads(data.read_text())["verdict"]["checks"]
    assert any(c["ok"] for c in checks)
    for c in checks:
        if c["ok"]:
            assert not any(w in c["detail"] for w in FAILURE_WORDS), c


def test_every_command_takes_the_common_flags(tmp_path, capsys) -> None:
    """`bnnc predict -q` was refused while `run` and `report` took it."""
    for argv in (["check", str(EXAMPLE)], ["compile", str(EXAMPLE)], ["fmt", str(EXAMPLE)]):
        assert main([*argv, "-q"]) == 0, argv
    for command in ("run", "predict", "report", "fit-prior", "check", "fmt", "compile"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--quiet" in capsys.readouterr().out, command
