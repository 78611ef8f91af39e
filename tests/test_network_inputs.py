"""Networks of several inputs (`network f(x, region)`, `concat`), and one network applied to two inputs with
shared weights (a pairwise Bradley-Terry likelihood): the compiled joint log density equals a hand-written
NumPyro model's at prior draws, and misuse is a located error."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro import handlers
from numpyro.infer.util import log_density

from bnnlang.api import Model
from bnnlang.errors import BnnError

MIXED = """
data {
  x: real[N, 3]
  region: int[N] in 0..3
  y: real[N]
}
param sigma ~ HalfNormal(1)
network f(x, region) -> real[N] {
  concat(region) { embedding(4, 2) }
  dense(6, tanh)
  concat { dense(3, tanh) }
  dense(1)
}
observe y ~ Normal(f(x, region), sigma)
"""

PAIRS = """
data {
  a: real[N, 3]
  b: real[N, 3]
  prefer: int[N] in 0..1
}
network r(a) -> real[N] {
  dense(5, tanh)
  dense(1)
}
observe prefer ~ Bernoulli(logits = r(a) - r(b))
"""


def _w(name, shape, fan_in):
    return numpyro.sample(name, dist.Normal(jnp.zeros(shape), 1 / np.sqrt(fan_in)).to_event(len(shape)))


def _b(name, n):
    return numpyro.sample(name, dist.Normal(jnp.zeros(n), 1.0).to_event(1))


def mixed_by_hand(x, region, y):
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    table = numpyro.sample("f.0.0.weight", dist.Normal(jnp.zeros((4, 2)), 1.0).to_event(2))
    w1, b1 = _w("f.1.weight", (5, 6), 5), _b("f.1.bias", 6)
    w2, b2 = _w("f.2.0.weight", (6, 3), 6), _b("f.2.0.bias", 3)
    w3, b3 = _w("f.3.weight", (9, 1), 9), _b("f.3.bias", 1)
    h = jnp.tanh(jnp.hstack([x, table[region]]) @ w1 + b1)
    h = jnp.hstack([h, jnp.tanh(h @ w2 + b2)])
    with numpyro.plate("rows", len(y)):
        numpyro.sample("y", dist.Normal((h @ w3 + b3)[:, 0], sigma), obs=y)


def pairs_by_hand(a, b, prefer):
    w0, b0 = _w("r.0.weight", (3, 5), 3), _b("r.0.bias", 5)
    w1, b1 = _w("r.1.weight", (5, 1), 5), _b("r.1.bias", 1)

    def reward(z):
        return (jnp.tanh(z @ w0 + b0) @ w1 + b1)[:, 0]

    with numpyro.plate("rows", len(prefer)):
        numpyro.sample("prefer", dist.Bernoulli(logits=reward(a) - reward(b)), obs=prefer)


def _data() -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    n = 12
    return {
        "mixed": {"x": rng.normal(size=(n, 3)), "region": rng.integers(0, 4, n), "y": rng.normal(size=n)},
        "pairs": {"a": rng.normal(size=(n, 3)), "b": rng.normal(size=(n, 3)), "prefer": rng.integers(0, 2, n)},
    }


@pytest.mark.parametrize(
    ("source", "by_hand", "which"), [(MIXED, mixed_by_hand, "mixed"), (PAIRS, pairs_by_hand, "pairs")]
)
def test_log_density_equals_hand_written(source, by_hand, which) -> None:
    model = Model.from_source(source)
    data = _data()[which]
    bound = model.data(data)
    kwargs = model.problem(bound).data
    generated = model.numpyro_model
    hand_kwargs = {k: jnp.asarray(v) for k, v in data.items()}
    for seed in range(4):
        trace = handlers.trace(handlers.seed(by_hand, seed)).get_trace(**hand_kwargs)
        values = {k: s["value"] for k, s in trace.items() if s["type"] == "sample" and not s["is_observed"]}
        ours, _ = log_density(generated, (), kwargs, values)
        theirs, _ = log_density(by_hand, (), hand_kwargs, values)
        assert np.isfinite(float(theirs))
        np.testing.assert_allclose(float(ours), float(theirs), rtol=1e-5, atol=1e-4)


def test_the_two_calls_share_one_set_of_weights() -> None:
    model = Model.from_source(PAIRS)
    sites = [s for s in model.checked.sample_sites()]
    assert sites == ["r.0.weight", "r.0.bias", "r.1.weight", "r.1.bias"]
    source = model.python_source
    assert "r(_p_r, a)" in source and "r(_p_r, b)" in source


def test_a_concat_branch_changes_the_prediction_by_its_input() -> None:
    """The region's embedding reaches the output: changing only the region changes f."""
    model = Model.from_source(MIXED)
    module = model.module
    rng = np.random.default_rng(1)
    params = {
        "0.0.weight": jnp.asarray(rng.normal(size=(4, 2))),
        "1.weight": jnp.asarray(rng.normal(size=(5, 6))),
        "1.bias": jnp.zeros(6),
        "2.0.weight": jnp.asarray(rng.normal(size=(6, 3))),
        "2.0.bias": jnp.zeros(3),
        "3.weight": jnp.asarray(rng.normal(size=(9, 1))),
        "3.bias": jnp.zeros(1),
    }
    x = jnp.asarray(rng.normal(size=(4, 3)))
    same = module.f(params, x, jnp.array([0, 0, 0, 0]))
    other = module.f(params, x, jnp.array([0, 1, 2, 3]))
    assert same.shape == (4,)
    assert float(jnp.abs(same[0] - other[0])) == 0.0 and float(jnp.min(jnp.abs(same[1:] - other[1:]))) > 0
    assert jax.numpy.isfinite(other).all()


BAD = {
    "arity": (
        "data {\n  x: real[N, 3]\n  z: real[N, 2]\n  y: real[N]\n}\nnetwork f(x, z) -> real[N] {\n  concat(z)\n"
        "  dense(1)\n}\nobserve y ~ Normal(f(x), 1)\n",
        "takes 2 inputs; got 1",
        (10, 20),
    ),
    "rows": (
        "data {\n  x: real[N, 3]\n  z: real[M, 2]\n  y: real[N]\n}\nnetwork f(x, z) -> real[N] {\n  concat(z)\n"
        "  dense(1)\n}\nobserve y ~ Normal(f(x, z), 1)\n",
        "must have the same rows",
        (10, 25),
    ),
    "not an input": (
        "data {\n  x: real[N, 3]\n  z: real[N, 2]\n  y: real[N]\n}\nnetwork f(x, z) -> real[N] {\n  concat(w)\n"
        "  dense(1)\n}\nobserve y ~ Normal(f(x, z), 1)\n",
        "must be one of the network's inputs",
        (7, 10),
    ),
    "tokens unembedded": (
        "data {\n  x: real[N, 3]\n  g: int[N, 2] in 0..4\n  y: real[N]\n}\nnetwork f(x, g) -> real[N] {\n"
        "  concat(g)\n  dense(1)\n}\nobserve y ~ Normal(f(x, g), 1)\n",
        "concat joins real values",
        (7, 3),
    ),
    "named twice": (
        "data {\n  x: real[N, 3]\n  y: real[N]\n}\nnetwork f(x, x) -> real[N] {\n  dense(1)\n}\n"
        "observe y ~ Normal(f(x, x), 1)\n",
        "names its input 'x' twice",
        (5, 1),
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_misuse_is_a_located_error(case: str) -> None:
    source, words, (line, col) = BAD[case]
    with pytest.raises(BnnError) as err:
        Model.from_source(source, "bad.bnn")
    assert words in err.value.message
    assert (err.value.location.line, err.value.location.column) == (line, col)
    assert err.value.hint


CATEGORY = """
data {
  x: real[N, 2]
  region: int[N] in (north, south, east)
  y: real[N]
}
param sigma ~ HalfNormal(1)
network f(x, region) -> real[N] {
  concat(region) { onehot }
  dense(4, tanh)
  dense(1)
}
observe y ~ Normal(f(x, region), sigma)
"""


def category_by_hand(x, region, y):
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    w1, b1 = _w("f.1.weight", (5, 4), 5), _b("f.1.bias", 4)
    w2, b2 = _w("f.2.weight", (4, 1), 4), _b("f.2.bias", 1)
    h = jnp.tanh(jnp.hstack([x, jnp.eye(3)[region]]) @ w1 + b1)
    with numpyro.plate("rows", len(y)):
        numpyro.sample("y", dist.Normal((h @ w2 + b2)[:, 0], sigma), obs=y)


def _category_csv(path, regions) -> None:
    rows = [f"{0.1 * i},{-0.2 * i},{r},{0.3 * i}" for i, r in enumerate(regions)]
    path.write_text("x.0,x.1,region,y\n" + "\n".join(rows) + "\n")


def test_a_category_is_read_by_its_level_names_and_enters_through_onehot(tmp_path) -> None:
    model = Model.from_source(CATEGORY)
    csv = tmp_path / "d.csv"
    regions = ["east", "north", "south", "north", "east"]
    _category_csv(csv, regions)
    bound = model.data(str(csv))
    kwargs = model.problem(bound).data
    np.testing.assert_array_equal(np.asarray(kwargs["region"]), [2, 0, 1, 0, 2])
    hand = {k: jnp.asarray(v) for k, v in kwargs.items() if k in ("x", "region", "y")}
    for seed in range(3):
        trace = handlers.trace(handlers.seed(category_by_hand, seed)).get_trace(**hand)
        values = {k: s["value"] for k, s in trace.items() if s["type"] == "sample" and not s["is_observed"]}
        ours, _ = log_density(model.numpyro_model, (), kwargs, values)
        theirs, _ = log_density(category_by_hand, (), hand, values)
        np.testing.assert_allclose(float(ours), float(theirs), rtol=1e-5, atol=1e-4)
    # the same names from memory (a mapping of arrays) give the same codes
    arrays = {"x": np.zeros((3, 2)), "region": np.array(["south", "east", "north"]), "y": np.zeros(3)}
    np.testing.assert_array_equal(np.asarray(model.data(arrays).arrays["region"]), [1, 2, 0])


def test_an_unknown_level_is_refused_at_its_cell(tmp_path) -> None:
    model = Model.from_source(CATEGORY)
    csv = tmp_path / "d.csv"
    _category_csv(csv, ["north", "sout"])
    with pytest.raises(BnnError) as err:
        model.data(str(csv))
    assert (err.value.location.line, err.value.location.column) == (3, 10)  # "0.1,-0.2,sout,..."
    assert "'sout'" in err.value.message and "south" in err.value.hint
    with pytest.raises(BnnError) as err:
        model.data({"x": np.zeros((2, 2)), "region": np.array(["north", "west"]), "y": np.zeros(2)})
    assert "'west'" in err.value.message and "[1]" in err.value.message


@pytest.mark.parametrize(
    ("decl", "words"),
    [("region: real[N] in (a, b)", "Only int data can have levels"), ("region: int[N] in (a, b, a)", "listed twice")],
)
def test_bad_level_declarations(decl: str, words: str) -> None:
    source = f"data {{\n  {decl}\n  y: real[N]\n}}\nobserve y ~ Normal(region, 1)\n"
    with pytest.raises(BnnError) as err:
        Model.from_source(source, "bad.bnn")
    assert words in err.value.message and err.value.location.line == 2
