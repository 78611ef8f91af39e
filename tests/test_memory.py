"""The memory check before a run: the parameter count from shapes alone, and clear refusals (exit 2)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import jax
import pytest
from jax.flatten_util import ravel_pytree

from bnnlang.api import Model
from bnnlang.errors import BnnError
from bnnlang.infer.memory import BYTES, WORKING_COPIES, check_memory, parameter_shapes

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data" / "regression_1d.csv"


@pytest.fixture(scope="module")
def example():
    m = Model.from_file(ROOT / "examples" / "regression_1d.bnn")
    bound = m.data(DATA)
    return m, bound


def _problem(m, bound, **overrides):
    settings = m.settings(**overrides)
    return m.problem(bound, settings), settings


def test_parameter_count_from_shapes_matches_a_real_start(example):
    m, bound = example
    problem, _ = _problem(m, bound)
    counted = sum(math.prod(s) for s in parameter_shapes(problem).values())
    assert counted == ravel_pytree(problem.init(jax.random.PRNGKey(0), 0.5))[0].size == 1 + 2 * 20 + 20 * 20 + 20 + 21


def test_refusal_names_the_numbers_and_a_sample_count_that_fits(example):
    m, bound = example
    problem, settings = _problem(m, bound, backend="sghmc", chains=2, samples=1000)
    params = 482
    need = BYTES * params * 2 * (1000 + WORKING_COPIES)
    check_memory(problem, settings, available=need)  # exactly enough: no error
    with pytest.raises(BnnError) as err:
        check_memory(problem, settings, available=need - 1)
    text = err.value.format()
    assert "482 parameters x 2 chain(s) x 1,000 stored draws" in text
    fit = int(re.search(r"samples=(\d+)", text).group(1))
    assert 1 <= fit < 1000
    check_memory(problem, m.settings(backend="sghmc", chains=2, samples=fit), available=need - 1)
    with pytest.raises(BnnError):
        check_memory(problem, m.settings(backend="sghmc", chains=2, samples=fit + 1), available=need - 1)


def test_nuts_thinning_counts_kept_draws_only(example):
    m, bound = example
    problem, settings = _problem(m, bound, backend="nuts", chains=1, samples=1000, thinning=10)
    check_memory(problem, settings, available=BYTES * 482 * (100 + WORKING_COPIES))
    with pytest.raises(BnnError):
        check_memory(problem, settings, available=BYTES * 482 * (100 + WORKING_COPIES) - 1)


def test_a_network_far_too_wide_is_refused_before_anything_is_allocated(tmp_path):
    src = (ROOT / "examples" / "regression_1d.bnn").read_text()
    src = src.replace("dense(20, tanh)\n  dense(20, tanh)", "dense(3000000, tanh)\n  dense(3000000, tanh)")
    assert "3000000" in src
    (tmp_path / "wide.bnn").write_text(src)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "bnnlang.cli", "run", str(tmp_path / "wide.bnn"), "--data", str(DATA), "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "9,000,000,000,000" in proc.stderr and "Check the layer widths" in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()
