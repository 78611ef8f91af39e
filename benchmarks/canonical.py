"""The canonical BNN of the overhead, NUTS-overhead, PyMC and scaling benchmarks, in bnnlang and by hand.

Two tanh layers of `width` units, Normal(0, 1) weights and biases, a Gamma(3, 1) noise precision, and the 1-D
gap data (y = sin(3x) + 0.1 noise, x in [-2, -0.5] U [0.5, 2]). One definition, so that every benchmark that
compares bnnlang with hand-written code compares the same model.
"""

from __future__ import annotations

import numpy as np

LAYERS = ("w0", "b0", "w1", "b1", "w2", "b2")  # the hand-written model's weight sites, in order


def source(width: int, inputs: str = "1") -> str:
    """The .bnn text; `inputs` is x's second dimension (a number, or a name such as "D" read from the data)."""
    return f"""
data {{
  x: real[N, {inputs}]
  y: real[N]
}}

param prec ~ Gamma(3, 1)

network mlp(x) -> real[N] {{
  default weight ~ Normal(0, 1)
  default bias ~ Normal(0, 1)
  dense({width}, tanh)
  dense({width}, tanh)
  dense(1)
}}

observe y ~ Normal(mlp(x), 1 / sqrt(prec))
"""


def numpyro_model(x, y, width: int) -> None:
    """The same BNN written by hand in NumPyro, as a user would (JAX imported here: the scripts' parent
    processes, which only start children, stay light)."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist

    def normal(name: str, shape: tuple[int, ...]):
        return numpyro.sample(name, dist.Normal(0.0, 1.0).expand(shape).to_event(len(shape)))

    prec = numpyro.sample("prec", dist.Gamma(3.0, 1.0))
    h = jnp.tanh(x @ normal("w0", (x.shape[1], width)) + normal("b0", (width,)))
    h = jnp.tanh(h @ normal("w1", (width, width)) + normal("b1", (width,)))
    f = (h @ normal("w2", (width, 1)) + normal("b2", (1,)))[:, 0]
    with numpyro.plate("N", x.shape[0]):
        numpyro.sample("y", dist.Normal(f, 1.0 / jnp.sqrt(prec)), obs=y)


def gap_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n rows of y = sin(3x) + 0.1 noise, x uniform on [-2, -0.5] U [0.5, 2]; x as [n, 1], both float32."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.uniform(-2.0, -0.5, n // 2), rng.uniform(0.5, 2.0, n - n // 2)])
    y = np.sin(3 * x) + 0.1 * rng.standard_normal(n)
    return x.reshape(-1, 1).astype(np.float32), y.astype(np.float32)
