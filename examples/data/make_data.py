"""Generate the small data sets used by the examples in `examples/`.

Deterministic (fixed seeds): run it from anywhere and it rewrites the CSV files
beside this script, byte for byte the same.

    python examples/data/make_data.py
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def write_csv(name: str, columns: dict[str, np.ndarray], decimals: int = 4) -> None:
    """Write columns (all the same length) to HERE/name with a header row."""
    names = list(columns)
    n = len(columns[names[0]])
    with open(HERE / name, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(names)
        for i in range(n):
            row = []
            for c in names:
                v = columns[c][i]
                if np.issubdtype(columns[c].dtype, np.integer):
                    row.append(str(int(v)))
                else:
                    row.append(f"{float(v):.{decimals}f}")
            w.writerow(row)


def regression_1d() -> None:
    """y = sin(3x) + 0.1 noise, x on [-2, 2] with a gap at (-0.5, 0.5)."""
    rng = np.random.default_rng(0)
    n = 100
    left = rng.uniform(-2.0, -0.5, n // 2)
    right = rng.uniform(0.5, 2.0, n - n // 2)
    x = np.sort(np.concatenate([left, right]))
    y = np.sin(3 * x) + 0.1 * rng.standard_normal(n)
    write_csv("regression_1d.csv", {"x": x, "y": y})
    write_csv("regression_1d_grid.csv", {"x": np.linspace(-3.0, 3.0, 200)})
    # held out, for `bnnc report --test`: drawn like the training data (no rows in the gap either)
    test_rng = np.random.default_rng(100)
    xt = np.sort(np.concatenate([test_rng.uniform(-2.0, -0.5, 50), test_rng.uniform(0.5, 2.0, 50)]))
    write_csv("regression_1d_test.csv", {"x": xt, "y": np.sin(3 * xt) + 0.1 * test_rng.standard_normal(100)})
    # out of distribution, for `bnnc report --ood`: beyond the data on both sides
    xo = np.sort(np.concatenate([test_rng.uniform(-3.5, -2.5, 25), test_rng.uniform(2.5, 3.5, 25)]))
    write_csv("regression_1d_ood.csv", {"x": xo})


def two_moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n0 = n // 2
    n1 = n - n0
    t0 = rng.uniform(0, np.pi, n0)
    t1 = rng.uniform(0, np.pi, n1)
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    x = np.concatenate([upper, lower]) + noise * rng.standard_normal((n, 2))
    y = np.concatenate([np.zeros(n0, dtype=int), np.ones(n1, dtype=int)])
    # centre roughly on the origin so the priors' unit scale fits
    x = x - np.array([0.5, 0.25])
    perm = rng.permutation(n)
    return x[perm], y[perm]


def classification_binary() -> None:
    """Two interleaving half-moons in 2-D, labels 0/1."""
    rng = np.random.default_rng(1)
    x, y = two_moons(200, 0.15, rng)
    write_csv("classification_binary.csv", {"x.0": x[:, 0], "x.1": x[:, 1], "y": y})
    g = np.linspace(-2.0, 2.0, 9)
    gx, gy = np.meshgrid(g, g)
    write_csv("classification_binary_grid.csv", {"x.0": gx.ravel(), "x.1": gy.ravel()})
    test_rng = np.random.default_rng(101)
    xt, yt = two_moons(200, 0.15, test_rng)
    write_csv("classification_binary_test.csv", {"x.0": xt[:, 0], "x.1": xt[:, 1], "y": yt})
    # far from both moons: a ring of radius 3-4 around them
    angle, radius = test_rng.uniform(0, 2 * np.pi, 100), test_rng.uniform(3.0, 4.0, 100)
    write_csv("classification_binary_ood.csv", {"x.0": radius * np.cos(angle), "x.1": radius * np.sin(angle)})


def classification_multiclass() -> None:
    """Three Gaussian blobs in 2-D, labels 0, 1, 2."""
    rng = np.random.default_rng(2)
    centres = np.array([[-1.2, -0.8], [1.2, -0.8], [0.0, 1.2]])
    n_per = 50
    x = np.concatenate([c + 0.5 * rng.standard_normal((n_per, 2)) for c in centres])
    y = np.repeat(np.arange(3), n_per)
    perm = rng.permutation(len(y))
    x, y = x[perm], y[perm]
    write_csv("classification_multiclass.csv", {"x.0": x[:, 0], "x.1": x[:, 1], "y": y})
    g = np.linspace(-2.5, 2.5, 6)
    gx, gy = np.meshgrid(g, g)
    write_csv("classification_multiclass_grid.csv", {"x.0": gx.ravel(), "x.1": gy.ravel()})


def hierarchical_scale() -> None:
    """A smooth 2-D surface, y = 0.8 tanh(x0) + 0.5 x1^2 - 0.3 + 0.1 noise."""
    rng = np.random.default_rng(3)
    n = 120
    x = rng.uniform(-1.5, 1.5, (n, 2))
    y = 0.8 * np.tanh(x[:, 0]) + 0.5 * x[:, 1] ** 2 - 0.3 + 0.1 * rng.standard_normal(n)
    write_csv("hierarchical_scale.csv", {"x.0": x[:, 0], "x.1": x[:, 1], "y": y})


def horseshoe() -> None:
    """Five named features a..e; only a and c matter."""
    rng = np.random.default_rng(4)
    n = 150
    f = rng.standard_normal((n, 5))
    y = np.sin(1.5 * f[:, 0]) + 0.8 * f[:, 2] + 0.1 * rng.standard_normal(n)
    cols = {name: f[:, i] for i, name in enumerate("abcde")}
    write_csv("horseshoe.csv", {**cols, "y": y})


def heteroscedastic() -> None:
    """y = 0.5 x + sin(2x)/2 + noise whose sd grows with x (0.05 at x = -2 to 0.55 at x = 2)."""
    rng = np.random.default_rng(5)
    n = 150
    x = np.sort(rng.uniform(-2.0, 2.0, n))
    sd = 0.05 + 0.125 * (x + 2.0)
    y = 0.5 * x + 0.5 * np.sin(2 * x) + sd * rng.standard_normal(n)
    write_csv("heteroscedastic.csv", {"x": x, "y": y})
    write_csv("heteroscedastic_grid.csv", {"x": np.linspace(-2.0, 2.0, 9)})


def poisson_counts() -> None:
    """Counts with log-rate 1 + sin(2x), x on [-2, 2]."""
    rng = np.random.default_rng(6)
    n = 120
    x = np.sort(rng.uniform(-2.0, 2.0, n))
    y = rng.poisson(np.exp(1.0 + np.sin(2 * x)))
    write_csv("poisson_counts.csv", {"x": x, "y": y.astype(int)})
    write_csv("poisson_counts_grid.csv", {"x": np.linspace(-2.0, 2.0, 9)})


def student_t() -> None:
    """y = sin(3x) + 0.1 noise with 8 gross outliers (shifted by +-2 to 3)."""
    rng = np.random.default_rng(7)
    n = 100
    x = np.sort(rng.uniform(-2.0, 2.0, n))
    y = np.sin(3 * x) + 0.1 * rng.standard_normal(n)
    idx = rng.choice(n, 8, replace=False)
    y[idx] += rng.choice([-1.0, 1.0], 8) * rng.uniform(2.0, 3.0, 8)
    write_csv("student_t.csv", {"x": x, "y": y})
    write_csv("student_t_grid.csv", {"x": np.linspace(-2.0, 2.0, 9)})


def gp_regression() -> None:
    """A smooth function with a gap: y = sin(2x) exp(-x^2 / 16) + 0.15 noise, x on [-4, 4] minus (0.5, 1.5)."""
    rng = np.random.default_rng(8)
    x = rng.uniform(-4.0, 4.0, 120)
    x = np.sort(x[(x < 0.5) | (x > 1.5)][:60])
    f = lambda v: np.sin(2 * v) * np.exp(-(v**2) / 16)  # noqa: E731
    write_csv("gp_regression.csv", {"x": x, "y": f(x) + 0.15 * rng.standard_normal(len(x))})
    write_csv("gp_regression_grid.csv", {"x": np.linspace(-6.0, 6.0, 121)})
    xt = np.sort(rng.uniform(-4.0, 4.0, 100))
    write_csv("gp_regression_test.csv", {"x": xt, "y": f(xt) + 0.15 * rng.standard_normal(100)})


def gp_classification() -> None:
    """Two half-moons, 80 points: a GP classifier's latent function is 80 whitened values."""
    rng = np.random.default_rng(9)
    x, y = two_moons(80, 0.15, rng)
    write_csv("gp_classification.csv", {"x.0": x[:, 0], "x.1": x[:, 1], "y": y})
    gx, gy = np.meshgrid(np.linspace(-2.0, 3.0, 11), np.linspace(-1.5, 2.0, 8))
    write_csv("gp_classification_grid.csv", {"x.0": gx.ravel(), "x.1": gy.ravel()})


def dkl_step() -> None:
    """A step: y = 1 for x > 0, else 0, plus 0.05 noise; x on [-1, 1]. A stationary kernel must pick one
    lengthscale for the flat parts and the jump; a network in front of it can stretch the jump."""
    rng = np.random.default_rng(10)
    x = np.sort(rng.uniform(-1.0, 1.0, 60))
    write_csv("dkl_step.csv", {"x": x, "y": (x > 0).astype(float) + 0.05 * rng.standard_normal(60)})
    write_csv("dkl_step_grid.csv", {"x": np.linspace(-1.5, 1.5, 61)})
    xt = np.sort(rng.uniform(-1.0, 1.0, 200))
    write_csv("dkl_step_test.csv", {"x": xt, "y": (xt > 0).astype(float) + 0.05 * rng.standard_normal(200)})


def function_prior() -> None:
    """Sparse 1-D data, y = sin(3x) + 0.1 noise at 20 points on [-2, 2] minus (-0.5, 0.5): little data, so
    the prior decides what the network does between and beyond the points."""
    rng = np.random.default_rng(12)
    x = np.sort(np.concatenate([rng.uniform(-2.0, -0.5, 10), rng.uniform(0.5, 2.0, 10)]))
    write_csv("function_prior.csv", {"x": x, "y": np.sin(3 * x) + 0.1 * rng.standard_normal(20)})
    write_csv("function_prior_grid.csv", {"x": np.linspace(-3.0, 3.0, 61)})
    # the same inputs for examples/fitted_prior.bnn, which uses a prior fitted by `bnnc fit-prior`
    write_csv("fitted_prior.csv", {"x": x, "y": np.sin(3 * x) + 0.1 * np.random.default_rng(12).standard_normal(20)})


def order_sequences(n: int, rng: np.random.Generator, vocab: int = 12, steps: int = 10) -> dict[str, np.ndarray]:
    """Token sequences over ids 0..vocab-1, each holding the markers 1 and 2 once; the label says whether 1 comes
    before 2. Which tokens are present says nothing: only their order does, so a model needs positions."""
    tokens = rng.integers(3, vocab, size=(n, steps))
    for row in tokens:
        i, j = rng.choice(steps, size=2, replace=False)
        row[i], row[j] = 1, 2
    first = np.argmax(tokens == 1, axis=1) < np.argmax(tokens == 2, axis=1)
    return {f"tokens.{t}": tokens[:, t] for t in range(steps)} | {"y": first.astype(np.int64)}


def sequence_order() -> None:
    """Training and test rows use ids 0..11 of the declared 0..15; the OOD rows are made of ids 12..15 (and the two
    markers), which no training row holds, so their embeddings stay at the prior."""
    rng = np.random.default_rng(8)
    write_csv("sequence_order.csv", order_sequences(600, rng))
    write_csv("sequence_order_test.csv", order_sequences(400, rng))
    ood = order_sequences(200, rng)
    for t in range(10):
        col = ood[f"tokens.{t}"]
        ood[f"tokens.{t}"] = np.where(col > 2, 12 + col % 4, col)
    write_csv("sequence_order_ood.csv", ood)


def main() -> None:
    regression_1d()
    classification_binary()
    classification_multiclass()
    hierarchical_scale()
    horseshoe()
    heteroscedastic()
    poisson_counts()
    student_t()
    gp_regression()
    gp_classification()
    dkl_step()
    function_prior()
    sequence_order()


if __name__ == "__main__":
    main()
