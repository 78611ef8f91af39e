"""Compiled once: another NUTS run of the same program on data of the same shapes reuses the compiled sampler.

Counted, not timed: JAX reports every trace of a Python function into a program to `jax.monitoring` (a trace
precedes every compilation, and happens even when the persistent compilation cache spares the compile itself),
and a run that reuses its sampler traces almost nothing. The reuse must not change
what a run computes (same seed, same draws, bit for bit) and must see each run's own data (the data are
arguments of the compiled loop, not constants baked into it).
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest

from bnnlang.api import Model
from bnnlang.infer.backends import nuts

ROOT = Path(__file__).resolve().parents[1]
SOURCE = (ROOT / "examples" / "regression_1d.bnn").read_text().replace("dense(20, tanh)", "dense(19, tanh)")
SETTINGS = dict(chains=2, warmup=30, samples=30, max_tree_depth=4)
COMPILES: list[str] = []
_listening = False


def _listen() -> None:
    global _listening
    if not _listening:
        jax.monitoring.register_event_duration_secs_listener(
            lambda name, _secs, **_kw: COMPILES.append(name) if name.endswith("jaxpr_trace_duration") else None
        )
        _listening = True


def compiles_during(fn) -> tuple[object, int]:
    _listen()
    before = len(COMPILES)
    out = fn()
    return out, len(COMPILES) - before


@pytest.fixture(scope="module")
def example():
    """The 1-D example with widths no other test uses: its programs are new to this process, whichever tests
    ran in it before (a program traced earlier in the process is partly spared its traces)."""
    model = Model.from_source(SOURCE, str(ROOT / "examples" / "compiled_once.bnn"), ROOT / "examples")
    data = pd.read_csv(ROOT / "examples" / "data" / "regression_1d.csv")
    return model, data


def test_a_second_run_reuses_the_compiled_sampler(example) -> None:
    model, data = example
    nuts._samplers.clear()
    first, n_first = compiles_during(lambda: model.run(data, seed=0, **SETTINGS))
    again, n_again = compiles_during(lambda: model.run(data, seed=1, **SETTINGS))
    assert n_first > 20 and n_again <= 2, (n_first, n_again)
    # a new Model of the same source is the same program
    same = Model.from_source(SOURCE, str(ROOT / "examples" / "compiled_once.bnn"), ROOT / "examples")
    _, n_same = compiles_during(lambda: same.run(data, seed=2, **SETTINGS))
    assert n_same <= 2, n_same
    # other rows, as many of them: still the same sampler
    shifted = data.assign(y=data["y"] + 0.5)
    _, n_rows = compiles_during(lambda: model.run(shifted, seed=3, **SETTINGS))
    assert n_rows <= 2, n_rows
    # a different number of rows is another shape: another sampler
    _, n_fewer = compiles_during(lambda: model.run(data.iloc[:80], seed=4, **SETTINGS))
    assert n_fewer > 20, n_fewer


def test_reuse_gives_the_same_draws_as_a_fresh_sampler(example) -> None:
    model, data = example
    nuts._samplers.clear()
    fresh = model.run(data, seed=7, **SETTINGS).idata.posterior
    assert nuts._samplers, "the run kept its sampler"
    kept = model.run(data, seed=7, **SETTINGS).idata.posterior
    for name in fresh.data_vars:
        np.testing.assert_array_equal(fresh[name].values, kept[name].values, err_msg=name)


def test_a_kept_sampler_sees_the_new_data(example) -> None:
    """y + 3 on the same x: the fitted function moves up by ~3 at the data (data baked into the compiled loop
    would leave it where it was)."""
    model, data = example
    nuts._samplers.clear()
    base = model.run(data, seed=0, **SETTINGS)
    moved = model.run(data.assign(y=data["y"] + 3.0), seed=0, **SETTINGS)
    assert len(nuts._samplers) == 1  # the second run used the first one's sampler
    inputs = data[["x"]]
    shift = np.mean(moved.predict(inputs)["y.mean"] - base.predict(inputs)["y.mean"])
    assert 2.7 < shift < 3.3, shift


@pytest.mark.long  # ~30 s: run by CI with the other long checks (README's test command stays under 10 min)
def test_samplers_kept_are_bounded(example) -> None:
    model, data = example
    nuts._samplers.clear()
    for n in range(60, 60 + nuts.SAMPLERS_KEPT + 2):
        model.run(data.iloc[:n], seed=0, chains=1, warmup=5, samples=5, max_tree_depth=2)
    assert len(nuts._samplers) == nuts.SAMPLERS_KEPT
