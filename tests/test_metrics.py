"""Held-out metrics (bnnlang.diagnose.metrics) against values worked out by hand on tiny inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bnnlang.diagnose.metrics import (
    accuracy,
    auroc,
    brier,
    calibration_bins,
    classification_nll,
    confidence_reading,
    expected_calibration_error,
    interval_coverage,
    nlpd,
    pit,
    pit_histogram,
    rmse,
)

# --- regression -------------------------------------------------------------------------------


def test_rmse_by_hand():
    # errors 0, -2, 3 -> squares 0, 4, 9 -> mean 13/3
    assert rmse([1.0, 2.0, 3.0], [1.0, 4.0, 0.0]) == pytest.approx(math.sqrt(13 / 3))


def test_rmse_refuses_broadcasting_shapes():
    with pytest.raises(ValueError, match=r"mean has shape \(3, 1\)"):
        rmse(np.zeros(3), np.zeros((3, 1)))


def test_nlpd_2x2_direct_formula():
    # densities p[s, n]: row 0 has draws 0.2, 0.6 -> mean 0.4; row 1 has 0.5, 0.1 -> mean 0.3
    p = np.array([[0.2, 0.5], [0.6, 0.1]])
    expected = -(math.log(0.4) + math.log(0.3)) / 2
    assert nlpd(np.log(p)) == pytest.approx(expected)


def test_nlpd_stable_for_tiny_densities():
    # every draw gives log p = -1000: the mean density is e^-1000 per row, so nlpd = 1000 (exp underflows)
    assert nlpd(np.full((3, 2), -1000.0)) == pytest.approx(1000.0)
    # draws -1000 and -1000 - log 3: mean density e^-1000 (1 + 1/3) / 2 = e^-1000 * 2/3
    logp = np.array([[-1000.0], [-1000.0 - math.log(3)]])
    assert nlpd(logp) == pytest.approx(1000.0 - math.log(2 / 3))


def test_nlpd_zero_density_draws():
    # one draw with zero density halves the mean: row density 0.5 * 0.5 = 0.25
    assert nlpd(np.array([[math.log(0.5)], [-np.inf]])) == pytest.approx(-math.log(0.25))
    # a row that no draw explains has density 0: infinite nlpd, not nan
    assert nlpd(np.full((2, 1), -np.inf)) == math.inf


def test_nlpd_needs_draws_and_rows():
    with pytest.raises(ValueError, match="logp"):
        nlpd(np.zeros(4))


def _row_draws(offsets: np.ndarray) -> np.ndarray:
    # S = 5 draws per row: offset + 0, 1, 2, 3, 4
    return np.arange(5.0)[:, None] + offsets[None, :]


def test_interval_coverage_by_hand():
    # draws 0..4 (+ a per-row offset); np.quantile (linear) at q is the value at index 4q:
    #   0.50 -> [q.25, q.75] = [1, 3]      0.80 -> [0.4, 3.6]
    #   0.90 -> [0.2, 3.8]                 0.95 -> [0.1, 3.9]
    offsets = np.array([0.0, 10.0, 20.0, 30.0, 40.0, 50.0])
    rel = np.array([1.0, 3.0, 0.5, 0.3, 3.7, 5.0])
    # inside:   0.5: 1, 3 (ends inclusive)   0.8: + 0.5   0.9: + 0.3, 3.7   0.95: same as 0.9   5.0: never
    cov = interval_coverage(offsets + rel, _row_draws(offsets))
    assert cov == pytest.approx({0.5: 2 / 6, 0.8: 3 / 6, 0.9: 5 / 6, 0.95: 5 / 6})


def test_interval_coverage_trailing_dims_match_flat():
    offsets = np.array([0.0, 10.0, 20.0, 30.0, 40.0, 50.0])
    y = offsets + np.array([1.0, 3.0, 0.5, 0.3, 3.7, 5.0])
    draws = _row_draws(offsets)
    flat = interval_coverage(y, draws, levels=(0.8,))
    assert interval_coverage(y.reshape(2, 3), draws.reshape(5, 2, 3), levels=(0.8,)) == flat == {0.8: 0.5}


def test_interval_coverage_refuses_mismatched_draws():
    with pytest.raises(ValueError, match=r"draws has shape \(5, 3, 1\) but y has shape \(3,\)"):
        interval_coverage(np.zeros(3), np.zeros((5, 3, 1)))
    with pytest.raises(ValueError, match="levels"):
        interval_coverage(np.zeros(3), np.zeros((5, 3)), levels=(1.5,))


def test_pit_by_hand():
    # S = 4 draws 0, 1, 2, 3 for each of 4 rows
    draws = np.tile(np.arange(4.0)[:, None], (1, 4))
    y = np.array([1.5, 1.0, -1.0, 3.0])
    # 1.5: 2 below -> 2/4;  1.0: 1 below, 1 tie -> 1/4 + 1/8;  -1: 0;  3.0: 3 below, 1 tie -> 3/4 + 1/8
    np.testing.assert_allclose(pit(y, draws), [0.5, 0.375, 0.0, 0.875])


def test_pit_draws_identical_to_y_is_half():
    # count data predicted exactly: every draw ties with y, so PIT = 0 + 0.5 * 1
    y = np.array([0.0, 3.0, 7.0])
    np.testing.assert_allclose(pit(y, np.tile(y, (6, 1))), [0.5, 0.5, 0.5])


def test_pit_keeps_y_shape():
    y = np.arange(6.0).reshape(2, 3)
    draws = np.stack([y - 1, y + 1])  # one draw below, one above each y -> 1/2
    out = pit(y, draws)
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out, 0.5)


def test_pit_histogram_by_hand():
    # bins of width 0.1: [0, .1) gets 0, .05; [.1, .2) gets .1; [.3, .4) gets .3 (on its left edge);
    # [.5, .6) gets .55; the last bin [.9, 1] gets .99 and 1.0
    values = [0.0, 0.05, 0.1, 0.3, 0.55, 0.99, 1.0]
    np.testing.assert_array_equal(pit_histogram(values), [2, 1, 0, 1, 0, 1, 0, 0, 0, 2])
    np.testing.assert_array_equal(pit_histogram(values, bins=2), [4, 3])


def test_pit_histogram_refuses_values_off_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        pit_histogram([0.5, 1.2])


# --- classification ---------------------------------------------------------------------------

# Five rows, three classes. top-label confidence / predicted class / right?
#   a: .40 / 0 / yes     b: .45 / 1 / no (label 2)     c: .60 / 1 / yes
#   d: 1.0 / 0 / yes     e: .90 / 2 / no (label 1)
PROBS = np.array(
    [
        [0.4, 0.3, 0.3],
        [0.2, 0.45, 0.35],
        [0.1, 0.6, 0.3],
        [1.0, 0.0, 0.0],
        [0.05, 0.05, 0.9],
    ]
)
LABELS = np.array([0, 2, 1, 0, 1])


def test_accuracy_by_hand():
    assert accuracy(LABELS, PROBS) == pytest.approx(3 / 5)


def test_classification_nll_by_hand():
    # true-class probabilities .4, .35, .6, 1.0, .05
    expected = -(math.log(0.4) + math.log(0.35) + math.log(0.6) + 0.0 + math.log(0.05)) / 5
    assert classification_nll(LABELS, PROBS) == pytest.approx(expected)


def test_classification_nll_clips_zero_probability():
    # true class given probability 0: -log(1e-12) instead of inf
    assert classification_nll([1], [[1.0, 0.0]]) == pytest.approx(12 * math.log(10))


def test_brier_by_hand():
    # a: .36 + .09 + .09 = .54        b: .04 + .2025 + .4225 = .665     c: .01 + .16 + .09 = .26
    # d: 0                            e: .0025 + .9025 + .81 = 1.715    sum 3.18 / 5
    assert brier(LABELS, PROBS) == pytest.approx(3.18 / 5)


def test_brier_binary_is_twice_the_binary_score():
    # p(positive) = .7, label positive: binary (0.7 - 1)^2 = .09; multi-class counts both columns
    assert brier([1], [[0.3, 0.7]]) == pytest.approx(2 * 0.09)


def test_calibration_bins_by_hand():
    # bins=4, edges 0, .25, .5, .75, 1: bin 1 gets a (.40), b (.45); bin 2 gets c (.60); bin 3 gets e (.90), d (1.0)
    table = calibration_bins(LABELS, PROBS, bins=4)
    np.testing.assert_allclose(table["edges"], [0.0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_array_equal(table["count"], [0, 2, 1, 2])
    assert np.issubdtype(table["count"].dtype, np.integer)
    np.testing.assert_allclose(table["confidence"], [np.nan, 0.425, 0.6, 0.95])
    np.testing.assert_allclose(table["accuracy"], [np.nan, 0.5, 1.0, 0.5])


def test_ece_by_hand():
    # 2/5 * |.5 - .425| + 1/5 * |1 - .6| + 2/5 * |.5 - .95| = .03 + .08 + .18
    assert expected_calibration_error(LABELS, PROBS, bins=4) == pytest.approx(0.29)


def test_ece_zero_when_calibrated():
    # ten rows at confidence .8 with 8 right, four rows at .75 with 3 right: accuracy equals confidence per bin
    probs = np.array([[0.8, 0.2]] * 10 + [[0.25, 0.75]] * 4)
    labels = np.array([0] * 8 + [1] * 2 + [1] * 3 + [0])
    assert expected_calibration_error(labels, probs) == pytest.approx(0.0, abs=1e-12)
    assert calibration_bins(labels, probs)["count"].sum() == 14


def test_confidence_reading_says_over_under_or_calibrated():
    """Simulated labels drawn from known class probabilities: honest, sharpened and flattened predictions."""
    rng = np.random.default_rng(0)
    p_true = rng.uniform(0.5, 1.0, 4000)
    labels = (rng.uniform(size=p_true.size) > p_true).astype(int)  # class 0 with probability p_true

    def probs(p):
        return np.column_stack([p, 1 - p])

    honest = confidence_reading(labels, probs(p_true))
    sharp = confidence_reading(labels, probs(0.5 + 0.5 * np.sqrt(2 * p_true - 1)))
    flat = confidence_reading(labels, probs(0.5 + 0.5 * (2 * p_true - 1) ** 2))
    assert honest["reading"].startswith("calibrated") and abs(honest["confidence_gap"]) < 2 * honest["gap_se"]
    assert sharp["reading"].startswith("over-confident") and sharp["confidence_gap"] > 0.03
    assert flat["reading"].startswith("under-confident") and flat["confidence_gap"] < -0.03


def test_classification_shape_checks():
    with pytest.raises(ValueError, match=r"labels has shape \(4,\)"):
        accuracy(np.zeros(4, dtype=int), PROBS)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        brier(np.array([0, 1, 2, 3, 0]), PROBS)
    with pytest.raises(ValueError, match="probs must be"):
        classification_nll([0, 1], [0.5, 0.5])
    with pytest.raises(ValueError, match="whole numbers"):
        accuracy([0.5, 1, 2, 0, 1], PROBS)


# --- AUROC ------------------------------------------------------------------------------------


def test_auroc_by_hand_with_ties():
    # negatives 1, 2, 3; positive 2 beats 1, ties 2 -> 1.5; positive 4 beats all three -> 3; 4.5 / (3 * 2)
    assert auroc([1.0, 2.0, 3.0], [2.0, 4.0]) == pytest.approx(0.75)


def test_auroc_identical_and_separated():
    scores = [0.3, 0.1, 0.7, 0.7]
    assert auroc(scores, scores) == pytest.approx(0.5)
    assert auroc([0.1, 0.2], [0.5, 0.9, 0.6]) == 1.0
    assert auroc([0.5, 0.9, 0.6], [0.1, 0.2]) == 0.0
    assert auroc([2.0, 2.0], [2.0]) == 0.5


def test_auroc_refuses_empty():
    with pytest.raises(ValueError, match="negatives"):
        auroc([], [1.0])
    with pytest.raises(ValueError, match="positives"):
        auroc([1.0], [])


scores = st.lists(st.integers(-5, 5).map(float), min_size=1, max_size=20)


@settings(max_examples=60, deadline=None)
@given(scores, scores)
def test_auroc_properties(a, b):
    # swapping the roles complements the score; and it equals the pairwise definition
    assert auroc(a, b) + auroc(b, a) == pytest.approx(1.0)
    pairwise = sum((p > n) + 0.5 * (p == n) for p in b for n in a) / (len(a) * len(b))
    assert auroc(a, b) == pytest.approx(pairwise)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_coverage_monotone_in_level(seed):
    rng = np.random.default_rng(seed)
    draws = rng.normal(size=(7, 12))
    y = rng.normal(scale=2.0, size=12)
    levels = (0.1, 0.3, 0.5, 0.8, 0.9, 0.95, 1.0)
    cov = interval_coverage(y, draws, levels)
    values = [cov[level] for level in levels]
    assert values == sorted(values)
    # level 1 spans the draws' min to max
    assert cov[1.0] == pytest.approx(np.mean((y >= draws.min(0)) & (y <= draws.max(0))))
