"""The layers beyond `dense` (check/nn/): convolutions, pools, flatten and reshape, embeddings and position codes,
layer normalisation, attention and the transformer block.

* The compiled program's joint log density equals a NumPyro model written here by hand, as in
  tests/test_logdensity.py (whose helpers this file uses): the layers are written out independently, a convolution
  as a sum over kernel offsets of strided slices of the explicitly padded input (TensorFlow's SAME padding: the
  extra pad at the end), pools over stacked windows, an embedding as one-hot times the table, the sinusoidal
  codes from Vaswani et al.'s formula column by column, attention one head at a time with an explicit softmax.
* Causal attention at step t does not depend on the steps after t (and non-causal attention does).
* `bnnc compile` writes a program that runs without bnnlang (log density and a few NUTS steps).
* Shapes: each layer kind's output shape for a few inputs, read from the checker, and each site's fans.
* ArviZ: a conv2d kernel's four axes get four distinct dimension names, in `site_dims` and in a short SVI run.
* The error corpus never imports JAX, the layer cases included.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from test_logdensity import N_ROWS, Case, Sites, _bound_kwargs, _compare, _gelu, _jit_log_density, x64
from test_standalone import BLOCK_BNNLANG

from bnnlang.api import Model
from bnnlang.check.model import Residual
from bnnlang.cli import main as bnnc
from bnnlang.posterior.arviz import site_dims

REPO = Path(__file__).resolve().parent.parent

# ---------------------------------------------------------------- layers written by hand


def _weight(name: str, shape: tuple[int, ...], fan_in: int, scale: float = 1.0):
    """Neal's prior (and the built-in one): Normal(0, scale / sqrt(fan_in)), fan_in written out per layer here."""
    return numpyro.sample(name, dist.Normal(jnp.zeros(shape), scale / np.sqrt(fan_in)).to_event(len(shape)))


def _vector(name: str, n: int, loc: float = 0.0, scale: float = 1.0):
    return numpyro.sample(name, dist.Normal(loc * jnp.ones(n), scale).to_event(1))


def _dense(prefix: str, fan_in: int, units: int, bias_scale: float = 1.0):
    return _weight(f"{prefix}.weight", (fan_in, units), fan_in), _vector(f"{prefix}.bias", units, scale=bias_scale)


def _windows(n: int, span: int, stride: int, padding: str) -> tuple[int, tuple[int, int]]:
    """Output length and (before, after) padding along one axis: SAME gives ceil(n / stride) outputs and puts the
    odd pad at the end (TensorFlow's and XLA's convention), VALID drops windows that do not fit."""
    if padding == "valid":
        return (n - span) // stride + 1, (0, 0)
    out = -(-n // stride)
    total = max((out - 1) * stride + span - n, 0)
    return out, (total // 2, total - total // 2)


def _conv(x, w, b, stride=1, padding="same", dilation=1, groups=1):
    """x [rows, *positions, C], w [*kernel, C / groups, F]: the sum over kernel offsets of the padded input's
    strided slice times that offset's weights, channel group by channel group."""
    dims = x.ndim - 2
    kernel = w.shape[:dims]
    channels, filters = x.shape[-1], w.shape[-1]
    sizes = [_windows(n, dilation * (k - 1) + 1, stride, padding) for n, k in zip(x.shape[1:-1], kernel)]
    xp = jnp.pad(x, [(0, 0), *(pad for _, pad in sizes), (0, 0)])
    out = 0.0
    for offset in itertools.product(*(range(k) for k in kernel)):
        at = tuple(slice(o * dilation, o * dilation + (m - 1) * stride + 1, stride) for o, (m, _) in zip(offset, sizes))
        patch = xp[(slice(None), *at, slice(None))]  # [rows, *outputs, C]
        patch = patch.reshape(patch.shape[:-1] + (groups, channels // groups))
        wk = w[offset].reshape(channels // groups, groups, filters // groups)  # filter f is in group f // (F / G)
        out = out + jnp.einsum("...gc,cgf->...gf", patch, wk).reshape(patch.shape[:-2] + (filters,))
    return out + b


def _pool(x, window, kind, stride=None, padding="valid"):
    """Max or mean over each window of every channel; a mean over the values inside the input only."""
    stride = stride or window
    dims = x.ndim - 2
    sizes = [_windows(n, window, stride, padding) for n in x.shape[1:-1]]
    fill = -jnp.inf if kind == "max" else jnp.nan
    xp = jnp.pad(x, [(0, 0), *(pad for _, pad in sizes), (0, 0)], constant_values=fill)
    stacked = jnp.stack(
        [
            xp[(slice(None), *(slice(o, o + (m - 1) * stride + 1, stride) for o, (m, _) in zip(offset, sizes)))]
            for offset in itertools.product(range(window), repeat=dims)
        ]
    )
    return jnp.max(stacked, axis=0) if kind == "max" else jnp.nanmean(stacked, axis=0)


def _global_mean(h):
    return h.reshape(h.shape[0], -1, h.shape[-1]).mean(axis=1)


def _flatten(h):
    return h.reshape(h.shape[0], -1)


def _one_hot_lookup(tokens, table):
    """An embedding as its one-hot view: one_hot(id) @ table."""
    return (tokens[..., None] == jnp.arange(table.shape[0])).astype(table.dtype) @ table


def _sinusoidal(steps: int, width: int) -> np.ndarray:
    """PE[t, 2i] = sin(t / 10000^(2i / d)), PE[t, 2i + 1] = cos(t / 10000^(2i / d)), one column at a time."""
    codes = np.zeros((steps, width))
    for t in range(steps):
        for j in range(width):
            angle = t / 10000.0 ** (2 * (j // 2) / width)
            codes[t, j] = np.sin(angle) if j % 2 == 0 else np.cos(angle)
    return codes


def _layernorm(h, scale=None, bias=None):
    mean = h.mean(axis=-1, keepdims=True)
    var = ((h - mean) ** 2).mean(axis=-1, keepdims=True)
    out = (h - mean) / jnp.sqrt(var + 1e-5)
    return out if scale is None else out * scale + bias


def _attention_params(prefix: str, width: int, bias_scale: float = 1.0) -> dict:
    p = {}
    for name in ("query", "key", "value", "output"):
        p[name] = _dense(f"{prefix}.{name}", width, width, bias_scale)
    return p


def _attention(h, p: dict, heads: int, causal: bool):
    """Multi-head self-attention, one head (a contiguous share of the width) at a time."""
    steps, width = h.shape[-2], h.shape[-1]
    share = width // heads
    q, k, v = (h @ p[n][0] + p[n][1] for n in ("query", "key", "value"))
    mixed = []
    for i in range(heads):
        cols = slice(i * share, (i + 1) * share)
        scores = q[..., cols] @ jnp.swapaxes(k[..., cols], -1, -2) / np.sqrt(share)  # [rows, query, key]
        if causal:
            scores = jnp.where(np.tril(np.ones((steps, steps), dtype=bool)), scores, -jnp.inf)
        e = jnp.exp(scores - scores.max(axis=-1, keepdims=True))
        mixed.append((e / e.sum(axis=-1, keepdims=True)) @ v[..., cols])
    w, b = p["output"]
    return jnp.concatenate(mixed, axis=-1) @ w + b


def _transformer(prefix: str, h, heads: int, hidden: int, causal=False, act=_gelu, bias_scale=1.0):
    """Pre-norm encoder block: h + attention(norm(h)), then h + dense(dense(norm(h), act))."""
    width = h.shape[-1]
    attn = _attention_params(f"{prefix}.0.1", width, bias_scale)
    w1, b1 = _dense(f"{prefix}.1.1", width, hidden, bias_scale)
    w2, b2 = _dense(f"{prefix}.1.2", hidden, width, bias_scale)
    h = h + _attention(_layernorm(h), attn, heads, causal)
    return h + (act(_layernorm(h) @ w1 + b1) @ w2 + b2)


def _categorical(logits, y):
    with numpyro.plate("rows", logits.shape[0]):
        numpyro.sample("y", dist.Categorical(logits=logits), obs=y)


# ---------------------------------------------------------------- the models, twice

CNN_SEQ_SRC = """
import std.priors (neal)
data {
  x: real[N, 16, 3]
  y: real[N]
}
param sigma ~ HalfNormal(1)
network cnn(x) -> real[N] {
  default weight ~ neal()
  conv1d(4, 3, tanh)
  maxpool(2)
  conv1d(6, 3, relu, stride = 2, dilation = 2, groups = 2, padding = valid)
  residual { conv1d(6, 3, tanh, groups = 3) }
  flatten
  dense(1)
}
observe y ~ Normal(cnn(x), sigma)
"""


def cnn_seq_by_hand(x, y=None):
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    w0, b0 = _weight("cnn.0.weight", (3, 3, 4), 3 * 3), _vector("cnn.0.bias", 4)
    w2, b2 = _weight("cnn.2.weight", (3, 2, 6), 3 * 4 // 2), _vector("cnn.2.bias", 6)
    w3, b3 = _weight("cnn.3.0.weight", (3, 2, 6), 3 * 6 // 3), _vector("cnn.3.0.bias", 6)
    w5, b5 = _dense("cnn.5", 12, 1)
    h = jnp.tanh(_conv(x, w0, b0))  # [16, 4]
    h = _pool(h, 2, "max")  # [8, 4]
    h = jnp.maximum(_conv(h, w2, b2, stride=2, padding="valid", dilation=2, groups=2), 0.0)  # span 5: [2, 6]
    h = h + jnp.tanh(_conv(h, w3, b3, groups=3))  # a residual around a convolution
    f = (_flatten(h) @ w5 + b5)[:, 0]
    numpyro.sample("y", dist.Normal(f, sigma).to_event(1), obs=y)


CNN_SEQ_SAME_SRC = """
data {
  x: real[N, 11, 2]
  y: real[N]
}
param sigma ~ HalfNormal(1)
network cnn(x) -> real[N] {
  conv1d(5, 4, relu, stride = 2)
  avgpool(3, stride = 2, padding = same)
  conv1d(5, 2, dilation = 3)
  globalavgpool
  dense(1)
}
observe y ~ Normal(cnn(x), sigma)
"""


def cnn_seq_same_by_hand(x, y=None):
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    w0, b0 = _weight("cnn.0.weight", (4, 2, 5), 4 * 2), _vector("cnn.0.bias", 5)
    w2, b2 = _weight("cnn.2.weight", (2, 5, 5), 2 * 5), _vector("cnn.2.bias", 5)
    w4, b4 = _dense("cnn.4", 5, 1)
    h = jnp.maximum(_conv(x, w0, b0, stride=2), 0.0)  # even kernel, stride 2: 11 -> 6, padded (1, 2)
    h = _pool(h, 3, "mean", stride=2, padding="same")  # 6 -> 3, the last window half outside
    h = _conv(h, w2, b2, dilation=3)
    f = (_global_mean(h) @ w4 + b4)[:, 0]
    numpyro.sample("y", dist.Normal(f, sigma).to_event(1), obs=y)


CNN_IMAGE_SRC = """
import std.priors (neal)
data {
  x: real[N, 7, 6, 2]
  y: int[N] in 0..2
}
network cnn(x) -> real[N, 3] {
  default weight ~ neal()
  conv2d(4, 3, relu, dilation = 2)
  maxpool(2, padding = same)
  conv2d(6, 2, tanh, stride = 2, padding = valid, groups = 2)
  flatten
  dense(3)
}
observe y ~ Categorical(logits = cnn(x))
"""


def cnn_image_by_hand(x, y=None):
    w0, b0 = _weight("cnn.0.weight", (3, 3, 2, 4), 9 * 2), _vector("cnn.0.bias", 4)
    w2, b2 = _weight("cnn.2.weight", (2, 2, 2, 6), 4 * 4 // 2), _vector("cnn.2.bias", 6)
    w4, b4 = _dense("cnn.4", 12, 3)
    h = jnp.maximum(_conv(x, w0, b0, dilation=2), 0.0)  # [7, 6, 4]
    h = _pool(h, 2, "max", padding="same")  # [4, 3, 4]
    h = jnp.tanh(_conv(h, w2, b2, stride=2, padding="valid", groups=2))  # [2, 1, 6]
    _categorical(_flatten(h) @ w4 + b4, y)


CNN_IMAGE_RESIDUAL_SRC = """
data {
  x: real[N, 7, 6, 2]
  y: int[N] in 0..2
}
network cnn(x) -> real[N, 3] {
  conv2d(3, 3, stride = 2)
  avgpool(2, stride = 1, padding = same)
  residual { conv2d(3, 3, tanh) }
  globalavgpool
  dense(3)
}
observe y ~ Categorical(logits = cnn(x))
"""


def cnn_image_residual_by_hand(x, y=None):
    w0, b0 = _weight("cnn.0.weight", (3, 3, 2, 3), 9 * 2), _vector("cnn.0.bias", 3)
    w2, b2 = _weight("cnn.2.0.weight", (3, 3, 3, 3), 9 * 3), _vector("cnn.2.0.bias", 3)
    w4, b4 = _dense("cnn.4", 3, 3)
    h = _conv(x, w0, b0, stride=2)  # [4, 3, 3]
    h = _pool(h, 2, "mean", stride=1, padding="same")  # [4, 3, 3]
    h = h + jnp.tanh(_conv(h, w2, b2))
    _categorical(_global_mean(h) @ w4 + b4, y)


EMBED_LEARNED_SRC = """
data {
  V = 11
  tokens: int[N, 7] in 0..V-1
  y: int[N] in 0..2
}
network net(tokens) -> real[N, 3] {
  embedding(V, 6)
  positions(learned)
  globalavgpool
  dense(3)
}
observe y ~ Categorical(logits = net(tokens))
"""


def embed_learned_by_hand(tokens, y=None):
    table = _weight("net.0.weight", (11, 6), 1)  # an embedding's fan_in is 1
    where = _weight("net.1.weight", (7, 6), 1)
    w3, b3 = _dense("net.3", 6, 3)
    h = _one_hot_lookup(tokens, table) + where
    _categorical(_global_mean(h) @ w3 + b3, y)


EMBED_SINUSOIDAL_SRC = """
data {
  tokens: int[N, 7] in 0..9
  y: real[N]
}
param sigma ~ HalfNormal(1)
network net(tokens) -> real[N] {
  embedding(10, 5) { weight ~ Normal(0, 0.5) }
  positions(sinusoidal)
  dense(4, tanh)
  globalavgpool
  dense(1)
}
observe y ~ Normal(net(tokens), sigma)
"""


def embed_sinusoidal_by_hand(tokens, y=None):
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    table = _weight("net.0.weight", (10, 5), 1, scale=0.5)
    w2, b2 = _dense("net.2", 5, 4)
    w4, b4 = _dense("net.4", 4, 1)
    h = _one_hot_lookup(tokens, table) + _sinusoidal(7, 5)  # an odd width: the last column is a sine
    h = jnp.tanh(h @ w2 + b2)  # on each step
    f = (_global_mean(h) @ w4 + b4)[:, 0]
    numpyro.sample("y", dist.Normal(f, sigma).to_event(1), obs=y)


TRANSFORMER_SRC = """
data {
  x: real[N, 5, 4]
  y: real[N]
}
param sigma ~ HalfNormal(1)
network net(x) -> real[N] {
  transformer(heads = 2, hidden = 16)
  globalavgpool
  dense(1)
}
observe y ~ Normal(net(x), sigma)
"""


def transformer_by_hand(x, y=None):
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    h = _transformer("net.0", x, heads=2, hidden=16)
    w2, b2 = _dense("net.2", 4, 1)
    f = (_global_mean(h) @ w2 + b2)[:, 0]
    numpyro.sample("y", dist.Normal(f, sigma).to_event(1), obs=y)


TOKENS_ATTENTION_SRC = """
data {
  V = 9
  tokens: int[N, 6] in 0..V-1
  y: int[N] in 0..2
}
network net(tokens) -> real[N, 3] {
  embedding(V, 8)
  positions(sinusoidal)
  transformer(heads = 4, hidden = 12, causal = true, activation = relu) { bias ~ Normal(0, 0.5) }
  attention(2, causal = true)
  layernorm(affine = true)
  flatten
  dense(3)
}
observe y ~ Categorical(logits = net(tokens))
"""


def tokens_attention_by_hand(tokens, y=None):
    table = _weight("net.0.weight", (9, 8), 1)
    h = _one_hot_lookup(tokens, table) + _sinusoidal(6, 8)
    # the transformer's body priors reach every layer inside it
    h = _transformer("net.2", h, heads=4, hidden=12, causal=True, act=lambda a: jnp.maximum(a, 0.0), bias_scale=0.5)
    h = _attention(h, _attention_params("net.3", 8), heads=2, causal=True)
    scale = _vector("net.4.scale", 8, loc=1.0, scale=0.1)  # the built-in prior of a normalisation's scale
    bias = _vector("net.4.bias", 8)
    h = _layernorm(h, scale, bias)
    w6, b6 = _dense("net.6", 6 * 8, 3)
    _categorical(_flatten(h) @ w6 + b6, y)


CASES = {
    "cnn_sequence": Case(CNN_SEQ_SRC, cnn_seq_by_hand, {}),
    "cnn_sequence_same_padding": Case(CNN_SEQ_SAME_SRC, cnn_seq_same_by_hand, {}),
    "cnn_image": Case(CNN_IMAGE_SRC, cnn_image_by_hand, {}),
    "cnn_image_residual": Case(CNN_IMAGE_RESIDUAL_SRC, cnn_image_residual_by_hand, {}),
    "embedding_learned_positions": Case(EMBED_LEARNED_SRC, embed_learned_by_hand, {}),
    "embedding_sinusoidal_positions": Case(EMBED_SINUSOIDAL_SRC, embed_sinusoidal_by_hand, {}),
    "transformer": Case(TRANSFORMER_SRC, transformer_by_hand, {}),
    "tokens_causal_attention_layernorm": Case(TOKENS_ATTENTION_SRC, tokens_attention_by_hand, {}),
}


def _model(source: str, name: str) -> Model:
    return Model.from_source(textwrap.dedent(source), f"{name}.bnn")


@pytest.mark.parametrize("name", list(CASES))
def test_log_density_matches_hand_written_layers(name, tmp_path):
    """6 points (2 prior draws, 4 random unconstrained points): float64 to 1e-10, then float32 to 1e-5."""
    case = CASES[name]
    model = _model(case.source, name)
    compiled = model.numpyro_model
    kwargs = _bound_kwargs(model, case, tmp_path, seed=len(name))  # random data through an NPZ file
    with x64(True):
        # float64 data too: `bnnc run --x64` binds float32 data, and a first layer that does not meet a weight
        # (layernorm, a pool) then computes in float32 (test_float32_data_under_x64)
        wide = {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in kwargs.items()}
        compiled_sites, hand_sites = Sites(compiled, wide), Sites(case.by_hand, wide)
        assert compiled_sites.shapes() == hand_sites.shapes()
        points = compiled_sites.prior_draws([0, 1]) + hand_sites.unconstrained_points(4, seed=len(name))
        points = [{k: np.asarray(v) for k, v in p.items()} for p in points]
        _compare(compiled, case.by_hand, wide, points, rtol=1e-10)
    with x64(False):
        points32 = [{k: v.astype(np.float32) for k, v in p.items()} for p in points]
        _compare(compiled, case.by_hand, kwargs, points32, rtol=1e-5)


@pytest.mark.parametrize("name", ["cnn_sequence", "cnn_image"])
def test_float32_data_under_x64(name, tmp_path):
    """`bnnc run --x64` binds float32 data and samples float64 weights; conv_general_dilated refuses to mix dtypes
    (this crashed with exit 3 until the input was cast to the kernel's dtype)."""
    case = CASES[name]
    model = _model(case.source, name)
    kwargs = _bound_kwargs(model, case, tmp_path, seed=1)
    assert kwargs["x"].dtype == np.float32
    with x64(True):
        params = {k: np.asarray(v) for k, v in Sites(model.numpyro_model, kwargs).unconstrained_points(1, 0)[0].items()}
        got = float(_jit_log_density(model.numpyro_model, kwargs)(params))
        wide = {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in kwargs.items()}
        want = float(_jit_log_density(case.by_hand, wide)(params))
    assert np.isfinite(got) and got == pytest.approx(want, rel=1e-6)


def test_layer_log_density_sees_every_site():
    """Guard against a vacuous comparison: changing any one site of the attention model changes its density."""
    case = CASES["tokens_causal_attention_layernorm"]
    model = _model(case.source, "attention")
    rng = np.random.default_rng(5)
    kwargs = {"tokens": rng.integers(0, 9, size=(N_ROWS, 6)), "y": rng.integers(0, 3, size=N_ROWS)}
    params = Sites(case.by_hand, kwargs).unconstrained_points(1, seed=0)[0]
    density = _jit_log_density(model.numpyro_model, kwargs)
    base = float(density(params))
    for name, value in params.items():
        assert float(density({**params, name: value * 1.5})) != base, name


def test_hand_written_layers_agree_with_numpy():
    """The references themselves, on one case each against plain NumPy loops: a grouped, strided, dilated
    convolution with SAME padding, and a mean pool with SAME padding."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 9, 4))
    w = rng.normal(size=(3, 2, 6))
    b = rng.normal(size=6)
    got = np.asarray(_conv(jnp.asarray(x), jnp.asarray(w), jnp.asarray(b), stride=2, dilation=2, groups=2))
    # SAME: 9 -> 5 outputs; span 5; total pad (5 - 1) * 2 + 5 - 9 = 4, two before
    want = np.zeros((2, 5, 6))
    for t in range(5):
        for f in range(6):
            g = f // 3
            for j in range(3):
                i = t * 2 + j * 2 - 2
                if 0 <= i < 9:
                    want[:, t, f] += x[:, i, 2 * g : 2 * g + 2] @ w[j, :, f]
    np.testing.assert_allclose(got, want + b, rtol=1e-5, atol=1e-5)
    pooled = np.asarray(_pool(jnp.asarray(x), 2, "mean", padding="same"))  # 9 -> 5, the last window one value
    np.testing.assert_allclose(pooled[:, -1], x[:, -1], rtol=1e-6)
    np.testing.assert_allclose(pooled[:, 0], x[:, :2].mean(axis=1), rtol=1e-6)


# ---------------------------------------------------------------- causal attention


CAUSAL_SRC = """
data {
  x: real[N, 6, 4]
  y: real[N]
}
network net(x) -> real[N, 24] {
  dense(4, tanh)
  LAYER
  flatten
}
observe y ~ Normal(net(x)[:, 0], 1)
"""


def _network_fn(layer: str):
    """The compiled network as a function of its input, at a prior draw of its weights."""
    model = _model(CAUSAL_SRC.replace("LAYER", layer), "causal")
    x = np.random.default_rng(1).normal(size=(3, 6, 4))
    tr = numpyro.handlers.trace(numpyro.handlers.seed(model.numpyro_model, 7)).get_trace(x=x, y=np.zeros(3))
    params = {k[len("net.") :]: s["value"] for k, s in tr.items() if k.startswith("net.")}
    assert params, "the network has no sites"
    return jax.jit(lambda h: model.module.net(params, h).reshape(h.shape[0], 6, 4)), x


@pytest.mark.parametrize(
    "layer",
    ["attention(2, causal = true)", "transformer(heads = 2, hidden = 8, causal = true)"],
    ids=["attention", "transformer"],
)
def test_causal_attention_ignores_later_steps(layer):
    net, x = _network_fn(layer)
    base = np.asarray(net(x))
    rng = np.random.default_rng(2)
    for t in range(6):
        later = x.copy()
        later[:, t + 1 :] += rng.normal(size=later[:, t + 1 :].shape) * 3.0
        out = np.asarray(net(later))
        np.testing.assert_allclose(out[:, : t + 1], base[:, : t + 1], rtol=1e-6, atol=1e-6, err_msg=f"step {t}")
        if t < 5:
            assert not np.allclose(out[:, t + 1 :], base[:, t + 1 :]), f"steps after {t} ignore their own input"


@pytest.mark.parametrize(
    "layer", ["attention(2)", "transformer(heads = 2, hidden = 8)"], ids=["attention", "transformer"]
)
def test_attention_without_causal_sees_later_steps(layer):
    net, x = _network_fn(layer)
    later = x.copy()
    later[:, -1] += 3.0
    changed = np.abs(np.asarray(net(later)) - np.asarray(net(x)))[:, 0]  # the first step's output
    assert changed.max() > 1e-4, "step 0 should depend on the last step without causal = true"


# ---------------------------------------------------------------- shapes and fans, from the checker alone


def _checked_network(data: str, layers: str, out: str = "real[N, 2]"):
    source = (
        f"data {{\n{data}\n  y: real[N]\n}}\n"
        f"network net(x) -> {out} {{\n{layers}\n}}\n"
        "observe y ~ Normal(net(x)[:, 0], 1)\n"
    )
    return Model.from_source(source, "shapes.bnn").checked.networks["net"]


def _leaves(layers) -> list:
    out = []
    for layer in layers:
        out += _leaves(layer.layers) if isinstance(layer, Residual) else [layer]
    return out


SHAPES = {
    # input declaration, a layer, the shape it gives (rows left out)
    "conv1d_same": ("x: real[N, 10, 3]", "conv1d(4, 3)", (10, 4)),
    "conv1d_same_stride3": ("x: real[N, 10, 3]", "conv1d(4, 3, stride = 3)", (4, 4)),
    "conv1d_valid": ("x: real[N, 10, 3]", "conv1d(4, 3, padding = valid)", (8, 4)),
    "conv1d_valid_stride_dilation": (
        "x: real[N, 10, 3]",
        "conv1d(4, 3, stride = 2, dilation = 2, padding = valid)",
        (3, 4),
    ),
    "conv1d_valid_exact": ("x: real[N, 5, 1]", "conv1d(2, 5, padding = valid)", (1, 2)),
    "conv2d_valid": ("x: real[N, 8, 6, 1]", "conv2d(5, 3, padding = valid)", (6, 4, 5)),
    "conv2d_same_stride2": ("x: real[N, 7, 5, 2]", "conv2d(5, 3, stride = 2)", (4, 3, 5)),
    "conv2d_valid_stride2": ("x: real[N, 7, 5, 2]", "conv2d(5, 3, stride = 2, padding = valid)", (3, 2, 5)),
    "maxpool_valid": ("x: real[N, 7, 3]", "maxpool(2)", (3, 3)),
    "maxpool_same": ("x: real[N, 7, 3]", "maxpool(2, padding = same)", (4, 3)),
    "maxpool_stride1": ("x: real[N, 7, 3]", "maxpool(3, stride = 1)", (5, 3)),
    "avgpool_image": ("x: real[N, 5, 4, 3]", "avgpool(2)", (2, 2, 3)),
    "avgpool_image_same": ("x: real[N, 5, 4, 3]", "avgpool(2, padding = same)", (3, 2, 3)),
    "globalavgpool_image": ("x: real[N, 5, 4, 3]", "globalavgpool", (3,)),
    "globalavgpool_sequence": ("x: real[N, 7, 3]", "globalavgpool", (3,)),
    "flatten_image": ("x: real[N, 5, 4, 3]", "flatten", (60,)),
    "flatten_vector": ("x: real[N, 12]", "flatten", (12,)),
    "reshape_vector": ("x: real[N, 12]", "reshape(4, 3)", (4, 3)),
    "reshape_sequence": ("x: real[N, 4, 3]", "reshape(2, 2, 3)", (2, 2, 3)),
    "dense_on_steps": ("x: real[N, 7, 3]", "dense(5, tanh)", (7, 5)),
    "activation_image": ("x: real[N, 5, 4, 3]", "relu", (5, 4, 3)),
    "embedding_sequence": ("V = 9\n  x: int[N, 7] in 0..V-1", "embedding(V, 5)", (7, 5)),
    "embedding_one_token": ("x: int[N] in 0..8", "embedding(9, 5)", (5,)),
    "positions_learned": ("x: real[N, 7, 4]", "positions", (7, 4)),
    "positions_sinusoidal": ("x: real[N, 7, 4]", "positions(sinusoidal)", (7, 4)),
    "layernorm": ("x: real[N, 7, 4]", "layernorm(affine = true)", (7, 4)),
    "attention": ("x: real[N, 7, 4]", "attention(2, causal = true)", (7, 4)),
    "transformer": ("x: real[N, 7, 4]", "transformer(heads = 4, hidden = 8)", (7, 4)),
}


@pytest.mark.parametrize("name", list(SHAPES))
def test_layer_output_shape(name):
    data, layer, want = SHAPES[name]
    net = _checked_network(data, f"{layer}\nflatten\ndense(2)")
    leaves = _leaves(net.layers)
    flatten, last = leaves[-2:]  # the layers added after the one under test
    assert flatten.kind == "flatten" and flatten.in_shape == want, f"{layer} on {data}: gives {flatten.in_shape}"
    assert last.out_shape == (2,) and net.out_shape == (2,)
    for a, b in zip(leaves, leaves[1:]):  # inside a transformer's blocks too, each takes what the one before gives
        assert b.in_shape == a.out_shape


def test_shapes_chain_through_a_cnn():
    net = _checked_network(
        "x: real[N, 8, 8, 1]",
        "conv2d(8, 3, relu)\nmaxpool(2)\nconv2d(16, 3, relu, padding = valid)\nglobalavgpool\ndense(2)",
    )
    assert [(layer.kind, layer.out_shape) for layer in net.layers] == [
        ("conv2d", (8, 8, 8)),
        ("maxpool", (4, 4, 8)),
        ("conv2d", (2, 2, 16)),
        ("globalavgpool", (16,)),
        ("dense", (2,)),
    ]


FANS = {
    # input, layer, {site: (shape, fan_in, fan_out)}
    "conv1d": ("x: real[N, 10, 6]", "conv1d(4, 3, groups = 2)", {"weight": ((3, 3, 4), 9, 6), "bias": ((4,), 9, 6)}),
    "conv1d_dilated": (
        "x: real[N, 10, 6]",
        "conv1d(4, 3, dilation = 2, stride = 2)",
        {"weight": ((3, 6, 4), 18, 12), "bias": ((4,), 18, 12)},
    ),
    "conv2d": (
        "x: real[N, 6, 6, 4]",
        "conv2d(8, 3, groups = 4)",
        {"weight": ((3, 3, 1, 8), 9, 18), "bias": ((8,), 9, 18)},
    ),
    "conv2d_plain": ("x: real[N, 6, 6, 3]", "conv2d(5, 2)", {"weight": ((2, 2, 3, 5), 12, 20), "bias": ((5,), 12, 20)}),
    "dense_on_steps": ("x: real[N, 7, 3]", "dense(5)", {"weight": ((3, 5), 3, 5), "bias": ((5,), 3, 5)}),
    "embedding": ("x: int[N, 7] in 0..8", "embedding(9, 5)", {"weight": ((9, 5), 1, 5)}),
    "positions": ("x: real[N, 7, 4]", "positions(learned)", {"weight": ((7, 4), 1, 4)}),
    "layernorm": ("x: real[N, 7, 4]", "layernorm(affine = true)", {"scale": ((4,), 4, 4), "bias": ((4,), 4, 4)}),
    "attention": (
        "x: real[N, 7, 4]",
        "attention(2)",
        {
            f"{p}.{s}": ((4, 4) if s == "weight" else (4,), 4, 4)
            for p in ("query", "key", "value", "output")
            for s in ("weight", "bias")
        },
    ),
}


@pytest.mark.parametrize("name", list(FANS))
def test_site_fans(name):
    data, layer, want = FANS[name]
    net = _checked_network(data, f"{layer}\nflatten\ndense(2)")
    sites = {
        site.name: (site.shape, site.fan_in, site.fan_out) for _, lay, site in net.layer_sites() if lay.path == "0"
    }
    assert sites == want


def test_sinusoidal_positions_and_plain_layers_have_no_sites():
    net = _checked_network(
        "x: real[N, 7, 4]", "positions(sinusoidal)\nlayernorm\nmaxpool(2)\nglobalavgpool\nrelu\ndense(2)"
    )
    assert [lay.path for _, lay, _ in net.layer_sites()] == ["5", "5"]


def test_transformer_sites_and_fans():
    net = _checked_network("x: real[N, 5, 6]", "transformer(heads = 3, hidden = 10)\nglobalavgpool\ndense(2)")
    sites = {name: (site.shape, site.fan_in, site.fan_out) for name, _, site in net.layer_sites()}
    for p in ("query", "key", "value", "output"):
        assert sites[f"net.0.0.1.{p}.weight"] == ((6, 6), 6, 6)
    assert sites["net.0.1.1.weight"] == ((6, 10), 6, 10)
    assert sites["net.0.1.2.weight"] == ((10, 6), 10, 6)
    assert len(sites) == 8 + 4 + 2


# ---------------------------------------------------------------- ArviZ dims


def test_site_dims_name_each_kernel_axis():
    model = _model(CNN_IMAGE_SRC, "image")
    dims = site_dims(model.checked)
    kernel = dims["cnn.0.weight"]
    assert len(kernel) == 4 and len(set(kernel)) == 4, kernel
    assert kernel == ["cnn.0.kernel_row", "cnn.0.kernel_column", "cnn.0.in", "cnn.0.out"]
    assert dims["cnn.0.bias"] == ["cnn.0.out"]
    seq = site_dims(_model(CNN_SEQ_SRC, "seq").checked)
    assert seq["cnn.0.weight"] == ["cnn.0.kernel", "cnn.0.in", "cnn.0.out"]
    tokens = site_dims(_model(TOKENS_ATTENTION_SRC, "tokens").checked)
    assert tokens["net.0.weight"] == ["net.0.token", "net.0.out"]
    assert tokens["net.3.query.weight"] == ["net.3.in", "net.3.out"]
    for name, axes in {**dims, **seq, **tokens}.items():
        assert len(set(axes)) == len(axes), f"{name}: {axes}"


def _inference_data(name: str, tmp_path):
    """InferenceData as a run writes it (posterior, log-likelihood, data) from random values of every site."""
    from bnnlang.posterior.arviz import to_inference_data

    case = CASES[name]
    model = _model(case.source, name)
    kwargs = _bound_kwargs(model, case, tmp_path, seed=0)
    rng = np.random.default_rng(0)
    shapes = Sites(model.numpyro_model, kwargs).shapes()
    posterior = {k: np.abs(rng.normal(size=(1, 3) + shape)) for k, (observed, shape) in shapes.items() if not observed}
    return to_inference_data(model.numpyro_model, posterior, {}, kwargs, site_dims(model.checked))


def test_inference_data_names_each_kernel_axis(tmp_path):
    posterior = _inference_data("cnn_image", tmp_path).posterior
    kernel = posterior["cnn.0.weight"]
    assert kernel.dims == ("chain", "draw", "cnn.0.kernel_row", "cnn.0.kernel_column", "cnn.0.in", "cnn.0.out")
    assert kernel.shape[2:] == (3, 3, 2, 4)
    assert posterior["cnn.2.weight"].shape[2:] == (2, 2, 2, 6)  # groups = 2: each kernel sees 4 / 2 channels
    assert posterior["cnn.0.bias"].dims[2:] == ("cnn.0.out",) and posterior.sizes["cnn.0.out"] == 4


def test_inference_data_of_a_transformer(tmp_path):
    idata = _inference_data("tokens_causal_attention_layernorm", tmp_path)
    posterior = idata.posterior
    assert posterior["net.0.weight"].dims[2:] == ("net.0.token", "net.0.out")
    assert posterior["net.2.0.1.query.weight"].dims[2:] == ("net.2.0.1.in", "net.2.0.1.out")
    assert posterior["net.4.scale"].dims[2:] == ("net.4.out",)
    assert idata.constant_data["tokens"].shape == (N_ROWS, 6)
    assert idata.log_likelihood["y"].shape == (1, 3, N_ROWS)


@pytest.mark.slow
def test_short_svi_run_writes_kernel_dims(tmp_path):
    model = _model(CNN_IMAGE_SRC, "image")
    rng = np.random.default_rng(0)
    data = tmp_path / "images.npz"
    np.savez(data, x=rng.normal(size=(12, 7, 6, 2)), y=rng.integers(0, 3, size=12))
    run = model.run(data, out=tmp_path / "run", backend="svi", guide="normal", steps=20, samples=8, map_steps=10)
    posterior = run.idata.posterior
    kernel = posterior["cnn.0.weight"]
    assert kernel.dims[2:] == ("cnn.0.kernel_row", "cnn.0.kernel_column", "cnn.0.in", "cnn.0.out")
    assert kernel.shape[2:] == (3, 3, 2, 4)
    assert (tmp_path / "run" / "posterior.nc").is_file()


# ---------------------------------------------------------------- the standalone program

STANDALONE = {
    "cnn_sequence": CNN_SEQ_SRC,
    "cnn_image": CNN_IMAGE_SRC,
    "tokens_attention": TOKENS_ATTENTION_SRC,
}

CHILD = textwrap.dedent(
    """
    import contextlib
    import importlib.util
    import io
    import json
    import runpy

    import jax
    import jax.numpy as jnp
    import numpy as np
    from numpyro.infer.util import log_density

    jobs, run_main = json.loads(sys.argv[1]), sys.argv[2] == "main"
    out = {}
    for name, program, data_path, params_path in jobs:
        spec = importlib.util.spec_from_file_location("generated_" + name, program)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        data, params = np.load(data_path), np.load(params_path)
        kwargs = {k: jnp.asarray(data[k]) for k in module.DATA}
        values = {k: jnp.asarray(params[k]) for k in params.files}
        density, grads = jax.jit(jax.value_and_grad(lambda p: log_density(module.model, (), kwargs, p)[0]))(values)
        out[name] = {
            "log_density": float(density),
            "gradient_finite": all(bool(jnp.all(jnp.isfinite(g))) for g in grads.values()),
            "gradient_sites": sorted(k for k, g in grads.items() if bool(jnp.any(g != 0))),
        }
        if run_main:
            sys.argv = [program, data_path]  # as if run as: python generated.py data.npz
            printed = io.StringIO()
            with contextlib.redirect_stdout(printed):
                runpy.run_path(program, run_name="__main__")
            out[name]["summary"] = printed.getvalue()
    print("RESULT " + json.dumps(out))
    """
)


def _standalone(folder: Path, run_main: bool) -> tuple[dict, dict, dict]:
    """`bnnc compile` each model, then one isolated subprocess that cannot import bnnlang evaluates each program's
    log density and its gradient at a prior draw (and with `run_main`, runs its NUTS main on the data)."""
    jobs, expected, sites = [], {}, {}
    for name, source in STANDALONE.items():
        source = textwrap.dedent(source) + "infer nuts(chains = 1, warmup = 8, samples = 6, max_tree_depth = 3)\n"
        bnn = folder / f"{name}.bnn"
        bnn.write_text(source)
        program = folder / f"{name}_generated.py"
        assert bnnc(["compile", str(bnn), "-o", str(program), "-q"]) == 0
        model = Model.from_file(bnn)
        assert program.read_text() == model.python_source
        kwargs = _bound_kwargs(model, Case(source, None, {}), folder, seed=len(name))
        data_path = folder / f"{name}_data.npz"
        (folder / "data.npz").rename(data_path)
        table = Sites(model.numpyro_model, kwargs)
        params = {k: np.asarray(v) for k, v in table.prior_draws([3])[0].items()}
        params_path = folder / f"{name}_params.npz"
        np.savez(params_path, **params)
        expected[name] = float(_jit_log_density(model.numpyro_model, kwargs)(params))
        sites[name] = sorted(params)
        jobs.append([name, str(program), str(data_path), str(params_path)])
    proc = subprocess.run(
        [sys.executable, "-I", "-c", BLOCK_BNNLANG + CHILD, json.dumps(jobs), "main" if run_main else "density"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[0] == "BNNLANG-BLOCKED"
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line.split(" ", 1)[1]), expected, sites


def test_standalone_programs_run_without_bnnlang(tmp_path):
    """One test, so the subprocess runs once under pytest-xdist: in each program, the log density equals bnnlang's,
    and every site gets a finite, nonzero gradient (what NUTS needs)."""
    got, expected, sites = _standalone(tmp_path, run_main=False)
    for name in STANDALONE:
        assert np.isfinite(expected[name])
        assert got[name]["log_density"] == pytest.approx(expected[name], rel=1e-5), name
        assert got[name]["gradient_finite"], name
        assert got[name]["gradient_sites"] == sites[name], name


@pytest.mark.slow
def test_standalone_program_samples_with_nuts(tmp_path):
    """Each program's own main(): a few NUTS steps from an NPZ file, and its summary (half a minute each on a
    loaded 2-core machine: NumPyro's initialisation and two compilations dominate)."""
    got, expected, _ = _standalone(tmp_path, run_main=True)
    for name in STANDALONE:
        summary = got[name]["summary"]
        assert "n_eff" in summary and "r_hat" in summary, summary[-2000:]
        assert ("cnn.0.weight" if name.startswith("cnn") else "net.3.query.weight") in summary
        assert got[name]["log_density"] == pytest.approx(expected[name], rel=1e-5), name


# ---------------------------------------------------------------- the error corpus never imports JAX

NO_JAX = textwrap.dedent(
    """
    import contextlib
    import io
    import json
    import sys

    from bnnlang.cli import main

    codes = {}
    for name, argv in json.loads(sys.argv[1]).items():
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            codes[name] = main(argv)
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("jax", "jaxlib", "numpyro", "arviz"))
        if heavy:
            raise SystemExit(f"{name}: bnnc check imported {heavy[:3]}")
    print(json.dumps(codes))
    """
)


def test_error_corpus_never_imports_jax(tmp_path):
    """Every case of tests/errors (the layer and NPZ cases included) is refused by `bnnc check` without JAX."""
    from test_errors import CASES as ERROR_CASES

    layer_cases = [c.name for c in ERROR_CASES if c.name.startswith("layer_")]
    assert len(layer_cases) >= 10, layer_cases
    argv = {c.name: c.argv() for c in ERROR_CASES if c.xfail is None}
    proc = subprocess.run(
        [sys.executable, "-c", NO_JAX, json.dumps(argv)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    codes = json.loads(proc.stdout.splitlines()[-1])
    wrong = {name: rc for name, rc in codes.items() if rc != next(c.exit for c in ERROR_CASES if c.name == name)}
    assert not wrong, wrong
