"""`bnnc run` killed with SIGKILL at chosen and random moments leaves nothing half-written.

After each kill: the run directory is either the previous complete run or absent (reading it gives the old
posterior or a clear refusal, never a traceback); `bnnc run --resume` then finishes the run, with the same
draws as an uninterrupted run of the same seed; and nothing was written outside the run directory, its
hidden stage (`.NAME.partial`) and caches in the user's home (bnnlang's compiled XLA programs, matplotlib's
font list).

Each scenario costs two or three `bnnc` processes (5-15 s each on 2 cores); CI runs four, `-m slow` twenty more.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import arviz as az
import numpy as np
import pytest
from models import bnnc_argv, mlp_1d_source, sin_data, write_xy_csv

from bnnlang.api import open_run
from bnnlang.errors import BnnError

NUTS = mlp_1d_source("infer nuts(chains = 2, warmup = 200, samples = 200)")
SGHMC = mlp_1d_source("infer sghmc(chains = 2, warmup = 300, samples = 800, batch_size = 16, checkpoint_every = 200)")


class Sandbox:
    """A model, its data, a home folder and a working folder: everything a `bnnc` process may touch."""

    def __init__(self, root: Path, source: str, caches: Path) -> None:
        self.root = root
        self.inputs = root / "inputs"
        self.inputs.mkdir(parents=True)
        (self.inputs / "m.bnn").write_text(source)
        write_xy_csv(self.inputs / "d.csv", *sin_data(60, seed=0))
        self.home = root / "home"
        self.cwd = root / "cwd"
        self.home.mkdir()
        self.cwd.mkdir()
        self.env = {
            **os.environ,
            "HOME": str(self.home),
            "XDG_CACHE_HOME": str(caches / "cache"),  # shared by every process here: compiled once
            "MPLCONFIGDIR": str(caches / "matplotlib"),
            "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        }
        self.snapshot = self.files()

    def files(self) -> set[str]:
        """Every file under the sandbox (the caches are elsewhere: bnnlang's compiled programs, matplotlib's
        font list, ArviZ's once-a-day notice)."""
        return {str(p.relative_to(self.root)) for p in self.root.rglob("*")}

    def run_cli(self, out: Path) -> list[str]:
        """`--replace`: where a previous run is in place, the killed run was replacing it (asked to)."""
        return [
            "run",
            str(self.inputs / "m.bnn"),
            "--data",
            str(self.inputs / "d.csv"),
            "-o",
            str(out),
            "-q",
            "--replace",
        ]

    def run_args(self, out: Path) -> list[str]:
        return bnnc_argv(*self.run_cli(out))

    def call(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            bnnc_argv(*args), capture_output=True, text=True, timeout=timeout, env=self.env, cwd=self.cwd
        )


def _draws(run_dir: Path) -> dict[str, np.ndarray]:
    post = az.from_netcdf(run_dir / "posterior.nc").posterior
    return {k: post[k].values for k in post.data_vars}


def _kill_at(box: Sandbox, out: Path, moment: str | float) -> None:
    """Start `bnnc run`, SIGKILL it at `moment` (seconds, or when a file in the stage appears)."""
    stage = out.parent / f".{out.name}.partial"
    trigger = {"staged": stage / "settings.json", "writing": stage / "posterior.nc"}.get(moment)
    proc = subprocess.Popen(
        box.run_args(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=box.env, cwd=box.cwd
    )
    t0 = time.monotonic()
    while proc.poll() is None and time.monotonic() - t0 < 300:
        if trigger is not None and (trigger.exists() or any(stage.glob(".posterior.nc.tmp-*"))):
            break
        if trigger is None and time.monotonic() - t0 >= float(moment):
            break
        time.sleep(0.002)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.fixture(scope="module")
def caches(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("caches")


@pytest.fixture(scope="module", params=["nuts", "sghmc"])
def baseline(request, tmp_path_factory, caches):
    """An uninterrupted run of each backend: the draws every resumed run must reproduce, and its wall time."""
    box = Sandbox(tmp_path_factory.mktemp(f"base-{request.param}"), _source(request.param), caches)
    t0 = time.monotonic()
    done = subprocess.run(box.run_args(box.root / "out" / "run"), capture_output=True, text=True, env=box.env)
    assert done.returncode == 0, done.stderr
    return {
        "backend": request.param,
        "dir": box.root / "out" / "run",
        "draws": _draws(box.root / "out" / "run"),
        "seconds": time.monotonic() - t0,
        "caches": caches,
    }


def _source(backend: str) -> str:
    return NUTS if backend == "nuts" else SGHMC


def _scenario(tmp_path: Path, baseline: dict, moment: str | float, previous: bool, full_report: bool = False) -> None:
    box = Sandbox(tmp_path, _source(baseline["backend"]), baseline["caches"])
    out_parent = box.root / "out"
    out_parent.mkdir()
    out = out_parent / "run"
    if previous:  # a complete run from before is in place: the kill must not damage it
        subprocess.run(["cp", "-r", str(baseline["dir"]), str(out)], check=True)
    box.snapshot = box.files()
    _kill_at(box, out, moment)

    # 1. what the kill left: the previous run, or nothing, beside at most the hidden stage
    left = {p.name for p in out_parent.iterdir()}
    assert left <= {"run", ".run.partial"}, left
    if (out / "posterior.nc").exists() or previous:
        run = open_run(out)  # raises on anything incomplete
        np.testing.assert_array_equal(_draws(out)["sigma"], baseline["draws"]["sigma"])
        assert run.idata.posterior.sizes["chain"] == 2
    else:
        with pytest.raises(BnnError) as err:
            open_run(out)
        assert "does not exist" in err.value.message
    if full_report:
        rep = box.call("report", str(out), "-q")
        assert "Traceback" not in rep.stderr
        if out.exists():
            assert rep.returncode in (0, 1), rep.stderr
        else:
            assert rep.returncode == 2 and str(out) in rep.stderr and "--resume" in rep.stderr, rep.stderr

    # 2. resume finishes the run, or says there is nothing to finish
    res = box.call("run", "--resume", str(out), "-q")
    assert "Traceback" not in res.stderr
    if ".run.partial" in left:
        assert res.returncode == 0, res.stderr
    else:
        assert res.returncode == 2, res.stderr
        assert "already complete" in res.stderr or "no interrupted run" in res.stderr
        res = box.call(*box.run_cli(out))
        assert res.returncode == 0, res.stderr

    # 3. the finished run is the uninterrupted one, with no temporary file in it and nothing left beside it
    assert {p.name for p in out_parent.iterdir()} == {"run"}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    open_run(out)
    for site, values in baseline["draws"].items():
        np.testing.assert_array_equal(_draws(out)[site], values, err_msg=site)
    # 4. nothing written outside the run's folder (and the compilation cache)
    new = {f for f in box.files() - box.snapshot if not f.startswith("out/")}
    assert not new, new


CASES = {  # backend: (moment, a previous run in place, also `bnnc report` the remains)
    "nuts": [("early", False, False), ("staged", True, True), ("writing", False, False)],
    "sghmc": [("random", True, False)],
}


@pytest.mark.long
@pytest.mark.parametrize("case", range(3))
def test_killed_run_leaves_a_readable_or_refused_directory_and_resumes(tmp_path, baseline, case):
    if case >= len(CASES[baseline["backend"]]):
        pytest.skip("fewer cases for this backend")
    moment, previous, full_report = CASES[baseline["backend"]][case]
    if moment == "early":
        moment = 0.3  # importing: nothing is staged yet
    elif moment == "random":
        moment = random.Random(f"{baseline['backend']}-1").uniform(0.5, baseline["seconds"])
    _scenario(tmp_path, baseline, moment, previous, full_report)


@pytest.mark.slow
@pytest.mark.parametrize("k", range(10))
def test_killed_at_random_moments(tmp_path, baseline, k):
    """Ten more random moments per backend, with and without a previous run in place."""
    moment = random.Random(f"{baseline['backend']}-slow-{k}").uniform(0.2, baseline["seconds"] * 1.05)
    _scenario(tmp_path, baseline, moment, previous=bool(k % 2))
