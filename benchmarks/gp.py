"""GP benchmarks: sparse GPs under SVI against the exact GP, and deep kernel learning against a plain RBF GP.

1. Sparse vs exact. Synthetic 1-D data (y = sin(3x) + 0.3 sin(11x) + 0.2 noise, x ~ U(-3, 3)), N train
   rows and 1000 test rows. The exact GP (hyperpriors, NUTS, the latent function integrated out) is the
   reference; the sparse GP with M inducing points (k-means of the inputs, Titsias's bound) runs under
   SVI with a full-batch low-rank guide. Test log-likelihood per point (log of the posterior predictive
   density averaged over draws) and RMSE of the predictive mean; the sparse rows should approach the
   exact one as M grows.
2. Deep kernel learning. examples/dkl_step.bnn (an RBF GP on an 8-unit tanh network's two outputs) and
   the same data under a plain RBF GP, each under NUTS, MILE and a type-II MAP (every weight and kernel
   parameter point-estimated, the classic deep kernel); test log-likelihood on dkl_step_test.csv.

Every model is a .bnn file run through `Model.run`, as a user would. Results: benchmarks/results/gp.md.

    python benchmarks/gp.py [--n 600] [--m 4,8,16,32,64] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from provenance import provenance  # noqa: E402

from bnnlang.api import Model  # noqa: E402

EXACT = """
data {{
  x: real[N, 1]
  y: real[N]
}}

param amp ~ HalfNormal(1)
param ls ~ LogNormal(0, 1)
param sigma ~ HalfNormal(0.5)

gp f ~ GP(0, amp^2 * RBF(ls){sparse}) on x

observe y ~ Normal(f, sigma)

infer {infer}
"""

RBF_STEP = """
data {
  x: real[N, 1]
  y: real[N]
}

param amp ~ HalfNormal(1)
param ls ~ LogNormal(0, 1)
param sigma ~ HalfNormal(0.2)

gp g ~ GP(0, amp^2 * RBF(ls)) on x

observe y ~ Normal(g, sigma)

infer nuts(chains = 2, warmup = 400, samples = 400)
"""


def truth(x: np.ndarray) -> np.ndarray:
    return np.sin(3 * x) + 0.3 * np.sin(11 * x)


def write(path: Path, x: np.ndarray, y: np.ndarray) -> Path:
    path.write_text("x,y\n" + "".join(f"{a:.6f},{b:.6f}\n" for a, b in zip(x, y)))
    return path


def evaluate(model: Model, data: Path, test: Path) -> dict:
    t0 = time.perf_counter()
    run = model.run(data)
    wall = time.perf_counter() - t0
    lpd = run.log_predictive_density(test)
    pred = run.predict(test)
    y = np.loadtxt(test, delimiter=",", skiprows=1)[:, 1]
    return {
        "ll": float(np.mean(lpd["y"])),
        "rmse": float(np.sqrt(np.mean((pred["y.mean"] - y) ** 2))),
        "wall_s": wall,
    }


def sparse_vs_exact(n: int, ms: list[int], quick: bool, tmp: Path) -> list[tuple[str, dict]]:
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, n)
    xt = rng.uniform(-3, 3, 1000)
    data = write(tmp / "train.csv", x, truth(x) + 0.2 * rng.normal(size=n))
    test = write(tmp / "test.csv", xt, truth(xt) + 0.2 * rng.normal(size=1000))
    nuts = "nuts(chains = 2, warmup = 100, samples = 100)" if quick else "nuts(chains = 2, warmup = 300, samples = 300)"
    steps = 300 if quick else 3000
    svi = f"svi(guide = lowrank, steps = {steps}, lr = 0.01, samples = 500)"
    rows = [("exact GP, NUTS", evaluate(Model.from_source(EXACT.format(sparse="", infer=nuts)), data, test))]
    print(rows[-1], flush=True)
    for m in ms:
        src = EXACT.format(sparse=f", inducing = {m}", infer=svi)
        rows.append((f"sparse GP, M = {m}, SVI", evaluate(Model.from_source(src), data, test)))
        print(rows[-1], flush=True)
    return rows


DKL_BACKENDS = {
    "NUTS": "nuts(chains = 2, warmup = 400, samples = 400)",
    "MILE": "mile(chains = 4, warmup = 1000, samples = 200, thinning = 10, map_steps = 3000)",
    "MAP (type-II)": "svi(guide = map, steps = 3000, lr = 0.01, samples = 200)",
}


def dkl_vs_rbf(quick: bool) -> list[tuple[str, dict]]:
    ex = ROOT / "examples"
    data, test = ex / "data" / "dkl_step.csv", ex / "data" / "dkl_step_test.csv"
    written = DKL_BACKENDS["NUTS"]
    rows = []
    for backend, infer in DKL_BACKENDS.items():
        if quick:
            infer = infer.replace("warmup = 400, samples = 400", "warmup = 100, samples = 100")
        dkl = Model.from_source((ex / "dkl_step.bnn").read_text().replace(written, infer), str(ex / "dkl_step.bnn"))
        rows.append(
            (f"RBF GP on x, {backend}", evaluate(Model.from_source(RBF_STEP.replace(written, infer)), data, test))
        )
        print(rows[-1], flush=True)
        rows.append((f"deep kernel: RBF GP on warp(x), {backend}", evaluate(dkl, data, test)))
        print(rows[-1], flush=True)
    return rows


def table(rows: list[tuple[str, dict]]) -> str:
    out = ["| model | test LL per point | test RMSE | wall s |", "|---|---|---|---|"]
    for name, r in rows:
        out.append(f"| {name} | {r['ll']:.3f} | {r['rmse']:.3f} | {r['wall_s']:.1f} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=600, help="training rows of the sparse-vs-exact data")
    ap.add_argument("--m", default="4,8,16,32,64", help="inducing point counts")
    ap.add_argument("--quick", action="store_true", help="short runs: checks the script, not the methods")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gp.md"))
    args = ap.parse_args()
    ms = [int(m) for m in args.m.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        sparse = sparse_vs_exact(args.n, ms, args.quick, Path(tmp))
    dkl = dkl_vs_rbf(args.quick)

    text = "\n\n".join(
        [
            "# GP benchmarks",
            provenance(
                f"Written by `benchmarks/gp.py`{' --quick' if args.quick else ''}. Wall s: `Model.run`, "
                "compilation included, on a shared 2-core machine."
            ),
            f"## Sparse GP (SVI) against the exact GP (NUTS), N = {args.n}",
            "y = sin(3x) + 0.3 sin(11x) + N(0, 0.2^2), x ~ U(-3, 3); 1000 test points. The best possible test LL "
            f"(the true function and noise) is {-0.5 * np.log(2 * np.pi * 0.04) - 0.5:.3f}.",
            table(sparse),
            "## Deep kernel learning on a step (examples/dkl_step.bnn), 60 training and 200 test points",
            "Noise sd 0.05: the best possible test LL (the true step and noise) is 1.58.",
            table(dkl),
        ]
    )
    Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
