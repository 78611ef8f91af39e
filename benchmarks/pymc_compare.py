"""bnnlang against PyMC on the same BNN, side by side: NUTS against NUTS, mean-field SVI against ADVI.

What a user would pick instead of bnnlang is PyMC. Both fit the canonical BNN of shared/notes/baselines.md:
x -> dense(50, tanh) -> dense(50, tanh) -> dense(1), Normal(0, 1) on every weight and bias, Gamma(3, 1) on the
noise precision `prec` (noise sd sigma = 1 / sqrt(prec)), on y = sin(3x) + 0.1 noise with x uniform on
[-2, -0.5] U [0.5, 2] (N = 100, seed fixed). The parent makes the data once (NPZ files) and gives them to both.

Methods (each in a fresh process, one after the other, so each wall time is a first run in a new process):

- `pymc_nuts`: `pm.sample()` with PyMC's defaults (chains and cores as PyMC picks them; on a 2-core machine it
  counts 1 core, `multiprocessing.cpu_count() // 2`, so 2 chains run one after the other), 1000 tune + 1000 draws.
- `pymc_advi`: `pm.fit(method="advi")` with its default n = 10000, then 1000 draws from the fit.
- `bnnlang_nuts`: the `nuts` backend's defaults (500 warmup + 500 draws) with PyMC's chain count, chains in
  parallel on 2 JAX CPU devices (XLA_FLAGS=--xla_force_host_platform_device_count=2).
- `bnnlang_svi`: the `svi` backend with `guide = normal` (mean-field, ADVI's counterpart) and its defaults
  (2000 MAP steps to start the mean, 5000 steps, 1000 draws).

`--quick` shortens every method (30 + 30 NUTS iterations, 2000 ADVI/SVI steps) to check the script; it takes
three to six minutes on 2 busy cores, half of it PyMC's cold compilation (40-65 s per PyMC process). Its
numbers say nothing about the methods.

Both sides' network outputs f(x*) at a grid of 41 points on [-2, 2] (9 of them in the gap |x| < 0.5) and at
500 held-out points from the training distribution come from each package's own prediction path (a PyMC
Deterministic; bnnlang's `Model.predictive_draws`); everything after that is computed here, the same way for
both: median bulk ESS (ArviZ) of f over the grid and of sigma, ESS per second of wall time, the test log
predictive density (per point log mean_s N(y | f_s(x), sigma_s), averaged over points), the RMSE of the
predictive mean, and the predictive and epistemic sd in the gap. Before the runs, both packages evaluate
their log joint density (priors + likelihood, constrained space, no Jacobian) at one shared parameter point:
the two must agree for the models to be the same.

Timings, inside each child after imports and data loading: `wall_s` from building the model to having the
predictive draws. `compile_s`: PyMC NUTS: wall - PyMC's own `sampling_time` (graph compile, init and
bookkeeping); ADVI: time to the first optimiser step's callback; bnnlang: wall of a probe run of the same
settings with 1 iteration, done after the timed run in the same process on a freshly loaded model. `run_s` =
wall - compile. Caches are cold by default (a fresh PyTensor compiledir per process, BNNLANG_NO_CACHE=1 and
no JAX compilation cache); `--warm` leaves both packages' persistent caches as they are configured.

The PyMC processes run with OPENBLAS_NUM_THREADS=OMP_NUM_THREADS=MKL_NUM_THREADS=1 (`--pymc-blas-threads`,
0 = unset). pip's PyTensor links no BLAS of its own (it warns), so its matrix products go through NumPy's
OpenBLAS, and `pm.sample` sets no BLAS thread limit under Linux's default `fork` start. On this shared, busy
2-core machine OpenBLAS's own threads made each small product ~25 ms instead of ~0.15 ms (ADVI's 1000 draws
took 54 s instead of ~1 s): one thread is PyMC's better setting here, not a handicap.

PyMC must live in its own virtual environment (never a bnnlang dependency): `--pymc-python`, default
$BNNLANG_PYMC_PYTHON, else /tmp/pymc-venv/bin/python. Without one the script exits with code 2 and says how
to make one. Timings are only comparable on a quiet machine: run it under the benchmark lock.

    python3 -m venv /tmp/pymc-venv && /tmp/pymc-venv/bin/pip install pymc
    flock /tmp/bnn-bench.lock python benchmarks/pymc_compare.py            # about 25 minutes on 2 cores
    flock /tmp/bnn-bench.lock python benchmarks/pymc_compare.py --quick -o /tmp/pymc.md

JSON (beside the markdown, same stem): `provenance` (provenance.facts()), `quick`, `caches` ("cold"/"warm"),
`data` (sizes, seed, gap), `versions` (the PyMC side's pymc, pytensor, numpy and PyTensor's BLAS flags),
`logp_check` (`pymc`, `bnnlang`: log joint at the shared point; `abs_diff`, `rel_diff`), `methods`: one
record per method key above with `label`, `settings`, `chains`, `draws_per_chain`, `cores_used`, `wall_s`,
`compile_s`, `run_s`, `ess_f_median` (median over the grid of f's bulk ESS), `ess_sigma`, `ess_per_s_f`,
`ess_per_s_sigma` (per second of wall time), `rhat_f_max` (MCMC only), `test_lpd`, `test_rmse`,
`gap_pred_sd`, `gap_epistemic_sd` (means over the grid points in the gap), `sigma_mean`, `divergences`,
`tree_depth_hits`, `mean_leapfrogs_per_draw` (NUTS only, else null); `ratios`: `nuts` and `vi`, each
bnnlang / PyMC for `wall_s`, `ess_per_s_f`, `ess_per_s_sigma` and `ess_per_run_s_f` (ESS of f per second of
`run_s`, compilation left out; also in each method's record).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from canonical import source

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "pymc.md"
SEED = 0
N_TRAIN, N_TEST, WIDTH = 100, 500, 50
GRID = np.linspace(-2.0, 2.0, 41)
GAP = 0.5
NO_PYMC = 2  # exit code: no PyMC interpreter (the suite runner skips this benchmark)

FULL = {
    "pymc_nuts": {},  # pm.sample() defaults
    "pymc_advi": {"draws": 1000},  # pm.fit defaults (n = 10000)
    "bnnlang_nuts": {},  # the nuts backend's defaults (chains set to PyMC's)
    "bnnlang_svi": {"guide": "normal"},
}
QUICK = {
    "pymc_nuts": {"tune": 30, "draws": 30},
    "pymc_advi": {"n": 2000, "draws": 1000},
    "bnnlang_nuts": {"warmup": 30, "samples": 30},
    "bnnlang_svi": {"guide": "normal", "steps": 2000},
}
PROBE = {"bnnlang_nuts": {"warmup": 1, "samples": 1}, "bnnlang_svi": {"steps": 1, "map_steps": 1, "samples": 1}}

MODEL = source(WIDTH)

# Each child prints one JSON line and saves its draws to FOLDER/<method>.npz: f [chains, draws, points] at
# pred.npz's inputs and prec [chains, draws]. The shared parameter point's names: w1 b1 w2 b2 w3 b3 prec.
PYMC_CHILD = r"""
import json, sys, time
from importlib.metadata import version
import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt

folder, cfg = sys.argv[1], json.loads(sys.argv[2])
train, pred, point = (np.load(f"{folder}/{n}.npz") for n in ("train", "pred", "point"))
kw = dict(cfg["settings"])
LAYERS = [("w1", "b1"), ("w2", "b2"), ("w3", "b3")]

def net(p, x):
    h = x
    for i, (w, b) in enumerate(LAYERS):
        h = pt.dot(h, p[w]) + p[b]
        h = pt.tanh(h) if i < 2 else h
    return h[:, 0]

t0 = time.perf_counter()
with pm.Model() as model:
    p = {n: pm.Normal(n, 0.0, 1.0, shape=point[n].shape) for pair in LAYERS for n in pair}
    prec = pm.Gamma("prec", alpha=3.0, beta=1.0)
    pm.Normal("y", mu=net(p, train["x"]), sigma=1.0 / pt.sqrt(prec), observed=train["y"])
    pm.Deterministic("f", net(p, pred["x"]))
out = {}
if cfg["method"] == "pymc_nuts":
    with model:
        idata = pm.sample(**kw, random_seed=cfg["seed"], progressbar=False)
    post, ss = idata.posterior, idata.sample_stats
    wall = time.perf_counter() - t0
    out["compile_s"] = wall - float(ss.attrs["sampling_time"])
    out["divergences"] = int(ss["diverging"].sum())
    out["tree_depth_hits"] = int(ss["reached_max_treedepth"].sum())
    out["mean_leapfrogs_per_draw"] = float(ss["n_steps"].mean())
    out["sampler"] = {"tuning_steps": int(ss.attrs["tuning_steps"])}
else:
    first = []
    def mark(approx, losses, i):
        if not first:
            first.append(time.perf_counter())
    draws = kw.pop("draws")
    with model:
        approx = pm.fit(method="advi", **kw, random_seed=cfg["seed"], progressbar=False, callbacks=[mark])
        idata = approx.sample(draws, random_seed=cfg["seed"])
    post = idata.posterior
    wall = time.perf_counter() - t0
    out["compile_s"] = first[0] - t0
    out["sampler"] = {"n": len(approx.hist), "final_loss": float(approx.hist[-1])}
f = np.asarray(post["f"].values, dtype=np.float64)
np.savez(f"{folder}/{cfg['method']}.npz", f=f, prec=np.asarray(post["prec"].values, dtype=np.float64))
values = {n: point[n] for pair in LAYERS for n in pair}
values["prec_log__"] = np.log(point["prec"])
logp = float(model.compile_logp(jacobian=False)(values))
out.update({
    "wall_s": wall, "chains": int(f.shape[0]), "draws_per_chain": int(f.shape[1]), "logp_at_point": logp,
    "versions": {"pymc": pm.__version__, "pytensor": pytensor.__version__, "numpy": np.__version__,
                 "blas_ldflags": pytensor.config.blas__ldflags},
})
print(json.dumps(out))
"""

BNNLANG_CHILD = r"""
import json, sys, time
import numpy as np
import jax
import jax.numpy as jnp
from numpyro.infer.util import log_density
from bnnlang.api import Model

folder, cfg = sys.argv[1], json.loads(sys.argv[2])
kw = dict(cfg["settings"])

def run_once(settings):
    t0 = time.perf_counter()
    model = Model.from_source(cfg["source"])
    run = model.run(model.data(f"{folder}/train.npz"), **settings)
    draws = run.predictive_draws(f"{folder}/pred.npz", max_draws=None)
    return model, run, draws, time.perf_counter() - t0

model, run, draws, wall = run_once(kw)
prec = np.asarray(run.idata.posterior["prec"].values, dtype=np.float64)
f = np.asarray(draws["y"]["mean"], dtype=np.float64).reshape(prec.shape + (-1,))
np.savez(f"{folder}/{cfg['method']}.npz", f=f, prec=prec)
info = run.summary.get("run", {})
out = {"wall_s": wall, "chains": int(prec.shape[0]), "draws_per_chain": int(prec.shape[1]),
       "timings": {k: v for k, v in run.timings.items() if isinstance(v, float)}}
if cfg["method"] == "bnnlang_nuts":
    out["divergences"] = int(info["divergences"])
    out["tree_depth_hits"] = int(info["max_tree_depth_hits"])
    out["mean_leapfrogs_per_draw"] = float(info["mean_leapfrogs_per_draw"])
else:
    out["sampler"] = {"final_loss": float(info["final_loss"])}
out["compile_s"] = run_once({**kw, **cfg["probe"]})[3]  # after the timed run, so it cannot warm it
point = np.load(f"{folder}/point.npz")
names = {"prec": "prec", "w1": "mlp.0.weight", "b1": "mlp.0.bias", "w2": "mlp.1.weight", "b2": "mlp.1.bias",
         "w3": "mlp.2.weight", "b3": "mlp.2.bias"}
params = {site: jnp.asarray(point[k], jnp.float32) for k, site in names.items()}
data = model.data(f"{folder}/train.npz").model_kwargs(model.checked)
out["logp_at_point"] = float(log_density(model.numpyro_model, (), data, params)[0])
out["versions"] = {"jax": jax.__version__}
print(json.dumps(out))
"""


def find_pymc_python(given: str | None) -> str | None:
    """The PyMC interpreter: --pymc-python, $BNNLANG_PYMC_PYTHON, or /tmp/pymc-venv/bin/python if present."""
    candidate = given or os.environ.get("BNNLANG_PYMC_PYTHON")
    if candidate:
        return candidate if Path(candidate).exists() else None
    default = Path("/tmp/pymc-venv/bin/python")
    return str(default) if default.exists() else None


def make_data(folder: Path) -> dict:
    """Training data, prediction inputs (grid then held-out points), held-out targets and a shared parameter
    point, as NPZ files both sides read."""
    rng = np.random.default_rng(SEED)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = np.concatenate([rng.uniform(-2.0, -GAP, n // 2), rng.uniform(GAP, 2.0, n - n // 2)])
        return x.reshape(-1, 1), np.sin(3 * x) + 0.1 * rng.standard_normal(n)

    x, y = sample(N_TRAIN)
    x_test, y_test = sample(N_TEST)
    np.savez(folder / "train.npz", x=x, y=y)
    np.savez(folder / "pred.npz", x=np.concatenate([GRID.reshape(-1, 1), x_test]))
    np.savez(folder / "test.npz", y=y_test)
    shapes = {"w1": (1, WIDTH), "b1": (WIDTH,), "w2": (WIDTH, WIDTH), "b2": (WIDTH,), "w3": (WIDTH, 1), "b3": (1,)}
    point = {k: 0.3 * rng.standard_normal(s) for k, s in shapes.items()}
    np.savez(folder / "point.npz", prec=np.float64(25.0), **point)
    return {"y_test": y_test}


def run_child(python: str, code: str, folder: Path, cfg: dict, env: dict[str, str]) -> dict:
    proc = subprocess.run(
        [python, "-c", code, str(folder), json.dumps(cfg)],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=ROOT,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{cfg['method']} ({python}) failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def child_env(method: str, folder: Path, warm: bool, blas_threads: int) -> dict[str, str]:
    if method.startswith("pymc"):
        env = {}
        if blas_threads > 0:
            env.update({v: str(blas_threads) for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")})
        if not warm:
            env["PYTENSOR_FLAGS"] = f"compiledir={folder / ('pytensor_' + method)}"
        return env
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    if not warm:
        env.update(BNNLANG_NO_CACHE="1", JAX_COMPILATION_CACHE_DIR="")
    return env


def ess_bulk(draws: np.ndarray) -> np.ndarray:
    """Bulk ESS of [chains, draws, ...] draws, one value per trailing index (ArviZ's rank-normalised ESS)."""
    import arviz as az

    return az.ess(az.convert_to_dataset({"v": draws}), method="bulk")["v"].values


def rhat(draws: np.ndarray) -> np.ndarray:
    import arviz as az

    return az.rhat(az.convert_to_dataset({"v": draws}))["v"].values


def scores(r: dict, draws: dict, y_test: np.ndarray, mcmc: bool) -> dict:
    """ESS, predictive scores and gap spread from f [chains, draws, points] and prec [chains, draws]."""
    f, sigma = draws["f"], 1.0 / np.sqrt(draws["prec"])
    grid, test = f[..., : len(GRID)], f[..., len(GRID) :]
    flat_f, flat_sigma = test.reshape(-1, test.shape[-1]), sigma.reshape(-1, 1)
    loglik = -0.5 * np.log(2 * np.pi) - np.log(flat_sigma) - 0.5 * ((y_test - flat_f) / flat_sigma) ** 2
    lpd = np.logaddexp.reduce(loglik, axis=0) - np.log(loglik.shape[0])
    gap = np.abs(GRID) < GAP
    flat_grid = grid.reshape(-1, grid.shape[-1])[:, gap]
    ess_f = float(np.median(ess_bulk(grid)))
    ess_sigma = float(ess_bulk(sigma))
    return {
        "ess_f_median": ess_f,
        "ess_sigma": ess_sigma,
        "ess_per_s_f": ess_f / r["wall_s"],
        "ess_per_s_sigma": ess_sigma / r["wall_s"],
        "rhat_f_max": float(np.max(rhat(grid))) if mcmc else None,
        "test_lpd": float(lpd.mean()),
        "test_rmse": float(np.sqrt(np.mean((flat_f.mean(axis=0) - y_test) ** 2))),
        "gap_pred_sd": float(np.mean(np.sqrt(flat_grid.var(axis=0) + np.mean(flat_sigma**2)))),
        "gap_epistemic_sd": float(np.mean(flat_grid.std(axis=0))),
        "sigma_mean": float(sigma.mean()),
    }


LABELS = {
    "pymc_nuts": "PyMC NUTS",
    "pymc_advi": "PyMC ADVI",
    "bnnlang_nuts": "bnnlang NUTS",
    "bnnlang_svi": "bnnlang SVI (normal)",
}


def fmt(value: float | int | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}" if abs(value) >= 0.1 or value == 0 else f"{value:.3g}"


def tables(methods: dict[str, dict], ratios: dict[str, dict]) -> list[str]:
    head = (
        "| method | chains × draws | cores | wall s | compile s | run s | median ESS f(x*) | ESS sigma | "
        "ESS/s f | ESS/s sigma | max R-hat f | test LPD | test RMSE | pred. sd gap | epist. sd gap | sigma | "
        "divergences | tree-depth hits | leapfrogs/draw |"
    )
    lines = [head, "|" + "---|" * 19]
    for m in methods.values():
        cells = [
            m["label"],
            f"{m['chains']} × {m['draws_per_chain']}",
            str(m["cores_used"]),
            fmt(m["wall_s"], 1),
            fmt(m["compile_s"], 1),
            fmt(m["run_s"], 1),
            fmt(m["ess_f_median"], 0),
            fmt(m["ess_sigma"], 0),
            fmt(m["ess_per_s_f"]),
            fmt(m["ess_per_s_sigma"]),
            fmt(m["rhat_f_max"]),
            fmt(m["test_lpd"], 3),
            fmt(m["test_rmse"], 3),
            fmt(m["gap_pred_sd"], 3),
            fmt(m["gap_epistemic_sd"], 3),
            fmt(m["sigma_mean"], 3),
            fmt(m["divergences"]),
            fmt(m["tree_depth_hits"]),
            fmt(m["mean_leapfrogs_per_draw"], 0),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "| bnnlang / PyMC | wall time | ESS/s f(x*) | ESS/s sigma | ESS/s f(x*), run s only |",
        "|---|---|---|---|---|",
    ]
    for name, label in (("nuts", "NUTS / NUTS"), ("vi", "SVI (normal) / ADVI")):
        r = ratios[name]
        cells = [fmt(r[k]) for k in ("wall_s", "ess_per_s_f", "ess_per_s_sigma", "ess_per_run_s_f")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


CAVEATS = [
    "Caveats:",
    "",
    "- PyMC's default takes `cores = cpu_count() // 2` (it assumes hyper-threads), 1 here, so its 2 chains run "
    "one after the other; bnnlang runs its chains in parallel on 2 JAX CPU devices. Up to 2x of the NUTS wall-time "
    "ratio is that choice, which `pm.sample(cores=2)` would undo; the per-core figure in the reading takes it out.",
    "- Each side keeps its own defaults for run length: PyMC NUTS 1000 tune + 1000 draws per chain, bnnlang NUTS "
    "500 + 500; ESS per second puts them on one scale. Both use max tree depth 10 and target acceptance 0.8.",
    "- The VI rows' draws are independent draws from the fitted approximation, so their ESS is about the number "
    "of draws and says nothing about the posterior: compare those rows on test LPD, RMSE and gap spread.",
    "- PyMC runs in float64, bnnlang in float32. The PyMC processes run with one BLAS thread (see the script's "
    "docstring: on this busy machine OpenBLAS threads made PyMC's small products ~100x slower).",
    "- The machine (2 cores) is shared with other work; the script runs under `flock /tmp/bnn-bench.lock`, which "
    "keeps other benchmarks out but not other processes. Timings can move by tens of percent between runs.",
    "- Not measured: PyMC's other samplers (`pm.sample(nuts_sampler='numpyro' | 'nutpie' | 'blackjax')`), its "
    "JAX or Numba compile modes, and a conda install with a linked BLAS, any of which a PyMC user might choose.",
]


def reading(methods: dict[str, dict], ratios: dict[str, dict]) -> list[str]:
    """A few sentences from the numbers (nothing in them is typed by hand)."""
    pn, pa, bn, bs = (methods[k] for k in ("pymc_nuts", "pymc_advi", "bnnlang_nuts", "bnnlang_svi"))
    per_core = ratios["nuts"]["ess_per_s_f"] * pn["cores_used"] / bn["cores_used"]
    return [
        "Reading: bnnlang's NUTS took "
        f"{fmt(ratios['nuts']['wall_s'])}x PyMC's wall time and reached {fmt(ratios['nuts']['ess_per_s_f'])}x its ESS "
        f"per second on f(x*) ({fmt(per_core)}x per core used) and {fmt(ratios['nuts']['ess_per_s_sigma'])}x on "
        f"sigma. Test LPD {fmt(bn['test_lpd'], 3)} against {fmt(pn['test_lpd'], 3)}, predictive sd in the gap "
        f"{fmt(bn['gap_pred_sd'], 3)} against {fmt(pn['gap_pred_sd'], 3)}. Mean-field: bnnlang's SVI took "
        f"{fmt(ratios['vi']['wall_s'])}x ADVI's wall time, test LPD {fmt(bs['test_lpd'], 3)} against "
        f"{fmt(pa['test_lpd'], 3)} (NUTS: {fmt(bn['test_lpd'], 3)}), gap sd {fmt(bs['gap_pred_sd'], 3)} against "
        f"{fmt(pa['gap_pred_sd'], 3)}.",
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--pymc-python",
        help="python of PyMC's own venv (default: $BNNLANG_PYMC_PYTHON, else /tmp/pymc-venv/bin/python)",
    )
    ap.add_argument("--quick", action="store_true", help="short runs (about 3 minutes): checks the script only")
    ap.add_argument("--warm", action="store_true", help="keep PyTensor's and bnnlang's persistent compile caches")
    ap.add_argument(
        "--pymc-blas-threads",
        type=int,
        default=1,
        help="OpenBLAS/OpenMP threads of the PyMC processes; 0 leaves them unset (see the docstring)",
    )
    ap.add_argument("-o", "--out", default=str(DEFAULT_OUT), help="markdown file (JSON beside it)")
    args = ap.parse_args()
    pymc_python = find_pymc_python(args.pymc_python)
    if pymc_python is None:
        print(
            "pymc_compare: no PyMC interpreter found. Make one (never install PyMC into bnnlang's environment):\n"
            "    python3 -m venv /tmp/pymc-venv && /tmp/pymc-venv/bin/pip install pymc\n"
            "then pass --pymc-python /tmp/pymc-venv/bin/python or set BNNLANG_PYMC_PYTHON.",
            file=sys.stderr,
        )
        return NO_PYMC

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from provenance import facts, provenance

    settings = QUICK if args.quick else FULL
    methods: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        y_test = make_data(folder)["y_test"]
        chains = None
        for method in ("pymc_nuts", "pymc_advi", "bnnlang_nuts", "bnnlang_svi"):
            s = dict(settings[method])
            if method == "bnnlang_nuts":
                s["chains"] = chains  # PyMC's choice
            if method.startswith("bnnlang"):
                s["backend"] = method.split("_")[1]
                python, code = sys.executable, BNNLANG_CHILD
                cfg = {"method": method, "settings": s, "source": MODEL, "probe": PROBE[method]}
            else:
                python, code = pymc_python, PYMC_CHILD
                cfg = {"method": method, "settings": s, "seed": SEED}
            print(f"running {method} ...", file=sys.stderr, flush=True)
            r = run_child(python, code, folder, cfg, child_env(method, folder, args.warm, args.pymc_blas_threads))
            if method == "pymc_nuts":
                chains = r["chains"]
            draws = dict(np.load(folder / f"{method}.npz"))
            r.update(scores(r, draws, y_test, mcmc=method.endswith("nuts")))
            r["label"], r["settings"] = LABELS[method], s
            r["run_s"] = r["wall_s"] - r["compile_s"]
            r["ess_per_run_s_f"] = r["ess_f_median"] / r["run_s"]
            # PyMC runs its chains one after the other on the one core it counts; bnnlang's in parallel
            r["cores_used"] = 2 if method == "bnnlang_nuts" and r["chains"] > 1 else 1
            for key in ("divergences", "tree_depth_hits", "mean_leapfrogs_per_draw", "rhat_f_max"):
                r.setdefault(key, None)
            methods[method] = r
            print(
                f"  wall {r['wall_s']:.1f} s, ESS f {r['ess_f_median']:.0f}, LPD {r['test_lpd']:.3f}, "
                f"gap sd {r['gap_pred_sd']:.3f}",
                file=sys.stderr,
                flush=True,
            )

    def ratio(a: str, b: str) -> dict:
        keys = ("wall_s", "ess_per_s_f", "ess_per_s_sigma", "ess_per_run_s_f")
        return {k: methods[a][k] / methods[b][k] for k in keys}

    ratios = {"nuts": ratio("bnnlang_nuts", "pymc_nuts"), "vi": ratio("bnnlang_svi", "pymc_advi")}
    pv = methods["pymc_nuts"]["versions"]
    lp_pymc, lp_bnn = methods["pymc_nuts"]["logp_at_point"], methods["bnnlang_nuts"]["logp_at_point"]
    logp_check = {
        "pymc": lp_pymc,
        "bnnlang": lp_bnn,
        "abs_diff": abs(lp_pymc - lp_bnn),
        "rel_diff": abs(lp_pymc - lp_bnn) / abs(lp_pymc),
    }
    caches = "warm" if args.warm else "cold"
    record = {
        "provenance": facts(),
        "quick": args.quick,
        "caches": caches,
        "data": {"n_train": N_TRAIN, "n_test": N_TEST, "n_grid": len(GRID), "seed": SEED, "gap": [-GAP, GAP]},
        "versions": pv,
        "logp_check": logp_check,
        "methods": methods,
        "ratios": ratios,
    }
    extra = (
        f"PyMC side (own virtual environment): pymc {pv['pymc']}, pytensor {pv['pytensor']}, numpy {pv['numpy']}, "
        f"PyTensor BLAS flags '{pv['blas_ldflags']}', BLAS threads "
        f"{args.pymc_blas_threads or 'unset'}. bnnlang's children: "
        "XLA_FLAGS=--xla_force_host_platform_device_count=2."
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    mode = "`--quick`: short runs that check the script; the numbers say nothing about the methods. " * args.quick
    text = [
        "# bnnlang against PyMC on the canonical BNN",
        "",
        provenance(extra),
        "",
        f"{mode}Written by `benchmarks/pymc_compare.py{' --quick' * args.quick}{' --warm' * args.warm}`. "
        "Model: x → dense(50, tanh) → dense(50, tanh) → dense(1), Normal(0, 1) on every weight and bias, "
        "Gamma(3, 1) on the noise precision; y = sin(3x) + 0.1 noise, x uniform on [-2, -0.5] ∪ [0.5, 2], "
        f"N = {N_TRAIN}. f(x*): the network's output on {len(GRID)} grid points on [-2, 2] (ESS, gap); test "
        f"LPD and RMSE on {N_TEST} held-out points from the training distribution. ESS/s per second of wall "
        f"time (compilation included). Compile caches {caches}. Settings per method:",
        "",
        *(f"- {m['label']}: {json.dumps(m['settings'])}" for m in methods.values()),
        "",
        f"Same model on both sides: log joint density at one shared parameter point: PyMC {lp_pymc:.4f}, "
        f"bnnlang {lp_bnn:.4f} (relative difference {logp_check['rel_diff']:.1e}; PyMC in float64, bnnlang "
        "in float32).",
        "",
        *tables(methods, ratios),
        "",
        *reading(methods, ratios),
        "",
        *CAVEATS,
        "",
    ]
    out.write_text("\n".join(text), encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print("\n".join(tables(methods, ratios)))
    print(f"wrote {out} and {out.with_suffix('.json')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
