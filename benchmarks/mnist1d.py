"""Bayesian CNNs against a MAP CNN and a deep ensemble of the same network: MNIST-1D (default) or 8x8 digits.

Every model is the shipped example's network and prior (`examples/mnist1d_cnn.bnn`; with `--data digits`,
`examples/digits_cnn.bnn` and the partially Bayesian `examples/digits_partial.bnn`), in one process:

- Bayesian CNN: `Model.run` with the example's `infer` statement (SG-HMC on minibatches from deep-ensemble
  starts), predictions from its posterior draws.
- Deep ensemble (5 members) and MAP: bnnlang's own ensemble machinery, `bnnlang.infer.starts.fit_ensemble` on
  the Bayesian CNN's `Problem` (the same network and prior, so each member is a MAP estimate: Adam with a
  cosine schedule from a fan-in start, early-stopped on 10% held-out rows), with the backend's ensemble
  settings (`map_steps`, `lr`, `patience`, minibatches of the example's `batch_size`). The MAP CNN is a fit of
  one member with the same key, which is member 0 of the ensemble (fitted alone, so its wall time is its own).

Metrics on the test file: accuracy, NLL (mean of -log of the predictive probability of the true class, the
probabilities averaged over draws or members first), ECE (10 equal-width confidence bins,
`bnnlang.diagnose.metrics`), and OOD AUROC: test rows as negatives, the OOD file's rows as positives, scored by
the mutual information between label and weights (epistemic part of the predictive entropy) for the Bayesian
models and the ensemble, and by the predictive entropy for MAP (one network has no epistemic part). Wall times
are each fit's in this process, compilation included, on whatever cores the machine has (2 for the tables in
results/).

    python benchmarks/mnist1d.py                      # MNIST-1D, writes benchmarks/results/mnist1d.md and .json
    python benchmarks/mnist1d.py --data digits        # digits, writes benchmarks/results/digits.md and .json
    python benchmarks/mnist1d.py --data digits --quick --out /tmp/q/digits.md   # CI-sized: a subset, short runs

`--quick` trains on the first QUICK_TRAIN training rows, tests on the first QUICK_TEST test and OOD rows, and
shortens every fit (QUICK_SETTINGS); its numbers check the script and guard coarse properties
(tests/test_benchmark_suite.py), not the methods.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from provenance import facts, provenance  # noqa: E402

IMAGES = ROOT / "examples" / "data" / "images"
DATA = {
    "mnist1d": {
        "train": "mnist1d_train.npz",
        "test": "mnist1d_test.npz",
        "ood": {"shuffled": "mnist1d_ood.npz"},
        "models": {"Bayesian CNN": "mnist1d_cnn.bnn"},
        "reference": "Published CNN (mnist1d package README): 94% test accuracy.",
    },
    "digits": {
        "train": "digits_train.npz",
        "test": "digits_test.npz",
        "ood": {"shuffled": "digits_ood_shuffled.npz", "noise": "digits_ood_noise.npz"},
        "models": {"Bayesian CNN": "digits_cnn.bnn", "partially Bayesian CNN": "digits_partial.bnn"},
        "reference": "",
    },
}
MEMBERS = 5
QUICK_TRAIN, QUICK_TEST = 500, 300
# --quick: a short chain from a short ensemble; the example's network, prior and batch size unchanged
QUICK_SETTINGS = {"warmup": 60, "samples": 20, "map_steps": 400, "patience": 100}
ENSEMBLE_SEED = 1  # the baselines' key; the Bayesian runs use the example's seed (0)


def load(name: str, rows: int | None = None) -> dict[str, np.ndarray]:
    with np.load(IMAGES / name, allow_pickle=False) as f:
        return {k: f[k][:rows] for k in f.files}


def scores(labels: np.ndarray, probs: np.ndarray, ood_probs: dict[str, np.ndarray], epistemic: bool) -> dict:
    """Accuracy, NLL, ECE on the test rows, OOD AUROC per OOD set; `probs` [S, N, K] per draw or member."""
    from bnnlang.diagnose.metrics import accuracy, auroc, classification_nll, expected_calibration_error
    from bnnlang.posterior.predict import entropy_split

    def uncertainty(p: np.ndarray) -> np.ndarray:
        total, _, mi = entropy_split(p)
        return mi if epistemic else total

    mean = probs.mean(axis=0)
    out = {
        "accuracy": accuracy(labels, mean),
        "nll": classification_nll(labels, mean),
        "ece": expected_calibration_error(labels, mean),
        "draws": int(probs.shape[0]),
    }
    u_test = uncertainty(probs)
    for name, p in ood_probs.items():
        out[f"auroc_{name}"] = auroc(u_test, uncertainty(p))
    return out


def run_probs(run, path: Path, max_draws: int = 400) -> np.ndarray:
    """Class probabilities per posterior draw [S, N, K] on the rows of `path`."""
    return np.asarray(run.predictive_draws(path, max_draws=max_draws)["y"]["probs"])


def member_probs(model, problem, ensemble, path: Path) -> np.ndarray:
    """Class probabilities per ensemble member [M, N, K] on the rows of `path`."""
    import arviz as az
    import jax.numpy as jnp

    from bnnlang.posterior.predict import predictive_draws

    draws = [problem.public(problem.constrain(ensemble.unravel(jnp.asarray(z)))) for z in ensemble.positions]
    posterior = {k: np.stack([np.asarray(d[k]) for d in draws])[None] for k in draws[0]}
    idata = az.from_dict(posterior=posterior)
    bound = model.data(path, require_observed=False)
    kwargs = bound.model_kwargs(model.checked, observed=False)
    probs = predictive_draws(model.module, model.checked, idata, kwargs, 0, None)["y"]["probs"]
    m = len(draws)  # fewer than FEW_DRAWS draws come back replicated, each draw's copies side by side
    return np.asarray(probs).reshape(m, -1, *probs.shape[1:])[:, 0]


def evaluate(dataset: str, quick: bool, folder: Path) -> dict:
    import jax

    import bnnlang
    from bnnlang.infer.starts import fit_ensemble

    spec = DATA[dataset]
    n_train, n_test = (QUICK_TRAIN, QUICK_TEST) if quick else (None, None)
    paths = {}
    for key, name in [("train", spec["train"]), ("test", spec["test"]), *spec["ood"].items()]:
        paths[key] = folder / f"{key}.npz"
        np.savez(paths[key], **load(name, n_train if key == "train" else n_test))
    labels = np.load(paths["test"])["y"]
    ood_names = list(spec["ood"])
    overrides = dict(QUICK_SETTINGS) if quick else {}
    rows = []
    baseline_model = None
    for label, file in spec["models"].items():
        model = bnnlang.load(ROOT / "examples" / file)
        bound = model.data(paths["train"])
        t0 = time.perf_counter()
        run = model.run(bound, **overrides)
        wall = time.perf_counter() - t0
        probs = {k: run_probs(run, paths[k]) for k in ["test", *ood_names]}
        settings = dict(run.record.settings)
        rows.append(
            {
                "model": label,
                "file": f"examples/{file}",
                "backend": run.record.backend,
                "settings": settings,
                "wall_s": wall,
                **scores(labels, probs["test"], {k: probs[k] for k in ood_names}, epistemic=True),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
        if baseline_model is None:
            baseline_model, baseline_bound, baseline_settings = model, bound, settings
    # the baselines: the first model's network and prior, fitted by its backend's ensemble settings
    model, s = baseline_model, baseline_settings
    problem = model.problem(baseline_bound, model.settings(**overrides))
    batch = s.get("batch_size") or None
    fit = {"steps": s["map_steps"], "lr": s["lr"], "batch_size": batch, "holdout": s["holdout"]}
    fit["patience"] = s["patience"]
    key = jax.random.PRNGKey(ENSEMBLE_SEED)
    for label, members in (("MAP CNN", 1), (f"deep ensemble ({MEMBERS})", MEMBERS)):
        t0 = time.perf_counter()
        ens = fit_ensemble(problem, members, key, **fit)
        wall = time.perf_counter() - t0
        probs = {k: member_probs(model, problem, ens, paths[k]) for k in ["test", *ood_names]}
        rows.append(
            {
                "model": label,
                "file": f"examples/{spec['models'][next(iter(spec['models']))]}",
                "backend": "fit_ensemble",
                "settings": {**fit, "members": members, "seed": ENSEMBLE_SEED, "steps_run": int(ens.steps_run)},
                "wall_s": wall,
                **scores(labels, probs["test"], {k: probs[k] for k in ood_names}, epistemic=members > 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return {
        "dataset": dataset,
        "quick": quick,
        "train_rows": int(len(np.load(paths["train"])["y"])),
        "test_rows": int(len(labels)),
        "ood": ood_names,
        "devices": jax.local_device_count(),
        "rows": rows,
    }


def _settings(r: dict) -> str:
    s = r["settings"]
    if r["backend"] == "fit_ensemble":
        keep = ("members", "steps", "lr", "batch_size", "holdout", "patience", "steps_run")
    else:
        keep = ("chains", "warmup", "samples", "thinning", "batch_size", "leapfrog", "step_size", "map_steps")
    return ", ".join(f"{k} = {s[k]}" for k in keep if k in s)


def markdown(result: dict) -> str:
    spec = DATA[result["dataset"]]
    ood = result["ood"]
    title = {"mnist1d": "MNIST-1D", "digits": "8x8 digits"}[result["dataset"]]
    flags = (f" --data {result['dataset']}" if result["dataset"] != "mnist1d" else "") + (
        " --quick" if result["quick"] else ""
    )
    header = "| model | test accuracy | test NLL | ECE | " + " | ".join(f"OOD AUROC ({o})" for o in ood)
    header += " | wall s | backend |"
    lines = [
        f"# Bayesian CNNs on {title}: against MAP and a deep ensemble" + (" (quick)" if result["quick"] else ""),
        "",
        provenance(f"Written by `benchmarks/mnist1d.py{flags}`."),
        "",
        f"Training rows {result['train_rows']}, test rows {result['test_rows']}, {result['devices']} JAX CPU "
        f"devices. OOD AUROC: test rows against the OOD file's rows, scored by mutual information (Bayesian "
        f"models, ensemble) or predictive entropy (MAP). {spec['reference']}",
        "",
        header,
        "|" + "---|" * (6 + len(ood)),
    ]
    for r in result["rows"]:
        aurocs = " | ".join(f"{r[f'auroc_{o}']:.3f}" for o in ood)
        lines.append(
            f"| {r['model']} | {r['accuracy']:.3f} | {r['nll']:.3f} | {r['ece']:.3f} | {aurocs} | "
            f"{r['wall_s']:.0f} | {r['backend']} |"
        )
    lines += ["", "Settings:", ""]
    lines += [f"- {r['model']} (`{r['file']}`): {r['backend']}, {_settings(r)}" for r in result["rows"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", choices=sorted(DATA), default="mnist1d")
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_TRAIN} training rows, short fits")
    ap.add_argument("--out", help="the markdown table (default benchmarks/results/DATA.md); JSON beside it")
    args = ap.parse_args(argv)
    out = Path(args.out or HERE / "results" / f"{args.data}.md")
    with tempfile.TemporaryDirectory() as tmp:
        result = evaluate(args.data, args.quick, Path(tmp))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown(result), encoding="utf-8")
    out.with_suffix(".json").write_text(json.dumps({**result, "provenance": facts()}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
