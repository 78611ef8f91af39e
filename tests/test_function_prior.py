"""Function-space priors: with no data, a network under `prior mlp ~ GP(0, RBF(ls)) at context(x)` draws
functions whose variances and correlations at the context points are the GP's, where the same network
under its weight prior alone is far off."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.infer import Predictive

from bnnlang.api import Model
from bnnlang.check.data import BoundData

SOURCE = """
data {
  x: real[N, 1]
}

network mlp(x) -> real[N] {
  default weight ~ Normal(0, 3)
  dense(50, tanh)
  dense(1)
}

prior mlp ~ GP(0, RBF(0.7)) at context(x)

infer nuts(chains = 2, warmup = 300, samples = 300)
"""

XS = np.linspace(-2, 2, 8)[:, None].astype(np.float32)
K = np.exp(-0.5 * (XS - XS.T) ** 2 / 0.7**2)


def _functions(model: Model, draws: dict) -> np.ndarray:
    params = {k.removeprefix("mlp."): jnp.asarray(v) for k, v in draws.items() if k.startswith("mlp.")}
    return np.asarray(jax.vmap(lambda p: model.module.mlp(p, jnp.asarray(XS)))(params))


def _errors(f: np.ndarray) -> tuple[float, float]:
    """Largest |variance - 1| and |correlation - K| over the context points."""
    cov = np.cov(f.T)
    sd = np.sqrt(np.diag(cov))
    return float(np.abs(np.diag(cov) - 1).max()), float(np.abs(cov / np.outer(sd, sd) - K).max())


def test_function_space_prior_gives_the_gp_at_the_context_points():
    model = Model.from_source(SOURCE)
    assert [fp.network for fp in model.checked.function_priors] == ["mlp"]
    run = model.run(BoundData({"x": XS}, {"N": len(XS)}, "<test>"), seed=0)
    post = run.idata.posterior
    draws = {k: np.asarray(post[k]).reshape((-1,) + post[k].shape[2:]) for k in post.data_vars}
    var_err, corr_err = _errors(_functions(model, draws))

    # the same network under its weight prior alone (Predictive ignores the function-space factor)
    prior = Predictive(model.module.model, num_samples=4000)(jax.random.PRNGKey(0), x=jnp.asarray(XS))
    var_err_w, corr_err_w = _errors(_functions(model, prior))
    print(f"function-space prior: max |var - 1| {var_err:.3f}, max |corr - K| {corr_err:.3f}")
    print(f"weight prior only:    max |var - 1| {var_err_w:.3f}, max |corr - K| {corr_err_w:.3f}")

    # 600 draws: a variance estimate's own standard error is about 0.06-0.1
    assert var_err < 0.25 and corr_err < 0.2
    assert var_err_w > 10 * var_err and corr_err_w > 2.5 * corr_err
    assert int(run.idata.sample_stats["diverging"].sum()) == 0


def test_fit_prior_lowers_the_distance_and_writes_a_module_that_runs(tmp_path):
    """`bnnc fit-prior`: the fitted scales bring the network's prior functions closer to the GP (squared MMD
    at the context points), and the module it writes parses, imports and samples."""
    from bnnlang.cli import main
    from bnnlang.priors.fit import context_points, fit_prior

    source = SOURCE.replace("at context(x)", "at context(x, points = 16)")
    model = Model.from_source(source)
    grid = np.linspace(-2, 2, 31)[:, None]
    points = context_points(model.module, model.checked, "mlp", {"x": grid})
    np.testing.assert_allclose(points[[0, -1], 0], [-2, 2])
    assert points.shape == (16, 1)
    result = fit_prior(model.module, model.checked, "mlp", points, steps=300)
    print(f"squared MMD {result.mmd_start:.4g} -> {result.mmd_fitted:.4g} ({result.factor:.1f}x)")
    print(f"function sd {result.sd_start:.3g} -> {result.sd_fitted:.3g}, GP {result.sd_target:.3g}")
    assert result.factor > 2
    # the scale the fit changed, in output units: closer to the GP's than Neal's scales were (the GP's is 1)
    assert abs(result.sd_fitted - result.sd_target) < abs(result.sd_start - result.sd_target)
    assert result.sd_target == pytest.approx(1.0, abs=0.15)

    src = tmp_path / "net.bnn"
    src.write_text(source)
    out = tmp_path / "fitted.bnn"
    data = tmp_path / "grid.csv"
    data.write_text("x\n" + "".join(f"{v:.4f}\n" for v in grid[:, 0]))
    assert main(["fit-prior", str(src), "-o", str(out), "--steps", "300", "--data", str(data)]) == 0
    names = ", ".join(f"mlp_{i}_{role}" for i in (0, 1) for role in ("weight", "bias"))
    user = tmp_path / "user.bnn"
    user.write_text(
        f"import fitted ({names})\n"
        "data {\n  x: real[N, 1]\n  y: real[N]\n}\n"
        "param sigma ~ HalfNormal(0.3)\n"
        "network mlp(x) -> real[N] {\n"
        "  dense(50, tanh) { weight ~ mlp_0_weight(); bias ~ mlp_0_bias() }\n"
        "  dense(1) { weight ~ mlp_1_weight(); bias ~ mlp_1_bias() }\n}\n"
        "observe y ~ Normal(mlp(x), sigma)\n"
        "infer svi(steps = 200, samples = 50, map_steps = 100)\n"
    )
    fitted = Model.from_file(user)
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, (30, 1)).astype(np.float32)
    run = fitted.run(BoundData({"x": x, "y": np.sin(2 * x[:, 0])}, {"N": 30}, "<test>"))
    scale = run.idata.posterior["sigma"].values
    assert np.all(np.isfinite(scale))
    # the fitted sds are what the module says


def test_context_spread_redraws_the_points_at_each_stochastic_gradient_step(monkeypatch):
    """`context(x, spread = s)`: the points are x + Normal(0, s) offsets drawn from the step's key (`_key`);
    without a key (NUTS, MILE: a fixed log density) one draw from key 0. SVI and SG-HMC give keys."""
    from numpyro import handlers
    from numpyro.distributions import MultivariateNormal

    from bnnlang.infer.problem import Problem

    model = Model.from_source(SOURCE.replace("context(x)", "context(x, spread = 0.5)"))
    assert model.checked.function_priors[0].spread == 0.5
    params = Predictive(model.module.model, num_samples=1)(jax.random.PRNGKey(1), x=jnp.asarray(XS))
    params = {k: v[0] for k, v in params.items()}
    net = {k.removeprefix("mlp."): v for k, v in params.items() if k.startswith("mlp.")}

    def factor(key):
        tr = handlers.trace(handlers.substitute(model.module.model, params)).get_trace(x=jnp.asarray(XS), _key=key)
        site = tr["mlp.function_prior"]
        return float(site["fn"].log_prob(site["value"]))

    def expected(key):
        pts = XS + 0.5 * np.asarray(jax.random.normal(jax.random.fold_in(key, 0), XS.shape))
        k = np.exp(-0.5 * (pts - pts.T) ** 2 / 0.7**2) + 1e-3 * np.eye(len(pts))
        f = model.module.mlp(net, jnp.asarray(pts, jnp.float32)).reshape(-1)
        return float(MultivariateNormal(jnp.zeros(len(pts)), jnp.asarray(k, jnp.float32)).log_prob(f))

    for key in (jax.random.PRNGKey(3), jax.random.PRNGKey(4)):
        assert factor(key) == pytest.approx(expected(key), rel=1e-3, abs=1e-2)
    assert factor(jax.random.PRNGKey(3)) != pytest.approx(factor(jax.random.PRNGKey(4)), rel=1e-3)
    assert factor(None) == pytest.approx(expected(jax.random.PRNGKey(0)), rel=1e-3, abs=1e-2)

    keyed = []
    original = Problem.potential

    def spy(self, params, batch=None, data_weight=1.0, key=None):
        keyed.append(key is not None)
        return original(self, params, batch, data_weight, key)

    monkeypatch.setattr(Problem, "potential", spy)
    bound = BoundData({"x": XS}, {"N": len(XS)}, "<test>")
    for backend in ("svi(steps = 5, map_steps = 5, samples = 5)", "sghmc(warmup = 2, samples = 2, map_steps = 5)"):
        keyed.clear()
        Model.from_source(
            SOURCE.replace("context(x)", "context(x, spread = 0.5)").replace(
                "nuts(chains = 2, warmup = 300, samples = 300)", backend
            )
        ).run(bound, seed=0)
        assert any(keyed), backend  # the steps' potentials got a key (the MAP start's did not)
