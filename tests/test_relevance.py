"""Input relevance (diagnose/relevance.py): the report says which inputs the fitted model uses."""

from __future__ import annotations

import time

import numpy as np
import pytest

from bnnlang.api import Model
from bnnlang.diagnose.html import render

SOURCE = """
data {
  x: real[N, 3] from (signal, noise, weak)
  y: real[N]
}
param sigma ~ HalfNormal(0.5)
network net(x) -> real[N] {
  dense(8, tanh)
  dense(1)
}
observe y ~ Normal(net(x), sigma)
"""


@pytest.mark.long  # ~35 s: a run and its whole report
def test_report_ranks_the_input_that_drives_y_first_and_an_unused_one_last():
    """y = sin(2 signal) + 0.2 weak + noise: the unused input's sensitivity is far below the signal's."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.5, 1.5, (80, 3)).astype(np.float32)
    y = (np.sin(2 * x[:, 0]) + 0.2 * x[:, 2] + 0.05 * rng.standard_normal(80)).astype(np.float32)
    run = Model.from_source(SOURCE).run({"x": x, "y": y}, chains=1, warmup=150, samples=100, seed=0)
    tick = time.perf_counter()
    report = run.report()
    print(f"report {time.perf_counter() - tick:.1f} s")
    entries = report.content["relevance"]["y"]
    by_input = {e["input"]: e for e in entries}
    assert [e["input"] for e in entries] == ["signal", "weak", "noise"]
    assert by_input["signal"]["relevance"] > 5 * by_input["noise"]["relevance"]
    assert by_input["signal"]["lo"] > by_input["noise"]["hi"]  # the intervals do not overlap
    assert abs(sum(e["share"] for e in entries) - 1) < 1e-9
    assert "Input relevance" in render(report)
