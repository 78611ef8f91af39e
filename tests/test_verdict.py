"""The report's judgement, on synthetic inputs whose answer is known: R-hat, ESS, loss curves, uncertainty splits."""

from __future__ import annotations

import numpy as np
import pytest

from bnnlang.diagnose.predictive import Predictive, function_space, rhat_ess
from bnnlang.diagnose.thresholds import Thresholds
from bnnlang.diagnose.verdict import judge, loss_converged
from bnnlang.posterior.predict import entropy_split, variance_split


def test_variance_split_by_hand() -> None:
    # two draws at one row: means 1 and 3 (var of means = 1), noise variances 0.5 and 1.5 (mean 1)
    total, aleatoric, epistemic = variance_split(np.array([[1.0], [3.0]]), np.array([[0.5], [1.5]]))
    assert aleatoric[0] == pytest.approx(1.0)
    assert epistemic[0] == pytest.approx(1.0)
    assert total[0] == pytest.approx(2.0)


def test_entropy_split_by_hand() -> None:
    # draws that are each certain, of different classes: total entropy log 2, aleatoric 0, MI log 2
    confident = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    total, aleatoric, mi = entropy_split(confident)
    assert total[0] == pytest.approx(np.log(2))
    assert aleatoric[0] == pytest.approx(0.0, abs=1e-9)
    assert mi[0] == pytest.approx(np.log(2))
    # draws that agree on (0.5, 0.5): all of it aleatoric, no mutual information
    agree = np.full((3, 1, 2), 0.5)
    total, aleatoric, mi = entropy_split(agree)
    assert aleatoric[0] == pytest.approx(np.log(2))
    assert mi[0] == pytest.approx(0.0, abs=1e-12)
    # one draw (0.9, 0.1), one (0.5, 0.5): mean (0.7, 0.3)
    p = np.array([[[0.9, 0.1]], [[0.5, 0.5]]])
    h = lambda q: -sum(x * np.log(x) for x in q)  # noqa: E731
    total, aleatoric, mi = entropy_split(p)
    assert total[0] == pytest.approx(h([0.7, 0.3]))
    assert aleatoric[0] == pytest.approx((h([0.9, 0.1]) + h([0.5, 0.5])) / 2)
    assert mi[0] == pytest.approx(h([0.7, 0.3]) - (h([0.9, 0.1]) + h([0.5, 0.5])) / 2)


def test_rhat_flags_chains_in_different_places() -> None:
    rng = np.random.default_rng(0)
    mixed = rng.standard_normal((4, 500, 3))
    assert np.all(rhat_ess(mixed)["r_hat"] < 1.01)
    apart = mixed + np.array([0.0, 0.0, 0.0, 3.0])[:, None, None]  # one chain stuck elsewhere
    assert np.all(rhat_ess(apart)["r_hat"] > 1.1)


def test_one_chain_is_split_in_two() -> None:
    rng = np.random.default_rng(1)
    drifting = rng.standard_normal((1, 400, 1)) + np.linspace(0, 4, 400)[None, :, None]
    assert rhat_ess(drifting)["r_hat"][0] > 1.1
    assert rhat_ess(rng.standard_normal((1, 400, 1)))["r_hat"][0] < 1.02


def test_function_space_judges_outputs_not_weights() -> None:
    rng = np.random.default_rng(2)
    # weights of two chains are sign-flipped copies (w and -w), but the outputs f = w^2 x agree
    w = rng.standard_normal((1, 300, 1)) + 2.0
    weights = np.concatenate([w, -w])
    outputs = weights**2 * np.linspace(0.5, 1.5, 5)
    assert rhat_ess(weights)["r_hat"][0] > 1.5
    pred = Predictive("y", outputs, outputs, np.ones_like(outputs), None)
    fs = function_space(pred)
    assert fs["rows"] == 5 and fs["max_r_hat"] < 1.01


def _summary(r_hat: float, ess: float, divergences: int = 0) -> dict:
    scalar = {"r_hat": r_hat, "ess_bulk": ess, "ess_tail": ess}
    return {"scalars": {"sigma": scalar}, "sampler": {"divergences": divergences, "bfmi": [0.9, 0.8]}}


def test_verdict_passes_and_fails_on_thresholds() -> None:
    limits = Thresholds()
    good = judge(True, 2, _summary(1.003, 900), {}, None, None, limits)
    assert good.ok and good.headline.startswith("converged")
    bad = judge(True, 2, _summary(1.05, 900), {}, None, None, limits)
    assert not bad.ok and "R-hat of parameter sigma is 1.050" in bad.headline
    few = judge(True, 4, _summary(1.0, 350), {}, None, None, limits)  # 4 chains need 400
    assert not few.ok and "ESS" in few.headline
    assert judge(True, 4, _summary(1.0, 350), {}, None, None, Thresholds(ess_min_per_chain=50)).ok
    div = judge(True, 2, _summary(1.0, 900, divergences=3), {}, None, None, limits)
    assert not div.ok and "3 divergent" in div.headline
    assert judge(True, 2, _summary(1.0, 900, divergences=3), {}, None, None, Thresholds(max_divergences=5)).ok


def test_verdict_uses_function_space_and_warns_on_bfmi() -> None:
    fs = {"y": {"max_r_hat": 1.2, "min_ess_bulk": 900, "min_ess_tail": 900, "r_hat": [1.2]}}
    v = judge(True, 2, {"scalars": {}}, fs, None, None, Thresholds())
    assert not v.ok and "predictions of y" in v.headline
    low = {"scalars": {}, "sampler": {"divergences": 0, "bfmi": [0.1, 0.9]}}
    w = judge(True, 2, low, {}, None, None, Thresholds())
    assert w.ok and w.warnings and "with warnings" in w.headline


def test_loss_converged() -> None:
    rng = np.random.default_rng(3)
    steps = np.arange(5000)
    flat = 100 * np.exp(-steps / 300) + 50 + rng.standard_normal(5000)
    still_falling = 100 * np.exp(-steps / 5000) + 50 + rng.standard_normal(5000)
    assert loss_converged(list(flat), 1e-3)[0]
    assert not loss_converged(list(still_falling), 1e-3)[0]
    svi = judge(False, 1, {}, {}, None, list(still_falling), Thresholds())
    assert not svi.ok and "loss still falls" in svi.headline


def test_prediction_rhat_is_judged_on_its_95th_percentile_and_a_looser_worst_case() -> None:
    rng = np.random.default_rng(4)
    # independent draws at 200 inputs: perfect mixing, yet the largest of 200 R-hats is often above 1.01
    iid = rng.standard_normal((2, 400, 200))
    fs = function_space(Predictive("y", iid, iid, np.ones_like(iid), None))
    assert fs["q95_r_hat"] <= 1.01 and fs["q95_r_hat"] <= fs["max_r_hat"] < 1.05
    assert judge(True, 2, {"scalars": {}}, {"y": fs}, None, None, Thresholds()).ok
    # one region where the chains disagree fails, through the worst-input bound
    stuck = iid.copy()
    stuck[1, :, :5] += 1.0
    fs = function_space(Predictive("y", stuck, stuck, np.ones_like(stuck), None))
    v = judge(True, 2, {"scalars": {}}, {"y": fs}, None, None, Thresholds())
    failed = [c.name for c in v.failures]
    assert "r_hat: predictions of y (worst input)" in failed and "r_hat: predictions of y" not in failed
    # disagreement at many inputs fails the 95% rule too
    stuck[1, :, :50] += 0.3
    fs = function_space(Predictive("y", stuck, stuck, np.ones_like(stuck), None))
    names = [c.name for c in judge(True, 2, {"scalars": {}}, {"y": fs}, None, None, Thresholds()).failures]
    assert "r_hat: predictions of y" in names


def _ar1(rng: np.random.Generator, chains: int, draws: int, rho: float) -> np.ndarray:
    """Stationary AR(1) chains [chains, draws, 1] with unit marginal sd (about draws/4 effective draws at 0.6)."""
    x = np.zeros((chains, draws, 1))
    noise = rng.standard_normal((chains, draws, 1)) * np.sqrt(1 - rho**2)
    x[:, 0] = rng.standard_normal((chains, 1))
    for t in range(1, draws):
        x[:, t] = rho * x[:, t - 1] + noise[:, t]
    return x


def test_within_member_rhat_passes_stationary_members_and_catches_a_stuck_one() -> None:
    """Pooled within-member R-hat: autocorrelated but stationary members in modes of different spreads pass at
    about the nominal rate (the worst single-chain split R-hat failed nearly all of them); a member stuck in
    one place for its first half and another for its second fails."""
    from bnnlang.diagnose.predictive import within_members

    rng = np.random.default_rng(11)
    spreads = np.array([0.5, 1.0, 2.0, 3.0])[:, None, None]
    modes = np.array([-3.0, 0.0, 3.0, 10.0])[:, None, None]
    rhats = [within_members(modes + spreads * _ar1(rng, 4, 400, 0.6))["r_hat"][0] for _ in range(60)]
    assert np.mean(np.array(rhats) > 1.01) <= 0.2
    worst_single = [
        max(rhat_ess(v[c : c + 1])["r_hat"][0] for c in range(4))
        for v in (modes + spreads * _ar1(rng, 4, 400, 0.6) for _ in range(20))
    ]
    assert np.mean(np.array(worst_single) > 1.01) >= 0.5  # why the rule changed
    stuck = modes + spreads * _ar1(rng, 4, 400, 0.6)
    stuck[2, 200:] += 4.0 * spreads[2]
    assert within_members(stuck)["r_hat"][0] > 1.05


def test_ensemble_chains_are_judged_within_members() -> None:
    from bnnlang.diagnose.predictive import between_share, within_members

    rng = np.random.default_rng(5)
    # three members, each well mixed around its own mode: pooled R-hat is huge, within-member R-hat is fine
    modes = np.array([-3.0, 0.0, 3.0])[:, None, None]
    values = modes + 0.5 * rng.standard_normal((3, 400, 4))
    assert np.all(rhat_ess(values)["r_hat"] > 1.5)
    inside = within_members(values)
    assert np.all(inside["r_hat"] < 1.02)
    # ESS adds up over members: close to 3 x 400 for independent draws
    assert np.all(inside["ess_bulk"] > 900)
    # between-member share of the spread: var of modes (6) / (6 + 0.25)
    assert between_share(values) == pytest.approx(6.0 / 6.25, abs=0.02)
    # a member that drifts fails within itself
    values[1] += np.linspace(0, 3, 400)[:, None]
    assert np.max(within_members(values)["r_hat"]) > 1.1
    pred = Predictive("y", values, values, np.ones_like(values), None)
    fs = function_space(pred, members=True)
    assert fs["within"] == "members" and fs["pooled_max_r_hat"] > 1.5 and fs["max_r_hat"] > 1.1
