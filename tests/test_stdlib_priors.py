"""What the stdlib's priors imply, checked against facts known in closed form (their densities are checked
against hand-written NumPyro in test_logdensity.py)."""

from __future__ import annotations

import textwrap

import jax
import numpy as np
import pytest
from numpyro.infer import Predictive

from bnnlang.api import Model

SPIKE = textwrap.dedent(
    """
    import std.priors (spike_slab_relaxed)
    data {
      x: real[N, 4]
      y: real[N]
    }
    network mlp(x) -> real[N] {
      dense(16, tanh) { weight ~ spike_slab_relaxed(inclusion = 0.3, slab_scale = 2, temperature = 0.2) }
      dense(1)
    }
    observe y ~ Normal(mlp(x), 0.1)
    """
)


def test_spike_slab_relaxed_switches_units_on_with_the_inclusion_probability():
    """A relaxed Bernoulli gate exceeds 1/2 exactly when logit(p) + logistic noise > 0: probability p."""
    model = Model.from_source(SPIKE, "spike.bnn")
    assert model.checked.noncentered_sites() == {"mlp.0.weight": ()}  # the gate scales it: sampled as gate * z
    x = np.zeros((3, 4), np.float32)
    draws = Predictive(model.numpyro_model, num_samples=4000)(jax.random.PRNGKey(0), x=x)
    gate = np.asarray(draws["mlp.0.weight.gate"])  # [4000, 16]
    w = np.asarray(draws["mlp.0.weight"])  # [4000, 4, 16]
    assert gate.shape == (4000, 16) and w.shape == (4000, 4, 16)
    assert (gate > 0.5).mean() == pytest.approx(0.3, abs=0.01)  # 64,000 gates: sd 0.002
    # at temperature 0.2 most gates sit near 0 or 1: the spike and the slab
    assert ((gate < 0.05) | (gate > 0.95)).mean() > 0.6
    # a unit's weights are gate x Normal(0, slab_scale / sqrt(fan_in)) = Normal(0, 1) for an open gate
    on = np.broadcast_to((gate > 0.99)[:, None, :], w.shape)
    off = np.broadcast_to((gate < 0.01)[:, None, :], w.shape)
    assert w[on].std() == pytest.approx(1.0, rel=0.05)
    assert np.abs(w[off]).max() < 0.05
