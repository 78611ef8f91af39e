"""Each backend's *default* settings on the 1-D gap example, at N = 100 and N = 2000.

The data follow examples/data/make_data.py's generator: y = sin(3x) + 0.1 noise
with x uniform on [-2, -0.5] U [0.5, 2]. Test points are fresh draws from the
same generator; "gap" points are x in (-0.4, 0.4). Columns: test RMSE, mean test
log predictive density (nats per point), mean predictive sd and epistemic sd on
the test points (the data range), epistemic sd in the gap, posterior mean of
sigma (true 0.1), and wall time of the run (compile included).

    python benchmarks/backends_1d.py            # N = 100 and 2000, writes benchmarks/results/backends_1d.md
    python benchmarks/backends_1d.py --n 100    # one size
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bnnlang  # noqa: E402

MODEL = ROOT / "examples" / "regression_1d.bnn"
# NUTS is the reference: the example's own settings (NUTS's defaults, 4 x 1000 iterations at
# ~1000 leapfrogs each, take too long at N = 2000 on 2 cores).
REFERENCE = {"backend": "nuts", "chains": 2, "warmup": 400, "samples": 400}


def gap_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.uniform(-2.0, -0.5, n // 2), rng.uniform(0.5, 2.0, n - n // 2)])
    y = np.sin(3 * x) + 0.1 * rng.standard_normal(n)
    return x, y


def write_npz(folder: Path, name: str, x: np.ndarray, y: np.ndarray) -> Path:
    path = folder / f"{name}.npz"
    np.savez(path, x=x.reshape(-1, 1), y=y)
    return path


def evaluate(model, run, test: Path, gap: Path) -> dict[str, float]:
    bound = model.data(test, training_dims=run.record.dims)
    table = run.predict(bound)
    lpd = run.log_predictive_density(bound)["y"]
    gap_table = run.predict(gap)
    post = run.idata.posterior
    return {
        "rmse": float(np.sqrt(np.mean((table["y.mean"] - bound.arrays["y"]) ** 2))),
        "test_lpd": float(lpd.mean()),
        "pred_sd": float(table["y.sd"].mean()),
        "epistemic_sd": float(table["y.epistemic_sd"].mean()),
        "gap_epistemic_sd": float(gap_table["y.epistemic_sd"].mean()),
        "sigma": float(post["sigma"].values.mean()),
    }


def run_size(n: int, backends: list[str], folder: Path) -> list[dict]:
    model = bnnlang.load(MODEL)
    train = write_npz(folder, f"train{n}", *gap_data(n, seed=n))
    test = write_npz(folder, f"test{n}", *gap_data(1000, seed=10_000 + n))
    xg = np.linspace(-0.4, 0.4, 50)
    gap = write_npz(folder, "gap", xg, np.sin(3 * xg))
    bound = model.data(train)
    rows = []
    for backend in backends:
        overrides = dict(REFERENCE) if backend == "nuts" else {"backend": backend}
        t0 = time.perf_counter()
        run = model.run(bound, **overrides)
        wall = time.perf_counter() - t0
        rows.append({"n": n, "backend": backend, **evaluate(model, run, test, gap), "wall_s": wall})
        print(_row(rows[-1]), flush=True)
    return rows


HEADER = "| N | backend | test RMSE | test log pred. density | pred. sd | epistemic sd (data) | epistemic sd (gap) | sigma | wall s |"


def _row(r: dict) -> str:
    return (
        f"| {r['n']} | {r['backend']} | {r['rmse']:.3f} | {r['test_lpd']:.3f} | {r['pred_sd']:.3f} | "
        f"{r['epistemic_sd']:.3f} | {r['gap_epistemic_sd']:.3f} | {r['sigma']:.3f} | {r['wall_s']:.0f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, action="append", help="training set size (repeatable; default 100 and 2000)")
    ap.add_argument("--backends", default="nuts,sghmc,svi")
    ap.add_argument("-o", "--output", default=str(ROOT / "benchmarks" / "results" / "backends_1d.md"))
    args = ap.parse_args()
    sizes = args.n or [100, 2000]
    print(HEADER)
    print("|" + "---|" * 9)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            rows += run_size(n, args.backends.split(","), Path(tmp))
    import jax

    lines = [
        "# Backends' default settings on the 1-D gap example",
        "",
        f"{date.today()}, bnnlang {bnnlang.__version__}, jax {jax.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, {jax.local_device_count()} JAX CPU devices. NUTS: {REFERENCE}; others: defaults.",
        "",
        HEADER,
        "|" + "---|" * 9,
        *(_row(r) for r in rows),
        "",
    ]
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
