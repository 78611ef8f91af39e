"""The pure helpers of benchmarks/nuts_overhead.py, on hand-made arrays (the benchmark itself is not run here).

Importing the script leaves XLA_FLAGS alone (it pins one device only when run as a script), so this module
cannot change the device count of the other tests in the same process.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

flags_before = os.environ.get("XLA_FLAGS")
import nuts_overhead as bench  # noqa: E402


def test_import_leaves_xla_flags_alone():
    assert os.environ.get("XLA_FLAGS") == flags_before


def test_one_device_flags_replaces_the_device_count():
    flags = bench.one_device_flags("--foo --xla_force_host_platform_device_count=4")
    assert flags.split() == ["--foo", "--xla_force_host_platform_device_count=1"]


def test_per_unit_and_difference():
    assert bench.per_unit_us(2.0, 1000) == pytest.approx(2000.0)
    # fixed costs (compile, warmup) of 5 s cancel: 3 s more for 1,000 more leapfrogs is 3,000 µs each
    assert bench.difference_per_unit_us((5.0 + 1.0, 500), (5.0 + 4.0, 1500)) == pytest.approx(3000.0)
    with pytest.raises(ValueError):
        bench.difference_per_unit_us((1.0, 10), (2.0, 10))


def test_bulk_ess_independent_draws_near_their_count():
    rng = np.random.default_rng(0)
    f = rng.standard_normal((4, 500, 3))
    ess = bench.bulk_ess(f)
    assert ess.shape == (3,)
    assert np.all((ess > 1200) & (ess < 2800))  # 2,000 independent draws


def test_bulk_ess_chains_stuck_apart_are_few_draws():
    rng = np.random.default_rng(1)
    f = rng.standard_normal((2, 500, 1)) * 0.1 + np.array([-3.0, 3.0])[:, None, None]
    assert bench.bulk_ess(f)[0] < 10
    assert bench.max_rhat(f) > 1.5


def test_log_predictive_density_matches_one_normal():
    y = np.array([0.0, 1.0])
    f = np.zeros((3, 2))  # three identical draws
    sigma = np.ones(3)
    expected = np.mean(-0.5 * math.log(2 * math.pi) - 0.5 * y**2)
    assert bench.log_predictive_density(f, sigma, y) == pytest.approx(expected)


def test_log_predictive_density_is_log_of_the_mixture():
    y = np.array([0.5])
    f = np.array([[0.0], [1.0]])
    sigma = np.array([1.0, 2.0])
    dens = [math.exp(-0.5 * ((0.5 - m) / s) ** 2) / (s * math.sqrt(2 * math.pi)) for m, s in zip([0, 1], sigma)]
    assert bench.log_predictive_density(f, sigma, y) == pytest.approx(math.log(np.mean(dens)))


def test_hand_names_and_network_draws():
    width = bench.WIDTH
    shapes = {"mlp.0.weight": (1, width), "mlp.0.bias": (width,), "mlp.1.weight": (width, width)}
    shapes |= {"mlp.1.bias": (width,), "mlp.2.weight": (width, 1), "mlp.2.bias": (1,)}
    post = {k: np.zeros((2, 3, *s), np.float32) for k, s in shapes.items()}
    post["mlp.2.bias"] += 0.7  # f = the last bias when every weight is zero
    post["prec"] = np.ones((2, 3), np.float32)
    named = bench.hand_names(post)
    assert set(named) == {*bench.LAYERS, "prec"}
    f = bench.network_draws(named, np.linspace(-1, 1, 5).reshape(-1, 1))
    assert f.shape == (2, 3, 5)
    assert np.allclose(f, 0.7)


def test_median_record_takes_numbers_only():
    runs = [
        {"method": "a", "seed": 1, "x": 1.0},
        {"method": "a", "seed": 2, "x": 3.0},
        {"method": "a", "seed": 3, "x": 2.0},
    ]
    assert bench.median_record(runs) == {"x": 2.0}


def test_keeps_quality_needs_lpd_and_gap_spread():
    ref = {"test_lpd": 0.20, "pred_sd_gap": 1.0}
    assert bench.keeps_quality({"test_lpd": 0.16, "pred_sd_gap": 1.2}, ref)
    assert not bench.keeps_quality({"test_lpd": 0.14, "pred_sd_gap": 1.0}, ref)  # LPD 0.06 below
    assert not bench.keeps_quality({"test_lpd": 0.20, "pred_sd_gap": 0.7}, ref)  # 30% less spread in the gap


def test_complete_derives_missing_fields():
    run = {"method": "bnnlang", "seed": 1, "wall_s": 10.0, "median_ess_bulk_gap": 50.0, "test_lpd": 0.2}
    run |= {"pred_sd_gap": 1.0, "ess_per_s": 9.0}
    other = {**run, "wall_s": 5.0, "test_lpd": 0.0}
    record = {
        "per_leapfrog": [{"compiled_over_hand": 1.04}, {"compiled_over_hand": 1.2}],
        "predictive": {"runs": [run]},
        "exploration": [other],
    }
    out = bench.complete(record)
    assert [r["target_met"] for r in out["per_leapfrog"]] == [True, False]
    assert run["ess_per_s_gap"] == pytest.approx(5.0)
    assert other["ess_per_s_gap"] == pytest.approx(10.0)
    assert other["gap_ratio_to_defaults"] == pytest.approx(2.0)
    assert other["keeps_quality"] is False  # LPD 0.2 below the defaults'
