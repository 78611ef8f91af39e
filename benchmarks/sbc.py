"""Simulation-based calibration of bnnlang's NUTS on three small models (Talts et al. 2018).

For each model: `reps` replications of (parameters from the prior, data from the likelihood, NUTS
through `Model.run`, ranks of the true values among L = 99 thinned posterior draws). The table gives,
per quantity, the chi-square p-value of rank uniformity over 10 bins and the rank histogram; the
smallest p-value times the number of quantities (Bonferroni) summarises each model.

1. hierarchical normal: 4 groups of 5 rows, a[g] ~ Normal(mu, tau) (the centred form NUTS finds hard
   when tau is small: SBC is how one would see it);
2. a 1-3-1 tanh BNN on 20 inputs: sigma and the network's outputs at x = -1.5, 0, 1.5 (functions of the
   weights, invariant to the hidden units' permutations and sign flips that make weights unidentifiable);
3. an exact GP regression with hyperpriors on the lengthscale, amplitude and noise, 20 inputs.

    python benchmarks/sbc.py [--reps 200] [--models hierarchical,bnn,gp] [--seed 0] [--x64]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bnnlang.api import Model  # noqa: E402
from bnnlang.check.data import BoundData  # noqa: E402
from bnnlang.sbc import SBCResult, bonferroni_min, run_sbc, scalar_quantities  # noqa: E402

HIERARCHICAL = """
data {
  G = 4
  g: int[N] in 0..G-1
  y: real[N]
}

param mu ~ Normal(0, 1)
param tau ~ HalfNormal(1)
param a[G] ~ Normal(mu, tau)
param sigma ~ HalfNormal(1)

observe y ~ Normal(a[g], sigma)

infer nuts(chains = 1, warmup = 500, samples = 1000)
"""

BNN = """
data {
  x: real[N, 1]
  y: real[N]
}

param sigma ~ HalfNormal(0.5)

network mlp(x) -> real[N] {
  default weight ~ Normal(0, 1)
  default bias ~ Normal(0, 1)
  dense(3, tanh)
  dense(1)
}

observe y ~ Normal(mlp(x), sigma)

infer nuts(chains = 1, warmup = 500, samples = 1000)
"""

GP = """
data {
  x: real[N, 1]
  y: real[N]
}

param ls ~ LogNormal(0, 0.5)
param amp ~ HalfNormal(1)
param sigma ~ HalfNormal(0.5)

gp f ~ GP(0, amp ^ 2 * RBF(ls)) on x

observe y ~ Normal(f, sigma)

infer nuts(chains = 1, warmup = 500, samples = 1000)
"""

PROBES = np.array([[-1.5], [0.0], [1.5]], np.float32)


def _x() -> BoundData:
    x = np.linspace(-2, 2, 20, dtype=np.float32)[:, None]
    return BoundData({"x": x}, {"N": 20}, "<sbc inputs>")


def bnn_quantities(model: Model):
    import jax
    import jax.numpy as jnp

    def q(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        params = {k.removeprefix("mlp."): jnp.asarray(v) for k, v in values.items() if k.startswith("mlp.")}
        f = np.asarray(jax.vmap(lambda p: model.module.mlp(p, jnp.asarray(PROBES)))(params)).reshape(-1, 3)
        out = {"sigma": np.asarray(values["sigma"]).reshape(-1)}
        out.update({f"mlp(x = {x:g})": f[:, i] for i, x in enumerate(PROBES[:, 0])})
        return out

    return q


def setups() -> dict[str, tuple[Model, BoundData, object]]:
    hier = Model.from_source(HIERARCHICAL)
    groups = BoundData({"g": np.repeat(np.arange(4), 5).astype(np.int32)}, {"N": 20}, "<sbc inputs>")  # 5 per group
    bnn = Model.from_source(BNN)
    gp = Model.from_source(GP)
    return {
        "hierarchical": (hier, groups, scalar_quantities(["mu", "tau", "sigma", "a"])),
        "bnn": (bnn, _x(), bnn_quantities(bnn)),
        "gp": (gp, _x(), scalar_quantities(["ls", "amp", "sigma"])),
    }


def table(name: str, result: SBCResult, wall: float) -> str:
    p = result.pvalues()
    hist = result.histograms()
    lines = [
        f"### {name}: {result.reps} replications, {wall:.0f} s; Bonferroni min p = {bonferroni_min(p):.3f}; "
        f"replications with divergences: {sum(d > 0 for d in result.divergences)}",
        "",
        "| quantity | p (uniform ranks) | rank histogram, 10 bins |",
        "|---|---|---|",
    ]
    lines += [f"| {k} | {p[k]:.3f} | {' '.join(str(c) for c in hist[k])} |" for k in p]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--models", default="hierarchical,bnn,gp")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "sbc.md"))
    ap.add_argument("--seed", type=int, default=0, help="replication seed (other seed, other simulated data)")
    ap.add_argument("--x64", action="store_true", help="compute in float64 (changes the random streams too)")
    args = ap.parse_args()
    import jax

    if args.x64:
        jax.config.update("jax_enable_x64", True)
    sections = []
    for name, (model, inputs, quantities) in setups().items():
        if name not in args.models.split(","):
            continue
        t0 = time.perf_counter()

        def progress(r, res, name=name):
            if (r + 1) % 20 == 0:
                print(f"{name}: {r + 1} replications, p = {res.pvalues()}", flush=True)

        result = run_sbc(model, inputs, args.reps, quantities, draws=99, seed=args.seed, on_rep=progress)
        sections.append(table(name, result, time.perf_counter() - t0))
        print(sections[-1], flush=True)
    text = "\n\n".join(
        [
            "# Simulation-based calibration of NUTS",
            f"Written by `benchmarks/sbc.py --reps {args.reps} --seed {args.seed}{' --x64' if args.x64 else ''}` "
            f"on {datetime.now():%Y-%m-%d %H:%M}; {platform.machine()}, {jax.devices()[0].platform}, "
            f"JAX {jax.__version__}, {'float64' if args.x64 else 'float32'}. NUTS with one chain, "
            "500 warmup and 1000 draws, thinned to L = 99 for the ranks; p-values of a chi-square test of "
            "uniform ranks over 10 bins. With the models right, p-values are themselves uniform: a few below "
            "0.05 among many quantities are expected; the Bonferroni min p is the family's check.",
            *sections,
        ]
    )
    Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
