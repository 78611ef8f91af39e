"""Same seed, same draws: fingerprints of short runs of every backend, recorded once and checked on every change.

A refactor of the inference code must not change what a run computes. Each case runs a shipped example with a
fixed seed and short settings and compares the draws in its posterior.nc with a fingerprint stored in
`tests/data/fingerprints.json`: the SHA-256 of every site's draws (bit for bit) and each site's mean and sd.

XLA compiles for the host CPU, so the bits are only promised on the machine kind and library versions that
recorded them: the file keeps one record per CPU kind and library versions (`platform`). Elsewhere nothing can be
promised, not even means to 1e-5: another CPU's float rounding (AVX-512 or not, fused multiply-adds) moves a
NUTS or MCLMC trajectory after a few hundred steps, and a short run's weight means then differ in their first
digit (measured 2026-12-07 between two AMD EPYC kinds). So a machine with no record skips, saying how to add one.
Record with `BNNLANG_RECORD_FINGERPRINTS=1 pytest tests/test_fingerprints.py` on a commit whose draws are
trusted, and only when a change of the draws is intended (then for every kind, or drop the others), and say why
in the commit.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

import bnnlang

ROOT = Path(__file__).resolve().parents[1]
STORE = ROOT / "tests" / "data" / "fingerprints.json"
RECORD = bool(os.environ.get("BNNLANG_RECORD_FINGERPRINTS"))

# (example, its data file, settings): short runs, each backend's own code paths (starts, tuning, guides)
CASES = {
    "nuts": ("regression_1d", dict(chains=2, warmup=60, samples=40, seed=3)),
    "nuts_noncentered": ("hierarchical_scale", dict(chains=2, warmup=60, samples=40, seed=5)),
    "sghmc": (
        "regression_1d",
        dict(backend="sghmc", chains=2, warmup=60, samples=40, map_steps=300, patience=100, seed=3),
    ),
    "svi": ("regression_1d", dict(backend="svi", steps=300, samples=40, map_steps=100, seed=3)),
    "svi_normal": ("regression_1d", dict(backend="svi", guide="normal", steps=300, samples=40, map_steps=100, seed=4)),
    "mile": (
        "regression_1d",
        dict(backend="mile", chains=2, map_steps=300, patience=100, warmup=100, samples=40, seed=3),
    ),
}


def machine() -> dict[str, str]:
    """What the bits depend on: the CPU XLA compiles for and the versions of the numerical libraries."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "flags")):
                cpu += "|" + line.split(":", 1)[1].strip()
    except OSError:
        pass
    versions = {name: metadata.version(name) for name in ("jax", "jaxlib", "numpyro", "blackjax", "optax")}
    return {"cpu": hashlib.sha256(cpu.encode()).hexdigest()[:16], **versions}


def fingerprint(idata) -> dict[str, dict]:
    out = {}
    for name in sorted(idata.posterior.data_vars):
        values = np.ascontiguousarray(np.asarray(idata.posterior[name].values))
        out[name] = {
            "sha256": hashlib.sha256(
                str(values.dtype).encode() + str(values.shape).encode() + values.tobytes()
            ).hexdigest()[:32],
            "mean": float(values.mean(dtype=np.float64)),
            "sd": float(values.std(dtype=np.float64)),
        }
    return out


def _records() -> list[dict]:
    return json.loads(STORE.read_text())["records"] if STORE.is_file() else []


def _this_machine() -> dict | None:
    """The recorded cases of this CPU kind and these library versions, if any."""
    here = machine()
    return next((r["cases"] for r in _records() if r["platform"] == here), None)


def _record(case: str, got: dict) -> None:
    records, here = _records(), machine()
    mine = next((r for r in records if r["platform"] == here), None)
    if mine is None:
        mine = {"platform": here, "cases": {}}
        records.append(mine)
    mine["cases"][case] = got
    STORE.parent.mkdir(parents=True, exist_ok=True)
    STORE.write_text(json.dumps({"records": records}, indent=1, sort_keys=True) + "\n")


@pytest.mark.parametrize("case", list(CASES))
def test_same_seed_same_draws(case: str, tmp_path: Path) -> None:
    """The draws as the run directory's posterior.nc holds them."""
    cases = _this_machine()
    if cases is None and not RECORD:
        pytest.skip(f"no fingerprints recorded for this CPU kind and these versions ({machine()}): see the docstring")
    example, settings = CASES[case]
    model = bnnlang.load(ROOT / "examples" / f"{example}.bnn")
    model.run(ROOT / "examples" / "data" / f"{example}.csv", out=tmp_path / case, **settings)
    got = fingerprint(bnnlang.open_run(tmp_path / case).idata)
    if RECORD:
        _record(case, got)
        return
    want = cases[case]
    assert sorted(got) == sorted(want), "the posterior's sites changed"
    changed = [name for name in want if got[name]["sha256"] != want[name]["sha256"]]
    assert not changed, f"{case}: draws of {changed} are not bit-identical to the recorded run"
