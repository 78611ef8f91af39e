"""`bnnc fit-prior`: per-layer weight-prior scales whose functions match a GP (Tran et al. 2022).

The target is the network's function-space prior statement (`prior net ~ GP(...) at context(...)`):
its GP and its context points, the measurement points. Weights and biases of layer l get
Normal(0, s_l) and Normal(0, b_l); the scales are fitted by Adam on the squared maximum mean
discrepancy (MMD, Gaussian kernel on function vectors, bandwidth the median distance between GP draws)
between network-prior and GP function draws at the context points, reparameterised so each step uses
fresh draws. The result is written as a .bnn module of prior definitions a model imports.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import jax
import jax.numpy as jnp
import numpy as np

from ..check.model import CheckedModel, CheckedNetwork
from ..codegen.names import python_name
from ..errors import Location
from . import messages


@dataclass
class FitResult:
    network: str
    layers: list[tuple[str, int, int]]  # (path, fan_in, units)
    weight_scales: np.ndarray
    bias_scales: np.ndarray
    mmd_start: float  # at Neal's scales (1/sqrt(fan_in), 1): where the fit starts
    mmd_fitted: float
    points: int
    target: str  # the GP as written in the model
    # the functions' sd over draws at the context points (root mean square over points and outputs): the scale
    # the fit changed, in the data's units, which the MMD does not show
    sd_start: float = float("nan")
    sd_fitted: float = float("nan")
    sd_target: float = float("nan")

    @property
    def factor(self) -> float:
        return self.mmd_start / max(self.mmd_fitted, 1e-12)

    def module_source(self, model_name: str, module: str = "MODULE") -> str:
        lines = [
            f"# Written by `bnnc fit-prior` from {model_name}: per-layer prior scales of network",
            f"# '{self.network}' fitted so that its functions match {self.target} at {self.points} context",
            f"# points (squared MMD {self.mmd_start:.4g} at Neal's scales -> {self.mmd_fitted:.4g}, "
            f"{self.factor:.1f}x lower).",
            "# Use them layer by layer:",
            f"#   import {module} ({', '.join(self.prior_names()[:2])}, ...)",
            f"#   dense(...) {{ weight ~ {self.prior_names()[0]}()  bias ~ {self.prior_names()[1]}() }}",
            "",
        ]
        for (path, fan_in, units), s, b in zip(self.layers, self.weight_scales, self.bias_scales):
            name = _prior_name(self.network, path)
            lines.append(f"# layer {path}: {fan_in} -> {units}")
            lines.append(f"prior {name}_weight() {{")
            lines.append(f"  value ~ Normal(0, {float(s):.6g})")
            lines.append("}")
            lines.append("")
            lines.append(f"prior {name}_bias() {{")
            lines.append(f"  value ~ Normal(0, {float(b):.6g})")
            lines.append("}")
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"

    def prior_names(self) -> list[str]:
        out = []
        for path, _, _ in self.layers:
            name = _prior_name(self.network, path)
            out += [f"{name}_weight", f"{name}_bias"]
        return out


def _prior_name(network: str, path: str) -> str:
    return f"{network}_{path.replace('.', '_')}"


def _function_prior(checked: CheckedModel, network: str):
    fp = next((f for f in checked.function_priors if f.network == network), None)
    if fp is None:
        raise messages.no_function_prior(Location(checked.program.path, 0), network)
    return fp


def _sizes(net: CheckedNetwork, consts: dict[str, int], where: Location) -> list[tuple[str, int, int]]:
    out = []
    for layer in net.dense_layers():
        sizes = []
        for s in layer.site("weight").shape:
            if isinstance(s, str):
                if s not in consts:
                    raise messages.width_from_data(where, layer.path, net.name, s)
                s = consts[s]
            sizes.append(int(s))
        out.append((layer.path, sizes[0], sizes[1]))
    return out


def _mmd2(a: jnp.ndarray, b: jnp.ndarray, bandwidth: float) -> jnp.ndarray:
    """Unbiased squared MMD between the rows of a and b under a Gaussian kernel."""

    def gram(x, y):
        d2 = jnp.sum((x[:, None, :] - y[None, :, :]) ** 2, axis=-1)
        return jnp.exp(-0.5 * d2 / bandwidth**2)

    n, m = a.shape[0], b.shape[0]
    kaa, kbb, kab = gram(a, a), gram(b, b), gram(a, b)
    saa = (kaa.sum() - jnp.trace(kaa)) / (n * (n - 1))
    sbb = (kbb.sum() - jnp.trace(kbb)) / (m * (m - 1))
    return saa + sbb - 2 * kab.mean()


def fit_prior(
    program: ModuleType,
    checked: CheckedModel,
    network: str,
    context: np.ndarray,
    steps: int = 1000,
    draws: int = 128,
    lr: float = 0.03,
    seed: int = 0,
) -> FitResult:
    import optax

    where = Location(checked.program.path, 0)
    fp = _function_prior(checked, network)
    gp_fn = getattr(program, f"_prior_gp_{network}")
    try:
        mean, kernel, jitter = gp_fn()
    except TypeError:
        raise messages.gp_depends_on_params(where, network) from None
    net = checked.networks[network]
    layers = _sizes(net, checked.consts, where)
    forward = getattr(program, python_name(network))
    X0 = jnp.asarray(context, dtype=jnp.float32)
    outputs = layers[-1][2]

    def gp_draws(key, n, X):
        chol = jnp.linalg.cholesky(kernel(X, X) + jitter * jnp.eye(X.shape[0]))
        z = jax.random.normal(key, (n, outputs, X.shape[0]))
        return (mean + z @ chol.T).reshape(n, -1)

    def net_draws(log_scales, key, n, X):
        keys = jax.random.split(key, 2 * len(layers))

        def one(k):
            p = {}
            for i, (path, fan_in, units) in enumerate(layers):
                kw, kb = jax.random.split(k[i])
                p[f"{path}.weight"] = jnp.exp(log_scales[0][i]) * jax.random.normal(kw, (fan_in, units))
                p[f"{path}.bias"] = jnp.exp(log_scales[1][i]) * jax.random.normal(kb, (units,))
            f = forward(p, X)
            return f.reshape(X.shape[0], -1).T.reshape(-1)

        ks = jax.vmap(lambda k: jax.random.split(k, len(layers)))(jax.random.split(keys[0], n))
        return jax.vmap(one)(ks)

    key = jax.random.PRNGKey(seed)
    k_ref, k_eval_gp, k_eval_net, key = jax.random.split(key, 4)
    ref = gp_draws(k_ref, 256, X0)
    d = jnp.sqrt(jnp.sum((ref[:, None] - ref[None]) ** 2, axis=-1))
    bandwidth = float(jnp.median(d[jnp.triu_indices(256, 1)]))

    def loss(log_scales, key):
        ka, kb, kx = jax.random.split(key, 3)
        # with a spread, each step measures at new points around the context points (as SG-HMC and SVI do)
        X = X0 + fp.spread * jax.random.normal(kx, X0.shape) if fp.spread else X0
        return _mmd2(net_draws(log_scales, ka, draws, X), gp_draws(kb, draws, X), bandwidth)

    start = (
        jnp.array([-0.5 * np.log(fan_in) for _, fan_in, _ in layers], jnp.float32),
        jnp.zeros(len(layers), jnp.float32),
    )
    eval_gp = gp_draws(k_eval_gp, 1024, X0)

    def evaluate(log_scales) -> tuple[float, float]:
        f = net_draws(log_scales, k_eval_net, 1024, X0)
        return float(_mmd2(f, eval_gp, bandwidth)), _sd(f)

    opt = optax.adam(lr)

    @jax.jit
    def step(carry, key):
        params, state = carry
        value, grad = jax.value_and_grad(loss)(params, key)
        updates, state = opt.update(grad, state, params)
        return (optax.apply_updates(params, updates), state), value

    (params, _), _ = jax.lax.scan(step, (start, opt.init(start)), jax.random.split(key, steps))
    (mmd_start, sd_start), (mmd_fitted, sd_fitted) = evaluate(start), evaluate(params)
    return FitResult(
        network=network,
        layers=layers,
        weight_scales=np.exp(np.asarray(params[0])),
        bias_scales=np.exp(np.asarray(params[1])),
        mmd_start=mmd_start,
        mmd_fitted=mmd_fitted,
        points=int(X0.shape[0]),
        target=_gp_text(fp),
        sd_start=sd_start,
        sd_fitted=sd_fitted,
        sd_target=_sd(eval_gp),
    )


def _sd(draws: jnp.ndarray) -> float:
    """Root mean square over function values of their sd over draws ([draws, values])."""
    return float(jnp.sqrt(jnp.mean(jnp.var(draws, axis=0))))


def _gp_text(fp) -> str:
    from ..syntax.format import format_expr

    return format_expr(fp.node.gp)


def context_points(program: ModuleType, checked: CheckedModel, network: str, data: dict | None) -> np.ndarray:
    """The context points of `network`'s function-space prior: a data matrix's rows, or the box's points."""
    fp = _function_prior(checked, network)
    if fp.context is not None:
        if data is None:
            raise messages.context_needs_data(Location(checked.program.path, 0), network, fp.context)
        x = np.asarray(data[fp.context])
        if fp.points:
            x = x[np.linspace(0, len(x) - 1, fp.points).astype(int)]
        return x
    fan_in = checked.networks[network].fan_in
    d = fan_in if isinstance(fan_in, int) else checked.consts.get(fan_in, 1)
    if d == 1:
        return np.linspace(fp.low, fp.high, fp.points)[:, None]
    return np.asarray(jax.random.uniform(jax.random.PRNGKey(0), (fp.points, d), minval=fp.low, maxval=fp.high))
