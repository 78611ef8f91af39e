"""The report's figures: valid, non-blank, small PNGs; hostile names; edge inputs; no pyplot figures left open."""

from __future__ import annotations

import io

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest

from bnnlang.diagnose import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HOSTILE = "$x_1$ <b>&"
BAD_MATH = r"$\nosuchcommand$ w"  # mathtext would raise on this at draw time


def _check_png(data: bytes, min_h: int = 250, max_h: int = 480) -> np.ndarray:
    assert isinstance(data, bytes)
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) < 150_000
    image = mpimg.imread(io.BytesIO(data))
    height, width = image.shape[:2]
    # 6.4 in x 3.4 in at 96 dpi is 614 x 326 px before the tight bbox trims or grows it a little.
    assert 450 <= width <= 720
    assert min_h <= height <= max_h
    assert image[..., :3].std() > 0.03  # a blank (all-white) image has std 0
    return image


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _no_open_figures():
    before = len(plt.get_fignums())
    yield
    assert len(plt.get_fignums()) == before


def _all_figures(rng: np.random.Generator, name: str) -> dict[str, bytes]:
    x_grid = np.linspace(-3.0, 3.0, 50)
    edges = np.linspace(0.0, 1.0, 6)
    return {
        "trace": plots.trace_and_rank(name, rng.normal(size=(3, 200))),
        "predictive": plots.predictive_1d(
            rng.uniform(-2, 2, 30),
            rng.normal(size=30),
            x_grid,
            np.sin(x_grid),
            0.1 + 0.05 * x_grid**2,
            np.full(50, 0.3),
            name,
            name,
        ),
        "uncertainty": plots.uncertainty_1d(x_grid, 0.1 + 0.05 * x_grid**2, np.full(50, 0.3), name),
        "ppc_continuous": plots.ppc(rng.normal(size=100), rng.normal(size=(20, 100)), name, False),
        "ppc_discrete": plots.ppc(rng.poisson(2.0, 80), rng.poisson(2.0, (20, 80)), name, True),
        "pit": plots.pit_hist(np.array([12, 9, 11, 8, 10]), name),
        "coverage": plots.coverage([0.5, 0.8, 0.9], [0.45, 0.76, 0.91]),
        "reliability": plots.reliability(
            np.array([0.1, 0.3, 0.5, 0.7, 0.9]),
            np.array([0.2, 0.25, 0.5, 0.6, 0.95]),
            np.array([5, 10, 20, 30, 40]),
            edges,
        ),
        "curve": plots.curve(rng.normal(size=300).cumsum(), name, name, name),
        "histogram_pairs": plots.histogram_pairs(
            rng.gamma(2.0, 1.0, 200), rng.gamma(4.0, 1.0, 100), name, name, name, name
        ),
    }


def test_every_figure_is_a_small_nonblank_png(rng):
    for key, data in _all_figures(rng, "w").items():
        _check_png(data, max_h=480 if key == "reliability" else 380)


@pytest.mark.parametrize("name", [HOSTILE, f"{HOSTILE} {BAD_MATH}", "_" + "n" * 500])
def test_user_text_is_drawn_literally(rng, name):
    # BAD_MATH raises ValueError inside matplotlib if any user string is parsed as mathtext; the
    # 501-character name (leading "_", which legends hide unless given explicitly) must be cut rather
    # than stretch the figure past the width bounds.
    for data in _all_figures(rng, name).values():
        _check_png(data)


def test_trace_and_rank_one_chain_and_one_dimensional_input(rng):
    values = rng.normal(size=(1, 120))
    one_chain = plots.trace_and_rank("w", values)
    _check_png(one_chain)
    assert plots.trace_and_rank("w", values[0]) == one_chain  # [draws] is read as one chain


def test_trace_and_rank_survives_nan_constant_and_single_draw(rng):
    values = rng.normal(size=(2, 100))
    values[0, 10:20] = np.nan
    _check_png(plots.trace_and_rank("w", values))
    _check_png(plots.trace_and_rank("w", np.ones((4, 50))))
    _check_png(plots.trace_and_rank("w", np.array([[0.3]])))


def test_trace_and_rank_rejects_three_dimensions():
    with pytest.raises(ValueError, match="chains, draws"):
        plots.trace_and_rank("w", np.zeros((2, 3, 4)))


def test_curve_with_nan_in_the_middle_and_chains(rng):
    values = rng.normal(size=500).cumsum()
    values[200:210] = np.nan
    _check_png(plots.curve(values, "loss", "loss"))
    chains = -300.0 + rng.normal(size=(4, 1000))
    chains[:, 500] = np.nan
    _check_png(plots.curve(chains, "log-likelihood", "log p", "draw"))  # dense: goes through the palette path
    _check_png(plots.curve(np.full(30, np.nan), "loss", "loss"))


def test_reliability_with_empty_bins():
    nan = np.nan
    data = plots.reliability(
        np.array([nan, nan, 0.55, nan, 0.92]),
        np.array([nan, nan, 0.5, nan, 0.9]),
        np.array([0, 0, 12, 0, 40]),
        np.linspace(0.0, 1.0, 6),
    )
    _check_png(data, max_h=480)
    everything_empty = plots.reliability(np.full(4, nan), np.full(4, nan), np.zeros(4), np.linspace(0, 1, 5))
    _check_png(everything_empty, max_h=480)


def test_empty_inputs_give_a_figure_not_an_error():
    _check_png(plots.histogram_pairs([], [], "a", "b", "t", "x"))
    _check_png(plots.histogram_pairs([1.0, 2.0], [np.nan], "a", "b", "t", "x"))
    _check_png(plots.pit_hist(np.zeros(10), "PIT"))
    _check_png(plots.coverage([], []))


def test_same_input_gives_the_same_bytes(rng):
    values = rng.normal(size=(2, 80))
    assert plots.trace_and_rank("w", values) == plots.trace_and_rank("w", values)


# --- numerical helpers, against hand-computed values -----------------------------------------------


def test_ranks_average_ties():
    np.testing.assert_array_equal(plots._ranks(np.array([3.0, 1.0, 2.0])), [2.0, 0.0, 1.0])
    # sorted: 1, 2, 5, 5 -> the two fives share (2 + 3) / 2
    np.testing.assert_array_equal(plots._ranks(np.array([5.0, 1.0, 5.0, 2.0])), [2.5, 0.0, 2.5, 1.0])


def test_binomial_interval_exact_small_cases():
    # Binomial(4, 1/2) cdf: 1/16, 5/16, 11/16, 15/16, 1
    assert plots._binom_interval(4, 0.5, 0.8) == (1, 3)  # first k with cdf >= 0.1 and >= 0.9
    assert plots._binom_interval(4, 0.5, 0.99) == (0, 4)
    # Binomial(10, 0.1) cdf: 0.349, 0.736, 0.930, 0.987, 0.998 -> 0.995 is first reached at k = 4
    assert plots._binom_interval(10, 0.1, 0.99) == (0, 4)
    assert plots._binom_interval(0, 0.1, 0.99) == (0, 0)


def test_binomial_interval_large_n_matches_normal_approximation():
    # n = 10000, p = 0.1: mean 1000, sd 30; 99% central is about 1000 -/+ 2.576 * 30 = 922.7 .. 1077.3
    lo, hi = plots._binom_interval(10_000, 0.1, 0.99)
    assert abs(lo - 923) <= 2
    assert abs(hi - 1078) <= 2
    # past the exact range: n = 10^7, p = 0.1 -> mean 10^6, sd ~948.7, 2.576 sd ~ 2443.7
    lo, hi = plots._binom_interval(10_000_000, 0.1, 0.99)
    assert abs(lo - 997_556) <= 2
    assert abs(hi - 1_002_444) <= 2


def test_shared_edges_follow_the_rice_rule_and_survive_outliers():
    # 1000 points: 2 * 1000^(1/3) = 20 bins over [0, 10]
    np.testing.assert_allclose(plots._shared_edges(np.linspace(0.0, 10.0, 1000)), np.linspace(0.0, 10.0, 21))
    # a bulk with almost no spread plus one far value: still at most 60 bins
    bulk = np.concatenate([np.full(5000, 0.1) + np.arange(5000) * 1e-12, [1e6]])
    assert plots._shared_edges(bulk).size <= 61
    # constant data: 2 points -> ceil(2 * 2^(1/3)) = 3, raised to 10 bins over value -/+ 0.5
    np.testing.assert_allclose(plots._shared_edges(np.array([2.0, 2.0])), np.linspace(1.5, 2.5, 11))


def test_running_mean_trailing_and_skipping_nan():
    np.testing.assert_allclose(plots._running_mean(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), 2), [1.5, 2.5, 3.5, 4.5])
    got = plots._running_mean(np.array([1.0, np.nan, 3.0, np.nan, np.nan]), 2)
    np.testing.assert_allclose(got, [1.0, 3.0, 3.0, np.nan])


def test_clipped_ylim_only_when_an_early_value_is_far_off():
    tail = np.tile([0.0, 1.0], 50)  # percentiles 1 and 99 of the last 90% are 0 and 1
    spiky = np.concatenate([[1e6], tail])
    assert plots._clipped_ylim(spiky) == pytest.approx((-0.1, 1.1))
    assert plots._clipped_ylim(np.concatenate([[1.5], tail])) is None  # within one range of the rest


def test_kde_integrates_to_one_and_peaks_at_the_mode(rng):
    samples = rng.normal(2.0, 0.5, 5000)
    grid = np.linspace(-2.0, 6.0, 400)
    density = plots._kde(samples, grid, samples.size)
    assert np.sum(density) * (grid[1] - grid[0]) == pytest.approx(1.0, abs=0.01)
    assert abs(grid[np.argmax(density)] - 2.0) < 0.15
