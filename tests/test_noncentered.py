"""Hierarchical sites are sampled non-centred (setting `noncentered`, docs/inference.md).

Ground truth: a funnel with no data on it (tau ~ HalfNormal(1), w ~ Normal(0, tau)) has its prior as
posterior, so E[log tau] = E[log |Z|] = -(euler_gamma + log 2) / 2 and P(tau < 0.1) are exact. The
centred form misses the funnel's neck (checked below), the non-centred form must not.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from bnnlang.api import Model
from bnnlang.infer.problem import Problem

ROOT = Path(__file__).resolve().parents[1]

FUNNEL = textwrap.dedent(
    """
    data {
      y: real[N]
    }
    param tau ~ HalfNormal(1)
    param w[8] ~ Normal(0, tau)
    param b ~ Normal(0, 1)
    observe y ~ Normal(b, 1)
    infer nuts(chains = 2, warmup = 500, samples = 1000)
    """
)


def sites(source: str) -> dict[str, tuple[str, ...]]:
    return Model.from_source(textwrap.dedent(source), "m.bnn").checked.noncentered_sites()


NET = """
    data {{
      x: real[N, 2]
      y: real[N]
    }}
    {params}
    network mlp(x) -> real[N] {{
      {body}
    }}
    observe y ~ Normal(mlp(x), 0.1)
"""


def test_hierarchical_sites_are_found():
    # a shared learned scale in the network's default prior: every weight, no bias
    hier = NET.format(
        params="param s ~ HalfNormal(1)", body="default weight ~ Normal(0, s)\n dense(4, tanh)\n dense(1)"
    )
    assert sites(hier) == {"mlp.0.weight": (), "mlp.1.weight": ()}
    # fixed scales: nothing to non-centre
    assert sites(NET.format(params="", body="dense(4, tanh)\n dense(1)")) == {}
    # top-level params: loc or scale from another param; StudentT keeps its df
    top = """
        data { y: real[N] }
        param mu ~ Normal(0, 5)
        param tau ~ HalfNormal(5)
        param theta[8] ~ Normal(mu, tau)
        param shifted[3] ~ Laplace(mu, 1)
        param heavy[3] ~ StudentT(4, 0, tau)
        param fixed[3] ~ Normal(0, 2)
        observe y ~ Normal(mu, 1)
    """
    assert sites(top) == {"theta": (), "shifted": (), "heavy": ("df",)}


def test_sites_inside_priors_and_deterministic_layers():
    # the stdlib horseshoe: the weights read the prior's own tau and lam (which are HalfCauchy: not loc-scale)
    horseshoe = Model.from_file(ROOT / "examples" / "horseshoe.bnn").checked.noncentered_sites()
    assert horseshoe == {"mlp.0.weight": ()}
    # a prior argument computed from a latent makes the prior hierarchical; a constant one does not
    src = NET.format(
        params="import std.priors (neal)\n param s ~ HalfNormal(1)",
        body="dense(4, tanh) { weight ~ neal(scale = s) }\n dense(1) { weight ~ neal(scale = 2) }",
    )
    assert sites(src) == {"mlp.0.weight": ()}
    # a deterministic layer is point-estimated, then conditioned: it keeps its written form
    det = NET.format(
        params="param s ~ HalfNormal(1)",
        body="default weight ~ Normal(0, s)\n deterministic { dense(4, tanh) }\n dense(1)",
    )
    assert sites(det) == {"mlp.1.weight": ()}


def test_setting_switches_the_generated_program_and_the_problem(tmp_path: Path):
    model = Model.from_source(FUNNEL, "funnel.bnn")
    assert "NONCENTERED = {'w': ()}" in model.python_source
    assert "noncentered(model)," in model.python_source  # the standalone NUTS runs the same parameterisation
    off = Model.from_source(FUNNEL.replace("samples = 1000)", "samples = 1000, noncentered = false)"), "f.bnn")
    assert "NONCENTERED = {}" in off.python_source
    data = off.data(write_funnel_data(tmp_path))
    assert off.problem(data).reparam is None
    assert off.problem(data, off.settings(noncentered=True)).reparam is not None
    assert model.problem(data, model.settings(noncentered=False)).reparam is None
    # a model with no hierarchical site has no wrapper at all
    assert "NONCENTERED" not in Model.from_file(ROOT / "examples" / "regression_1d.bnn").python_source


def write_funnel_data(folder: Path) -> Path:
    path = folder / "funnel.csv"
    path.write_text("y\n0.3\n-0.2\n0.5\n")
    return path


def test_density_is_the_centred_one_with_its_jacobian(tmp_path: Path):
    """w = tau * z: log p(z, tau) = log p(w, tau) + 8 log tau, the change of variables, at random points."""
    model = Model.from_source(FUNNEL, "funnel.bnn")
    problem: Problem = model.problem(model.data(write_funnel_data(tmp_path)))
    plain = Problem(problem.plain_model, problem.data, problem.observed)
    for seed in range(3):
        k1, k2, k3 = jax.random.split(jax.random.PRNGKey(seed), 3)
        log_tau, b = jax.random.normal(k1, ()), jax.random.normal(k2, ())
        z = jax.random.normal(k3, (8,))
        nc = problem.potential({"tau": log_tau, "w_decentered": z, "b": b})
        c = plain.potential({"tau": log_tau, "w": jnp.exp(log_tau) * z, "b": b})
        assert float(nc) == pytest.approx(float(c) - 8 * float(log_tau), rel=1e-5, abs=1e-4)
        # constrain gives the written site, so draws can be stored and substituted as the model names them
        values = problem.constrain({"tau": log_tau, "w_decentered": z, "b": b})
        np.testing.assert_allclose(values["w"], np.exp(log_tau) * z, rtol=1e-5)
        assert set(problem.public(values)) == {"tau", "w", "b"}


def test_nuts_samples_the_funnel_neck(tmp_path: Path):
    model = Model.from_source(FUNNEL, "funnel.bnn")
    data = write_funnel_data(tmp_path)
    exact_log = -(np.euler_gamma + np.log(2)) / 2  # E log|Z|, Z ~ N(0, 1)
    exact_neck = 2 * stats.norm.cdf(0.1) - 1  # P(tau < 0.1) = 0.080
    run = model.run(data)
    post = run.idata.posterior
    assert set(post.data_vars) == {"tau", "w", "b"}  # the standard draws are not stored
    tau = np.asarray(post["tau"]).ravel()
    # sd of log|Z| is pi / sqrt(8) = 1.11; with ESS of several hundred the mean is known to about 0.05
    assert np.log(tau).mean() == pytest.approx(exact_log, abs=0.2)
    assert exact_neck / 2 < (tau < 0.1).mean() < exact_neck * 1.6
    assert float(np.asarray(post["w"]).var()) == pytest.approx(1.0, abs=0.25)  # Var w = E tau^2 = 1
    assert int(run.idata.sample_stats["diverging"].sum()) <= 20
    # the same sampler on the centred form stays out of the neck: what the reparameterisation is for
    centred = np.asarray(model.run(data, noncentered=False).idata.posterior["tau"]).ravel()
    assert (centred < 0.1).mean() < exact_neck / 2


@pytest.mark.long
def test_lastlayer_guide_holds_noncentred_hidden_layers_fixed():
    """The Laplace last-layer guide conditions the hidden layers on their MAP: those sites, though
    hierarchical, must come back at the fixed values, not as fresh non-centred draws. The MAP itself is
    where non-centring matters most: in the centred form the joint density grows without bound as the
    shared scale s and every weight go to zero, and the fit slides there (sigma at the data's spread)."""
    model = Model.from_file(ROOT / "examples" / "hierarchical_scale.bnn")
    data = ROOT / "examples" / "data" / "hierarchical_scale.csv"
    settings = dict(backend="svi", guide="lastlayer", steps=300, samples=50, map_steps=2000)
    run = model.run(data, **settings)
    post, fixed = run.idata.posterior, run.idata["fixed"]
    assert set(post.data_vars) == {"s", "sigma", "mlp.2.weight", "mlp.2.bias"}
    assert set(fixed.data_vars) == {"mlp.0.weight", "mlp.0.bias", "mlp.1.weight", "mlp.1.bias"}
    assert np.ptp(np.asarray(post["mlp.2.weight"]), axis=(0, 1)).max() > 0.0  # the last layer varies
    # the stored likelihood used the fixed hidden layers: data with noise sd 0.1 score about +0.4 per row and draw
    # (the last layer's spread under the free scale s costs some), fresh hidden layers far below zero
    assert float(run.idata.log_likelihood["y"].mean()) > 0.0
    assert float(post["sigma"].mean()) < 0.15
    centred = model.run(data, noncentered=False, **settings)
    assert float(centred.idata.posterior["sigma"].mean()) > 0.3


def test_fan_in_starts_reach_noncentred_weights(tmp_path: Path):
    """Ensemble members start at weights ~ Normal(0, 1/sqrt(fan_in)) and zero biases whatever the prior; a
    non-centred site stores z, so z must be solved for at the drawn scale (a horseshoe's is often tiny)."""
    from bnnlang.infer.starts import fan_in_start

    src = NET.format(
        params="import std.priors (horseshoe)\n param s ~ HalfNormal(1)",
        body="dense(64, tanh) { weight ~ horseshoe(tau0 = 0.01); bias ~ Normal(0, s) }\n dense(1)",
    ).replace("real[N, 2]", "real[N, 8]")
    model = Model.from_source(textwrap.dedent(src), "hs.bnn")
    assert model.checked.noncentered_sites() == {"mlp.0.weight": (), "mlp.0.bias": ()}
    rng = np.random.default_rng(0)
    rows = "\n".join(",".join(f"{v:.4f}" for v in r) for r in rng.normal(size=(20, 9)))
    path = tmp_path / "hs.csv"
    path.write_text(",".join([f"x.{i}" for i in range(8)] + ["y"]) + "\n" + rows + "\n")
    problem = model.problem(model.data(path))
    for seed in range(3):
        key = jax.random.PRNGKey(seed)
        draw = problem.prior_draw(key)
        assert "mlp.0.weight_decentered" in draw
        values = problem.constrain(fan_in_start(problem, draw, jax.random.fold_in(key, 1)))
        w = np.asarray(values["mlp.0.weight"])
        assert w.std() == pytest.approx(1 / np.sqrt(8), rel=0.15)  # 512 draws: sd known to about 3%
        np.testing.assert_allclose(values["mlp.0.bias"], 0.0, atol=1e-5)
        assert np.asarray(values["mlp.1.weight"]).std() == pytest.approx(1 / 8, rel=0.4)  # 64 draws, centred


def test_run_folder_and_report_name_the_noncentred_sites(tmp_path: Path):
    model = Model.from_source(FUNNEL.replace("warmup = 500, samples = 1000", "warmup = 50, samples = 50"), "f.bnn")
    run = model.run(write_funnel_data(tmp_path), out=tmp_path / "run")
    assert json.loads((tmp_path / "run" / "settings.json").read_text())["noncentered"] == ["w"]
    page, data = run.write_report(run.report())
    assert json.loads(data.read_text())["run"]["noncentered"] == ["w"]
    assert "Sampled non-centred (loc + scale * z): w" in page.read_text()
    off = model.run(write_funnel_data(tmp_path), out=tmp_path / "off", noncentered=False)
    assert "noncentered" not in json.loads((tmp_path / "off" / "settings.json").read_text())
    assert "Sampled non-centred" not in off.write_report(off.report())[0].read_text()


def test_a_param_named_like_a_standard_draw_is_kept(tmp_path: Path):
    """Only the reparameterisation's own standard draws are hidden, not a user's site that ends alike."""
    src = FUNNEL.replace("param b ~ Normal(0, 1)", "param b_decentered ~ Normal(0, 1)").replace(
        "Normal(b, 1)", "Normal(b_decentered, 1)"
    )
    model = Model.from_source(src.replace("warmup = 500, samples = 1000", "warmup = 50, samples = 50"), "f.bnn")
    post = model.run(write_funnel_data(tmp_path)).idata.posterior
    assert set(post.data_vars) == {"tau", "w", "b_decentered"}
