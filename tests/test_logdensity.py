"""The compiled program's joint log density equals an independently hand-written NumPyro model.

For each model the .bnn source is compiled through bnnlang and the same model is
written by hand here, with the same site names (params by name, weights
`net.LAYER.weight` / `.bias`, residual inner layers `net.BLOCK.INNER.weight`,
prior-definition params `net.LAYER.weight.NAME`). Both are evaluated with
`numpyro.infer.util.log_density` on small random data at parameter values drawn
from either prior and at random unconstrained points mapped through the
supports, in float32 and in float64.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro import handlers
from numpyro.distributions.transforms import biject_to
from numpyro.infer.util import log_density

from bnnlang.api import Model
from bnnlang.check.data import eval_size

# ---------------------------------------------------------------- hand-written building blocks


def _normal_matrix(name: str, rows: int, cols: int, scale) -> jnp.ndarray:
    return numpyro.sample(name, dist.Normal(jnp.zeros((rows, cols)), scale).to_event(2))


def _normal_vector(name: str, n: int, scale=1.0) -> jnp.ndarray:
    return numpyro.sample(name, dist.Normal(jnp.zeros(n), scale).to_event(1))


def _tanh(h):
    return jnp.tanh(h)


def _relu(h):
    return jnp.maximum(h, 0.0)


def _sigmoid(h):
    return 1.0 / (1.0 + jnp.exp(-h))


def _softplus(h):
    return jnp.logaddexp(h, 0.0)


def _swish(h):
    return h * _sigmoid(h)


def _gelu(h):
    # the tanh approximation (jax.nn.gelu's default)
    return 0.5 * h * (1.0 + jnp.tanh(np.sqrt(2.0 / np.pi) * (h + 0.044715 * h**3)))


def _plain_mlp(net: str, x, widths: list[int], act, weight_scale=None):
    """Dense layers with Normal(0, 1/sqrt(fan_in)) weights (or `weight_scale(fan_in)`) and N(0, 1) biases."""
    h = x
    last = len(widths) - 2
    for i, (fin, fout) in enumerate(zip(widths[:-1], widths[1:])):
        scale = weight_scale(fin) if weight_scale is not None else 1.0 / np.sqrt(fin)
        w = _normal_matrix(f"{net}.{i}.weight", fin, fout, scale)
        b = _normal_vector(f"{net}.{i}.bias", fout)
        h = h @ w + b
        if i < last:
            h = act(h)
    return h


# ---------------------------------------------------------------- the models, twice


MLP_SRC = """
import std.priors (neal)
data {
  x: real[N, 1]
  y: real[N]
}
param sigma ~ HalfNormal(0.5)
network mlp(x) -> real[N] {
  default weight ~ neal()
  default bias ~ Normal(0, 1)
  dense(50, tanh)
  dense(50, tanh)
  dense(1)
}
observe y ~ Normal(mlp(x), sigma)
"""


def mlp_by_hand(x, y=None):
    sigma = numpyro.sample("sigma", dist.HalfNormal(0.5))
    f = _plain_mlp("mlp", x, [1, 50, 50, 1], _tanh)[:, 0]
    numpyro.sample("y", dist.Normal(f, sigma).to_event(1), obs=y)


HIER_SRC = """
data {
  x: real[N, 2]
  y: real[N]
}
param sigma ~ HalfNormal(0.5)
param s ~ HalfNormal(1)
network mlp(x) -> real[N] {
  default weight ~ Normal(0, s / sqrt(fan_in))
  dense(16, tanh)
  dense(8, tanh)
  dense(1)
}
observe y ~ Normal(mlp(x), sigma)
"""


def hier_by_hand(x, y=None):
    s = numpyro.sample("s", dist.HalfNormal(1.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(0.5))
    f = _plain_mlp("mlp", x, [2, 16, 8, 1], _tanh, weight_scale=lambda fin: s / np.sqrt(fin))[:, 0]
    with numpyro.plate("rows", x.shape[0]):
        numpyro.sample("y", dist.Normal(f, sigma), obs=y)


HET_SRC = """
data {
  x: real[N, 1]
  y: real[N]
}
network net(x) -> real[N, 2] {
  dense(16, tanh)
  dense(2)
}
observe y ~ Normal(net(x)[:, 0], softplus(net(x)[:, 1]) + 0.01)
"""


def het_by_hand(x, y=None):
    out = _plain_mlp("net", x, [1, 16, 2], _tanh)
    loc, scale = out[:, 0], _softplus(out[:, 1]) + 0.01
    numpyro.sample("y", dist.Normal(loc, scale).to_event(1), obs=y)


CAT_SRC = """
data {
  K = 3
  x: real[N, 2]
  y: int[N] in 0..K-1
}
network net(x) -> real[N, K] {
  dense(8, relu)
  dense(K)
}
observe y ~ Categorical(logits = net(x))
"""


def cat_by_hand(x, y=None):
    logits = _plain_mlp("net", x, [2, 8, 3], _relu)
    logp = logits - jax.scipy.special.logsumexp(logits, axis=-1, keepdims=True)
    with numpyro.plate("rows", x.shape[0]):
        numpyro.sample("y", dist.Categorical(logits=logp), obs=y)


HS_SRC = """
import std.priors (neal, horseshoe)
data {
  x: real[N, 3]
  y: real[N]
}
param sigma ~ HalfNormal(0.5)
network mlp(x) -> real[N] {
  default weight ~ neal()
  dense(10, tanh) { weight ~ horseshoe(tau0 = 0.1) }
  dense(4, tanh) { weight ~ horseshoe(); bias ~ horseshoe(tau0 = 0.5) }
  dense(1)
}
observe y ~ Normal(mlp(x), sigma)
"""


def _horseshoe(site: str, fin: int | None, fout: int, tau0: float):
    """Node-wise horseshoe: one tau per use, one lam per output unit shared down its column."""
    tau = numpyro.sample(site + ".tau", dist.HalfCauchy(tau0))
    lam = numpyro.sample(site + ".lam", dist.HalfCauchy(jnp.ones(fout)).to_event(1))
    if fin is None:  # a bias
        return numpyro.sample(site, dist.Normal(jnp.zeros(fout), tau * lam).to_event(1))
    scale = tau * jnp.broadcast_to(lam[None, :], (fin, fout))
    return numpyro.sample(site, dist.Normal(jnp.zeros((fin, fout)), scale).to_event(2))


def hs_by_hand(x, y=None):
    sigma = numpyro.sample("sigma", dist.HalfNormal(0.5))
    w0 = _horseshoe("mlp.0.weight", 3, 10, 0.1)
    b0 = _normal_vector("mlp.0.bias", 10)
    w1 = _horseshoe("mlp.1.weight", 10, 4, 1.0)
    b1 = _horseshoe("mlp.1.bias", None, 4, 0.5)
    w2 = _normal_matrix("mlp.2.weight", 4, 1, 1.0 / np.sqrt(4))
    b2 = _normal_vector("mlp.2.bias", 1)
    h = jnp.tanh(x @ w0 + b0)
    h = jnp.tanh(h @ w1 + b1)
    f = (h @ w2 + b2)[:, 0]
    numpyro.sample("y", dist.Normal(f, sigma).to_event(1), obs=y)


SPIKE_SRC = """
import std.priors (spike_slab_relaxed)
data {
  x: real[N, 3]
  y: real[N]
}
param sigma ~ HalfNormal(0.5)
network mlp(x) -> real[N] {
  dense(6, tanh) { weight ~ spike_slab_relaxed(inclusion = 0.3, temperature = 0.4) }
  dense(1) { weight ~ spike_slab_relaxed(slab_scale = 2) }
}
param g ~ RelaxedBernoulli(0.5, logits = 0.3)
observe y ~ Normal(mlp(x), sigma + g)
"""


def _binary_concrete(name: str, temperature: float, alpha: float, n: int | None = None):
    """Maddison, Mnih & Teh (2017), eq. 17, written out: density of a BinConcrete(alpha, lambda) on (0, 1),
    alpha = p / (1 - p); a Uniform(0, 1) site (log density 0) carries the support, a factor the density."""
    unit = dist.Uniform(0.0, 1.0)
    y = numpyro.sample(name, unit if n is None else unit.expand((n,)).to_event(1))
    lam = temperature
    logp = (
        jnp.log(lam)
        + jnp.log(alpha)
        - (lam + 1) * (jnp.log(y) + jnp.log1p(-y))
        - 2 * jnp.log(alpha * y**-lam + (1 - y) ** -lam)
    )
    numpyro.factor(name + "_density", jnp.sum(logp))
    return y


def _spike_slab(site: str, fin: int, fout: int, probs: float, slab: float, temperature: float):
    """Relaxed Bernoulli gate per output unit, shared down its column, times a fan-in scaled Normal slab."""
    gate = _binary_concrete(site + ".gate", temperature, probs / (1 - probs), fout)
    scale = slab * jnp.broadcast_to(gate[None, :], (fin, fout)) / np.sqrt(fin)
    return numpyro.sample(site, dist.Normal(jnp.zeros((fin, fout)), scale).to_event(2))


def spike_by_hand(x, y=None):
    sigma = numpyro.sample("sigma", dist.HalfNormal(0.5))
    w0 = _spike_slab("mlp.0.weight", 3, 6, 0.3, 1.0, 0.4)
    b0 = _normal_vector("mlp.0.bias", 6)
    w1 = _spike_slab("mlp.1.weight", 6, 1, 0.5, 2.0, 0.5)
    b1 = _normal_vector("mlp.1.bias", 1)
    g = _binary_concrete("g", 0.5, np.exp(0.3))
    f = (jnp.tanh(x @ w0 + b0) @ w1 + b1)[:, 0]
    numpyro.sample("y", dist.Normal(f, sigma + g).to_event(1), obs=y)


RES_SRC = """
data {
  x: real[N, 2]
  y: real[N]
}
param nu ~ Gamma(2, 0.1)
param sigma ~ HalfNormal(1)
network net(x) -> real[N] {
  dense(8, relu)
  residual { dense(8, gelu) dense(8) }
  swish
  residual { dense(8, swish) }
  dense(1)
}
observe y ~ StudentT(nu, net(x), sigma)
"""


def res_by_hand(x, y=None):
    nu = numpyro.sample("nu", dist.Gamma(2.0, 0.1))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    p = {}
    for name, fin, fout in [("0", 2, 8), ("1.0", 8, 8), ("1.1", 8, 8), ("3.0", 8, 8), ("4", 8, 1)]:
        p[name] = (
            _normal_matrix(f"net.{name}.weight", fin, fout, 1.0 / np.sqrt(fin)),
            _normal_vector(f"net.{name}.bias", fout),
        )

    def lin(h, name):
        w, b = p[name]
        return h @ w + b

    h = _relu(lin(x, "0"))  # layer 0
    h = h + lin(_gelu(lin(h, "1.0")), "1.1")  # layer 1: residual
    h = _swish(h)  # layer 2: activation
    h = h + _swish(lin(h, "3.0"))  # layer 3: residual
    f = lin(h, "4")[:, 0]  # layer 4
    numpyro.sample("y", dist.StudentT(df=nu, loc=f, scale=sigma).to_event(1), obs=y)


BERN_SRC = """
data {
  x: real[N, 2]
  y: int[N]
}
network net(x) -> real[N] {
  dense(6, sigmoid)
  dense(1)
}
observe y ~ Bernoulli(logits = net(x))
"""


def bern_by_hand(x, y=None):
    eta = _plain_mlp("net", x, [2, 6, 1], _sigmoid)[:, 0]
    numpyro.sample("y", dist.Bernoulli(logits=eta).to_event(1), obs=y)


POIS_SRC = """
data {
  x: real[N, 2]
  y: int[N]
}
network net(x) -> real[N] {
  dense(6, softplus)
  dense(1)
}
observe y ~ Poisson(log_rate = net(x))
"""


def pois_by_hand(x, y=None):
    eta = _plain_mlp("net", x, [2, 6, 1], _softplus)[:, 0]
    with numpyro.plate("rows", x.shape[0]):
        numpyro.sample("y", dist.Poisson(jnp.exp(eta)), obs=y)


GROUP_SRC = """
data {
  G = 4
  x: real[N, 1]
  g: int[N] in 0..G-1
  y: real[N]
}
param a[G] ~ Normal(mu, tau)
param sigma ~ Exponential(1)
param mu ~ Normal(0, 1)
param tau ~ HalfCauchy(1)
network net(x) -> real[N] {
  dense(5, tanh)
  dense(1)
}
observe y ~ Normal(net(x) + a[g], sigma)
"""


def group_by_hand(x, g, y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(1.0))
    a = numpyro.sample("a", dist.Normal(mu * jnp.ones(4), tau).to_event(1))
    sigma = numpyro.sample("sigma", dist.Exponential(1.0))
    f = _plain_mlp("net", x, [1, 5, 1], _tanh)[:, 0]
    numpyro.sample("y", dist.Normal(f + jnp.take(a, g), sigma).to_event(1), obs=y)


@dataclass
class Case:
    source: str
    by_hand: Callable
    int_high: dict  # the largest value of int data without a declared range


CASES = {
    "mlp_neal": Case(MLP_SRC, mlp_by_hand, {}),
    "hierarchical_scale": Case(HIER_SRC, hier_by_hand, {}),
    "heteroscedastic": Case(HET_SRC, het_by_hand, {}),
    "categorical": Case(CAT_SRC, cat_by_hand, {}),
    "horseshoe": Case(HS_SRC, hs_by_hand, {}),
    "residual_studentt": Case(RES_SRC, res_by_hand, {}),
    "spike_slab_relaxed": Case(SPIKE_SRC, spike_by_hand, {}),
    "bernoulli": Case(BERN_SRC, bern_by_hand, {"y": 1}),
    "poisson": Case(POIS_SRC, pois_by_hand, {"y": 6}),
    "group_index": Case(GROUP_SRC, group_by_hand, {}),
}

N_ROWS = 9


# ---------------------------------------------------------------- helpers


@contextmanager
def x64(enabled: bool):
    """Run a block with or without 64-bit JAX, restoring the setting after (other tests share the process)."""
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", enabled)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)


def _bound_kwargs(model: Model, case: Case, tmp_path, seed: int) -> dict:
    """Random data built from the model's data declarations, saved as NPZ and loaded back through bnnlang."""
    rng = np.random.default_rng(seed)
    dims = {**model.checked.consts, "N": N_ROWS}
    arrays = {}
    for var in model.checked.data.values():
        shape = tuple(eval_size(s, dims) for s in var.shape)
        if var.base == "int":
            lo, hi = (eval_size(b, dims) for b in var.bound) if var.bound else (0, case.int_high[var.name])
            arrays[var.name] = rng.integers(lo, hi + 1, size=shape)
        else:
            arrays[var.name] = rng.normal(size=shape)
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    bound = model.data(path)
    assert bound.dims["N"] == N_ROWS
    return bound.model_kwargs(model.checked)


class Sites:
    """A model's sample sites (observed?, shape, support), and prior draws of its latent sites.

    The site table comes from abstract tracing (no compilation); draws run under one jit
    compiled at a low XLA optimisation level, since compiling, not running, dominates here.
    """

    def __init__(self, fn, kwargs):
        self.table: dict = {}

        def draw(key):
            tr = handlers.trace(handlers.seed(fn, key)).get_trace(**kwargs)
            values = {}
            for name, s in tr.items():
                if s["type"] == "sample":
                    self.table[name] = (bool(s["is_observed"]), tuple(jnp.shape(s["value"])), s["fn"].support)
                    if not s["is_observed"]:
                        values[name] = s["value"]
            return values

        self._draw = draw
        self._compiled = None
        jax.eval_shape(draw, jax.random.PRNGKey(0))

    def shapes(self) -> dict:
        return {k: (obs, shape) for k, (obs, shape, _) in self.table.items()}

    def prior_draws(self, seeds) -> list[dict]:
        key = jax.random.PRNGKey(0)
        compiled = jax.jit(self._draw).lower(key).compile(compiler_options={"xla_backend_optimization_level": 0})
        return [compiled(jax.random.PRNGKey(s)) for s in seeds]

    def unconstrained_points(self, count: int, seed: int) -> list[dict]:
        """Standard normals (times 1.5) on the unconstrained scale, mapped through each site's support."""
        latent = {k: support for k, (obs, _, support) in self.table.items() if not obs}
        shapes = {k: biject_to(latent[k]).inverse_shape(self.table[k][1]) for k in latent}
        constrain = jax.jit(lambda zs: {k: biject_to(latent[k])(z) for k, z in zs.items()})
        rng = np.random.default_rng(seed)
        return [constrain({k: 1.5 * rng.standard_normal(s) for k, s in shapes.items()}) for _ in range(count)]


def _jit_log_density(fn, kwargs):
    return jax.jit(lambda params: log_density(fn, (), kwargs, params)[0])


def _compare(compiled, by_hand, kwargs, points, rtol) -> None:
    got_fn, want_fn = _jit_log_density(compiled, kwargs), _jit_log_density(by_hand, kwargs)
    for i, params in enumerate(points):
        got, want = float(got_fn(params)), float(want_fn(params))
        assert np.isfinite(want), f"point {i}: the hand-written model gives {want}"
        assert got == pytest.approx(want, rel=rtol, abs=rtol), f"point {i}: compiled {got} != by hand {want}"


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("name", list(CASES))
def test_log_density_matches_hand_written_model(name, tmp_path):
    """8 points (3 prior draws, 5 random unconstrained points): float64 to 1e-10, then float32 to 1e-5."""
    case = CASES[name]
    model = Model.from_source(textwrap.dedent(case.source), f"{name}.bnn")
    compiled = model.numpyro_model
    kwargs = _bound_kwargs(model, case, tmp_path, seed=len(name))
    with x64(True):
        compiled_sites, hand_sites = Sites(compiled, kwargs), Sites(case.by_hand, kwargs)
        factors = {k for k in hand_sites.shapes() if k.endswith("_density")}  # densities written out by hand
        assert compiled_sites.shapes() == {k: v for k, v in hand_sites.shapes().items() if k not in factors}
        points = compiled_sites.prior_draws([0, 1, 2]) + hand_sites.unconstrained_points(5, seed=len(name))
        points = [{k: np.asarray(v) for k, v in p.items()} for p in points]
        _compare(compiled, case.by_hand, kwargs, points, rtol=1e-10)
    with x64(False):
        points32 = [{k: v.astype(np.float32) for k, v in p.items()} for p in points]
        _compare(compiled, case.by_hand, kwargs, points32, rtol=1e-5)


def test_log_density_sees_every_site():
    """Guard against a vacuous comparison: changing any one site's value changes the compiled log density."""
    case = CASES["horseshoe"]
    model = Model.from_source(textwrap.dedent(case.source), "horseshoe.bnn")
    rng = np.random.default_rng(3)
    kwargs = {"x": rng.normal(size=(N_ROWS, 3)).astype(np.float32), "y": rng.normal(size=N_ROWS).astype(np.float32)}
    params = Sites(case.by_hand, kwargs).unconstrained_points(1, seed=0)[0]
    density = _jit_log_density(model.numpyro_model, kwargs)
    base = float(density(params))
    for name, value in params.items():
        assert float(density({**params, name: value * 1.5})) != base, name
