"""The MILE authors' package (sklearn-contrib-bde) against bnnlang's `mile` backend on UCI yacht, side by side.

Both sides fit the same network, 6 inputs -> dense(50, relu) -> output, with Normal(0, 1) priors on every
weight and bias, K = 4 members, from the same standardised split (inputs and target scaled by the training
rows' mean and sd; scores mapped back to the target's units: RMSE x y_sd, log-likelihood - log y_sd).

Sides (rows of the table):

- `bde`: `bde.BdeRegressor` (sklearn-contrib-bde 1.0.2, BlackJAX 1.2.2), run from its own virtual environment
  (`--bde-python`, default /tmp/bde_venv/bin/python; it pins a BlackJAX older than bnnlang's). Its regression
  network always has two outputs, a mean and a scale (softplus), so its likelihood is heteroscedastic.
- `bnnlang`: the brief's model, one global noise scale `sigma ~ HalfNormal(1)` (MODEL_SIGMA).
- `bnnlang (2 heads)`: bde's likelihood written in bnnlang (MODEL_HEADS): a 2-output network, Normal(mean
  head, softplus(scale head) + 1e-6), the same parameter count and log density as bde's (no sigma param;
  bde also clips the scale to [1e-6, 1e6]).

Gradient budget (per member; every side computes the held-out loss besides, which is forward-only):

- ensemble: E full-batch Adam steps on the 90% of training rows not held out (bde: `epochs`, its loop is one
  full-batch step per epoch, `validation_split` = 0.1; bnnlang: `map_steps`, `holdout` = 0.1), stopping a
  member after P steps without a better held-out loss (bde: `patience`, bnnlang: `patience`). Members that
  stopped are frozen, not removed, so the loop's length is what each member costs; the table shows E and,
  in the detail table, the steps the loop ran.
- MCLMC with BlackJAX's isokinetic McLachlan integrator: 2 gradients a step. bde: `warmup_steps` = W tuning
  steps (80/10/10 between step size, L from the variances, L from the ESS) and `n_samples` = S x t steps, of
  which every `n_thinning` = t-th is kept; bnnlang: `warmup` = W, `samples` = S kept, `thinning` = t.
  Both: 2 (W + S t) gradients and S kept draws per member.

So the budget is E + 2 (W + S t) gradients per member on both sides (defaults here: 10000 + 2 (1000 + 1000 x
10) = 32,000, bnnlang's own defaults). Both start members from a fan-in scaled initialisation and tune MCLMC without a preconditioner. What is NOT
matched, each package keeping its defaults: bde trains members on the Gaussian NLL alone (constant Adam lr 1e-3,
no prior term; `fit` passes plain Adam, so its `weight_decay` is not applied) and tunes MCLMC to an
energy-error variance falling from 0.5 to 0.1 per dimension; bnnlang fits the MAP (Adam, lr 0.01
cosine-decayed) and tunes to 5e-4 per dimension.

Test log-likelihood is the same quantity on both sides: per test row, log of the predictive density
averaged over all K x S draws, log (1/KS) sum_s N(y | mu_s(x), sigma_s(x)), then averaged over rows. bde's
`predict(raw=True)` returns each draw's mean and raw scale head, from which the child computes it exactly
(no moment matching); bnnlang's `run.log_predictive_density(test, max_draws=None)` computes it over all
draws. RMSE uses the predictive mean (mean over draws of mu).

Each side runs in a fresh subprocess with XLA_FLAGS=--xla_force_host_platform_device_count=2, BNNLANG_NO_CACHE=1
and no JAX compilation cache, so wall time (fit + predict, timed inside the child; imports and data loading
left out) includes compilation, as a user's first run would.

    python benchmarks/bde_vs_mile.py [--splits 0 1 2] [--quick] [--out benchmarks/results/bde_vs_mile.md]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = Path("/work/shared/datasets/uci/yacht/data")
MEMBERS = 4
HIDDEN = 50
ACTIVATION = "relu"
BUDGET = {"ensemble": 10000, "patience": 1000, "holdout": 0.1, "warmup": 1000, "samples": 1000, "thinning": 10}
QUICK = {"ensemble": 1000, "patience": 200, "holdout": 0.1, "warmup": 200, "samples": 100, "thinning": 5}

MODEL_SIGMA = f"""
data {{ x: real[N, D]  y: real[N] }}
param sigma ~ HalfNormal(1.0)
network mlp(x) -> real[N] {{
  default weight ~ Normal(0, 1)
  default bias ~ Normal(0, 1)
  dense({HIDDEN}, {ACTIVATION})
  dense(1)
}}
observe y ~ Normal(mlp(x), sigma)
"""

MODEL_HEADS = f"""
data {{ x: real[N, D]  y: real[N] }}
network mlp(x) -> real[N, 2] {{
  default weight ~ Normal(0, 1)
  default bias ~ Normal(0, 1)
  dense({HIDDEN}, {ACTIVATION})
  dense(2)
}}
observe y ~ Normal(mlp(x)[:, 0], softplus(mlp(x)[:, 1]) + 0.000001)
"""

# Children print one JSON line: per test row the predictive mean and log predictive density (standardised units).
BNNLANG_CHILD = r"""
import json, sys, time
import numpy as np
import jax, blackjax
from bnnlang.api import Model
folder, cfg = sys.argv[1], json.loads(sys.argv[2])
b = cfg["budget"]
model = Model.from_source(cfg["source"])
test = folder + "/test.npz"
t0 = time.perf_counter()
run = model.run(folder + "/train.npz", backend="mile", chains=cfg["members"], seed=cfg["seed"],
                map_steps=b["ensemble"], patience=b["patience"], holdout=b["holdout"],
                warmup=b["warmup"], samples=b["samples"], thinning=b["thinning"])
lpd = run.log_predictive_density(test, max_draws=None)["y"]
mean = run.predict(test, max_draws=None)["y.mean"]
wall = time.perf_counter() - t0
info = run.summary.get("run", {})
print(json.dumps({
    "wall_s": wall, "mean": np.asarray(mean, float).tolist(), "lpd": np.asarray(lpd, float).tolist(),
    "ensemble_steps_run": info["ensemble"]["steps_run"], "step_size": info["step_size"],
    "versions": {"jax": jax.__version__, "blackjax": blackjax.__version__},
}))
"""

BDE_CHILD = r"""
import json, sys, time
from importlib.metadata import version
import numpy as np
from scipy.special import logsumexp
from bde import BdeRegressor
folder, cfg = sys.argv[1], json.loads(sys.argv[2])
b = cfg["budget"]
train, test = np.load(folder + "/train.npz"), np.load(folder + "/test.npz")
t0 = time.perf_counter()
est = BdeRegressor(n_members=cfg["members"], hidden_layers=[cfg["hidden"]], activation=cfg["activation"],
                   seed=cfg["seed"], epochs=b["ensemble"], patience=b["patience"], validation_split=b["holdout"],
                   warmup_steps=b["warmup"], n_samples=b["samples"] * b["thinning"], n_thinning=b["thinning"],
                   prior_family="standardnormal")
est.fit(train["x"], train["y"])
raw = np.asarray(est.predict(test["x"], raw=True), dtype=np.float64)  # [members, draws, rows, (mean, scale head)]
wall = time.perf_counter() - t0
mu = raw[..., 0].reshape(-1, raw.shape[2])
sd = np.logaddexp(0.0, raw[..., 1]).reshape(-1, raw.shape[2]) + 1e-6  # softplus + 1e-6, as bde's likelihood
y = test["y"].astype(np.float64)
ll = -0.5 * np.log(2 * np.pi) - np.log(sd) - 0.5 * ((y - mu) / sd) ** 2
lpd = logsumexp(ll, axis=0) - np.log(ll.shape[0])
steps = max(len(h["epoch"]) for h in est.history().values())
print(json.dumps({
    "wall_s": wall, "mean": mu.mean(axis=0).tolist(), "lpd": lpd.tolist(), "draws": int(ll.shape[0]),
    "ensemble_steps_run": steps,
    "versions": {v: version(p) for v, p in [("bde", "sklearn-contrib-bde"), ("jax", "jax"), ("blackjax", "blackjax")]},
}))
"""


def load_split(k: int) -> dict[str, np.ndarray]:
    """Standardised train/test arrays of split k and the target's training mean/sd (the yacht README's protocol)."""
    data = np.loadtxt(DATA / "data.txt")
    features = np.loadtxt(DATA / "index_features.txt", dtype=int, ndmin=1)
    target = int(np.loadtxt(DATA / "index_target.txt", dtype=int))
    tr = np.loadtxt(DATA / f"index_train_{k}.txt", dtype=int)
    te = np.loadtxt(DATA / f"index_test_{k}.txt", dtype=int)
    x, y = data[:, features], data[:, target]
    x_mean, x_sd = x[tr].mean(axis=0), x[tr].std(axis=0)
    x_sd[x_sd == 0] = 1.0  # the reference code divides constant features by 1
    y_mean, y_sd = y[tr].mean(), y[tr].std()
    return {
        "x_train": ((x[tr] - x_mean) / x_sd).astype(np.float32),
        "y_train": ((y[tr] - y_mean) / y_sd).astype(np.float32),
        "x_test": ((x[te] - x_mean) / x_sd).astype(np.float32),
        "y_test": y[te],
        "y_mean": np.float64(y_mean),
        "y_sd": np.float64(y_sd),
    }


def scores(split: dict[str, np.ndarray], mean_std: list[float], lpd_std: list[float]) -> tuple[float, float]:
    """(RMSE, mean log-likelihood) in the target's original units from standardised predictions."""
    mean = np.asarray(mean_std) * split["y_sd"] + split["y_mean"]
    rmse = float(np.sqrt(np.mean((mean - split["y_test"]) ** 2)))
    return rmse, float(np.mean(lpd_std) - np.log(split["y_sd"]))


def run_child(python: str, code: str, folder: Path, cfg: dict) -> dict:
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "BNNLANG_NO_CACHE": "1"}
    env["TQDM_DISABLE"] = "1"  # bde's progress bars; its per-step host callbacks still run
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    out = subprocess.run(
        [python, "-c", code, str(folder), json.dumps(cfg)], capture_output=True, text=True, env=env, cwd=ROOT
    )
    if out.returncode != 0:
        raise RuntimeError(f"{python} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def budget_text(b: dict) -> str:
    per_member = b["ensemble"] + 2 * (b["warmup"] + b["samples"] * b["thinning"])
    return f"{b['ensemble']} + 2 ({b['warmup']} + {b['samples']}×{b['thinning']}) = {per_member:,}"


def mean_se(values: list[float], digits: int) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    se = np.std(values, ddof=1) / math.sqrt(len(values))
    return f"{np.mean(values):.{digits}f} ± {se:.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", type=int, nargs="+", default=[0], help="yacht split numbers (0-19)")
    ap.add_argument("--sides", nargs="+", default=["bde", "bnnlang", "bnnlang (2 heads)"])
    ap.add_argument("--bde-python", default="/tmp/bde_venv/bin/python", help="python of bde's own venv")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="small budget: checks the script, not the methods")
    ap.add_argument("--out", help="write the markdown report here")
    args = ap.parse_args()
    budget = QUICK if args.quick else BUDGET
    base = {"members": MEMBERS, "hidden": HIDDEN, "activation": ACTIVATION, "seed": args.seed, "budget": budget}
    sides = {
        "bde": (args.bde_python, BDE_CHILD, {}),
        "bnnlang": (sys.executable, BNNLANG_CHILD, {"source": MODEL_SIGMA}),
        "bnnlang (2 heads)": (sys.executable, BNNLANG_CHILD, {"source": MODEL_HEADS}),
    }
    results: dict[str, list[dict]] = {name: [] for name in args.sides}
    versions: dict[str, dict] = {}
    for k in args.splits:
        split = load_split(k)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            np.savez(folder / "train.npz", x=split["x_train"], y=split["y_train"])
            y_test_std = ((split["y_test"] - split["y_mean"]) / split["y_sd"]).astype(np.float32)
            np.savez(folder / "test.npz", x=split["x_test"], y=y_test_std)
            for name in args.sides:
                python, code, extra = sides[name]
                r = run_child(python, code, folder, {**base, **extra})
                r["rmse"], r["ll"] = scores(split, r["mean"], r["lpd"])
                r["split"] = k
                versions[name] = r["versions"]
                results[name].append(r)
                print(
                    f"split {k} {name}: wall {r['wall_s']:.1f} s, RMSE {r['rmse']:.3f}, LL {r['ll']:.3f}",
                    file=sys.stderr,
                )

    lines = [
        "| side | members | gradient budget per member | wall s | test RMSE | test LL |",
        "|---|---|---|---|---|---|",
    ]
    for name, rs in results.items():
        lines.append(
            f"| {name} | {MEMBERS} | {budget_text(budget)} | {mean_se([r['wall_s'] for r in rs], 1)} | "
            f"{mean_se([r['rmse'] for r in rs], 3)} | {mean_se([r['ll'] for r in rs], 3)} |"
        )
    table = "\n".join(lines)
    print(table)
    detail = [
        "| split | side | wall s | test RMSE | test LL | ensemble steps run | MCLMC step sizes (bnnlang) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, rs in results.items():
        for r in rs:
            eps = ", ".join(f"{v:.3g}" for v in r.get("step_size", [])) or "-"
            detail.append(
                f"| {r['split']} | {name} | {r['wall_s']:.1f} | {r['rmse']:.3f} | {r['ll']:.3f} | "
                f"{r['ensemble_steps_run']} | {eps} |"
            )
    if args.out:
        head = [
            "# sklearn-contrib-bde against bnnlang's mile on UCI yacht",
            "",
            f"{date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} cores, 2 JAX CPU devices; "
            + "; ".join(f"{n}: " + ", ".join(f"{p} {v}" for p, v in vs.items()) for n, vs in versions.items())
            + ".",
            "",
            f"Splits {', '.join(map(str, args.splits))} (mean ± standard error over splits when more than one). "
            f"Network 6 → dense({HIDDEN}, {ACTIVATION}) → output, Normal(0, 1) on every weight and bias, "
            f"{MEMBERS} members. Budget per member: ensemble steps + 2 (warmup + samples × thinning) gradients; "
            f"early stopping patience {budget['patience']}, {budget['holdout']:.0%} held out. Test RMSE and "
            "mean test log-likelihood (log of the predictive density averaged over all draws) in the target's "
            "original units; wall time = fit + predict in a fresh process, compilation included. "
            "How the settings map and what is not matched: the docstring of `benchmarks/bde_vs_mile.py`.",
            "",
            table,
            "",
            "Per split:",
            "",
            *detail,
        ]
        Path(args.out).write_text("\n".join(head) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
