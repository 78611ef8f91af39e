"""Simulation-based calibration of NUTS on compiled models (bnnlang/sbc.py): ranks of the true values
among posterior draws are uniform for the right model, and far from it for a mis-scaled likelihood.
The full runs on three models (hierarchical normal, 1-3-1 BNN, GP with hyperpriors) are marked slow;
benchmarks/sbc.py writes their tables."""

from __future__ import annotations

import numpy as np
import pytest
from models import load_benchmark

from bnnlang.api import Model
from bnnlang.check.data import BoundData
from bnnlang.sbc import SBCResult, bonferroni_min, run_sbc, scalar_quantities

# benchmarks/sbc.py's hierarchical model, with shorter chains; MIS_SCALED doubles the likelihood's noise sd
HIERARCHICAL = load_benchmark("sbc").HIERARCHICAL.replace("warmup = 500, samples = 1000", "warmup = 200, samples = 200")
MIS_SCALED = HIERARCHICAL.replace("Normal(a[g], sigma)", "Normal(a[g], 2 * sigma)")
assert "samples = 200" in HIERARCHICAL and "2 * sigma" in MIS_SCALED


def _groups(per_group: int = 10) -> BoundData:
    g = np.repeat(np.arange(4), per_group).astype(np.int32)
    return BoundData({"g": g}, {"N": len(g)}, "<sbc inputs>")


def test_rank_statistics_and_uniformity_test():
    uniform = SBCResult(draws=99, ranks={"u": list(np.arange(1000) % 100)})
    skewed = SBCResult(draws=99, ranks={"s": [99] * 30 + list(range(0, 100, 10))})
    assert uniform.pvalues()["u"] > 0.99
    assert skewed.pvalues()["s"] < 1e-6
    assert uniform.histograms(bins=4)["u"] == [250] * 4
    assert bonferroni_min({"a": 0.01, "b": 0.5}) == pytest.approx(0.02)
    with pytest.raises(ValueError, match="do not split"):
        uniform.pvalues(bins=7)


@pytest.mark.long
def test_sbc_passes_the_hierarchical_model_and_fails_a_mis_scaled_likelihood():
    """30 replications: enough to fail a sampler whose likelihood is off by a factor of two (the fitted
    model's noise sd is 2 sigma), which puts sigma's true value above nearly every posterior draw.
    Ten rows per group: with five, NUTS diverges in a third of the replications (the centred form's
    funnel when tau is small) and a[1]'s ranks came out lopsided (p = 0.003); benchmarks/sbc.py runs that."""
    model = Model.from_source(HIERARCHICAL)
    names = ["mu", "tau", "sigma", "a"]
    good = run_sbc(model, _groups(), reps=30, quantities=scalar_quantities(names), draws=19)
    p_good = good.pvalues(bins=5)
    broken = Model.from_source(MIS_SCALED)
    bad = run_sbc(model, _groups(), 30, scalar_quantities(names), draws=19, fit_model=broken)
    p_bad = bad.pvalues(bins=5)
    print("correct:", good.histograms(bins=5), "\nmis-scaled:", bad.histograms(bins=5))
    assert bonferroni_min(p_good) > 0.01, p_good
    assert p_bad["sigma"] < 1e-6, p_bad


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hierarchical", "bnn", "gp"])
def test_full_sbc_of_the_benchmark_models(name):
    """benchmarks/sbc.py's three models, 100 replications each (2-7 minutes per model on 2 cores): every
    family of quantities passes uniformity at a Bonferroni-corrected 0.005 (seeds are fixed, so the result is
    reproducible; benchmarks/results/sbc.md has the tables)."""
    model, inputs, quantities = load_benchmark("sbc").setups()[name]
    result = run_sbc(model, inputs, 100, quantities, draws=99)
    p = result.pvalues()
    assert bonferroni_min(p) > 0.005, (p, result.histograms())
