"""Chains across processes (jax.distributed on localhost) and across devices of one host.

The promise under test: chain c draws from fold_in(PRNGKey(seed), c) wherever
it runs, so a run split over two processes gives the same posterior as a
one-process run, chain by chain, bit for bit (each process compiles the same
one-chain program); a run over two devices (pmap) equals a one-device run up
to float rounding (see SHORT). JAX can be
initialised only once per process, so the multi-process and multi-device runs
happen in subprocesses (with timeouts, so a hang fails instead of blocking).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from models import write_xy_csv

from bnnlang.api import Model
from bnnlang.cli import main
from bnnlang.errors import BnnError
from bnnlang.infer.devices.cluster import check_split, cluster_from

TIMEOUT = 240  # seconds per subprocess: generous for a loaded 2-core machine; a hang still fails

# Linear regression with an unknown noise scale: sigma is well identified, so R-hat on it means something.
MODEL = textwrap.dedent(
    """
    data {
      x: real[N, 1]
      y: real[N]
    }
    param sigma ~ HalfNormal(1)
    network lin(x) -> real[N] {
      dense(1) { weight ~ Normal(0, 1); bias ~ Normal(0, 1) }
    }
    observe y ~ Normal(lin(x), sigma)
    infer nuts(chains = 2, warmup = 150, samples = 150, seed = 3)
    """
)

# Short NUTS runs for comparing devices: pmap and jit compile the same chain into slightly different float
# arithmetic, and NUTS amplifies a 1e-7 difference chaotically over hundreds of iterations; over 30 the
# chains still agree to ~1e-5, which shows that they start from the same keys and follow the same path.
SHORT = {"warmup": 20, "samples": 10}

# Runs the model through the API in a fresh process (its JAX sees the XLA_FLAGS it was started with).
API_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from bnnlang.api import Model
    run = Model.from_file(sys.argv[1]).run(sys.argv[2], **json.loads(sys.argv[4]))
    np.savez(sys.argv[3], **{k: run.idata.posterior[k].values for k in run.idata.posterior.data_vars})
    print(json.dumps(run.summary["run"]))
    """
)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("dist")
    rng = np.random.default_rng(0)
    x = rng.uniform(-2, 2, 40)
    y = 0.7 * x - 0.2 + 0.3 * rng.normal(size=40)
    (d / "m.bnn").write_text(MODEL)
    write_xy_csv(d / "d.csv", x, y)
    (d / "api_run.py").write_text(API_SCRIPT)
    return d


@pytest.fixture(scope="module")
def reference(workdir):
    """The one-process run: 2 chains, same seed, in this (pytest's) process."""
    return Model.from_file(workdir / "m.bnn").run(workdir / "d.csv")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BNNLANG_") or k == "BNNLANG_NO_CACHE"}
    env.pop("XLA_FLAGS", None)
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _gloo_available() -> bool:
    try:
        from jax._src.lib import _jax

        return hasattr(_jax, "make_gloo_tcp_collectives")
    except ImportError:
        return False


# -- refusing bad launches, before JAX starts ---------------------------------------


def test_cluster_from_flags_and_environment():
    assert cluster_from(environ={}) is None
    c = cluster_from("node0:1234", "4", "3", environ={})
    assert (c.coordinator, c.num_processes, c.process_id) == ("node0:1234", 4, 3)
    env = {"BNNLANG_COORDINATOR": "h:9", "BNNLANG_NUM_PROCESSES": "2", "BNNLANG_PROCESS_ID": "1"}
    assert cluster_from(environ=env).process_id == 1
    assert cluster_from(process_id=0, environ=env).process_id == 0  # a flag beats the environment
    assert cluster_from("h:9", 1, 0, environ={}) is None  # one process: nothing to distribute
    assert cluster_from("auto", environ={}).auto


@pytest.mark.parametrize(
    "args, words",
    [
        (("h:9", "2", None), "--process-id missing"),
        (("h", "2", "0"), "HOST:PORT"),
        (("h:9", "2", "2"), "between 0 and 1"),
        (("h:9", "two", "0"), "whole number"),
        (("auto", "2", None), "auto"),
    ],
)
def test_cluster_from_refuses_bad_launches(args, words):
    with pytest.raises(BnnError, match=words):
        cluster_from(*args, environ={})


def test_split_must_be_even_and_svi_refuses():
    check_split("nuts", 4, 2)
    check_split("svi", 1, None)
    with pytest.raises(BnnError, match=r"chains = 3 .*--num-processes 2"):
        check_split("sghmc", 3, 2)
    with pytest.raises(BnnError, match="svi runs on one process"):
        check_split("svi", 1, 2)


def test_cli_refuses_uneven_split_before_running(workdir, capsys):
    code = main(
        ["run", str(workdir / "m.bnn"), "--data", str(workdir / "d.csv"), "-o", str(workdir / "never")]
        + ["--coordinator", "127.0.0.1:1", "--num-processes", "3", "--process-id", "0"]
    )
    err = capsys.readouterr().err
    assert code == 2 and "chains = 2" in err and "--num-processes 3" in err
    assert not (workdir / "never").exists()


def test_coordinator_auto_without_a_launcher_is_a_user_error(workdir):
    env = {k: v for k, v in _env().items() if not k.startswith(("SLURM_", "OMPI_", "PMI_", "MPI_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "bnnlang.cli", "run", str(workdir / "m.bnn"), "--data", str(workdir / "d.csv")]
        + ["-o", str(workdir / "never_auto"), "-q", "--coordinator", "auto"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=env,
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "found no cluster launcher" in proc.stderr and "srun" in proc.stderr
    assert not (workdir / "never_auto").exists()


# -- two processes on localhost ------------------------------------------------------


@pytest.mark.long  # ~30 s: run by CI with the other long checks (README's test command stays under 10 min)
def test_two_processes_equal_one_process_chain_by_chain(workdir, reference):
    if not _gloo_available():
        pytest.skip("this jaxlib has no gloo CPU collectives: multi-process CPU runs cannot gather")
    if reference.summary["run"]["chain_groups"] != [1, 1]:
        pytest.skip("bit-for-bit comparison needs a one-device reference; this pytest process has several devices")
    out = workdir / "run2"
    port = _free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "bnnlang.cli", "run", str(workdir / "m.bnn"), "--data", str(workdir / "d.csv")]
            + ["-o", str(out), "-q", "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2"]
            + ["--process-id", str(i)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
            cwd=workdir,
        )
        for i in range(2)
    ]
    results = []
    try:
        for p in procs:
            results.append(p.communicate(timeout=TIMEOUT))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for i, (p, (_, err)) in enumerate(zip(procs, results)):
        assert p.returncode == 0, f"process {i} exited {p.returncode}:\n{err[-3000:]}"
    assert "process 1/2 done" in results[1][1]

    from bnnlang.api import open_run

    run = open_run(out)
    post, ref = run.idata.posterior, reference.idata.posterior
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 150
    assert set(post.data_vars) == set(ref.data_vars)
    for name in ref.data_vars:
        assert post[name].shape == ref[name].shape, name
        for c in range(2):
            np.testing.assert_array_equal(post[name].values[c], ref[name].values[c], err_msg=f"{name} chain {c}")
    np.testing.assert_array_equal(run.idata.sample_stats["lp"].values, reference.idata.sample_stats["lp"].values)
    assert run.idata.log_likelihood["y"].shape == (2, 150, 40)
    assert run.summary["scalars"]["sigma"]["r_hat"] < 1.1
    facts = run.summary["run"]
    assert facts["processes"] == 2 and facts["chains_per_process"] == [[0], [1]]
    assert facts["leapfrogs"] == sum(p["leapfrogs"] for p in facts["per_process"])
    assert sorted(p.name for p in workdir.iterdir() if p.name.startswith(".")) == []  # no stray staging folders


# -- two devices in one process ------------------------------------------------------


def test_two_devices_run_chains_as_one_parallel_group(workdir):
    import jax

    if jax.local_device_count() != 1:
        pytest.skip("the reference needs a one-device process; this pytest process has several")
    reference = Model.from_file(workdir / "m.bnn").run(workdir / "d.csv", **SHORT)
    assert reference.summary["run"]["chain_groups"] == [1, 1]
    draws = workdir / "two_devices.npz"
    proc = subprocess.run(
        [sys.executable, str(workdir / "api_run.py"), str(workdir / "m.bnn"), str(workdir / "d.csv"), str(draws)]
        + [json.dumps(SHORT)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=2"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    facts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert facts["devices"] == 2 and facts["chain_groups"] == [2]
    got = np.load(draws)
    for name in reference.idata.posterior.data_vars:
        ref = reference.idata.posterior[name].values
        assert got[name].shape == ref.shape == (2, SHORT["samples"]) + ref.shape[2:]
        assert not np.allclose(ref[0], ref[1])  # the chains differ from each other ...
        for c in range(2):  # ... but each equals its one-device twin up to float rounding
            np.testing.assert_allclose(got[name][c], ref[c], rtol=1e-4, atol=1e-5, err_msg=f"{name} chain {c}")


# A function-space prior with a learned lengthscale: its gradient runs batched Cholesky and triangular solves.
GP_PRIOR_MODEL = textwrap.dedent(
    """
    data {
      x: real[N, 1]
      y: real[N]
    }
    param sigma ~ HalfNormal(1)
    param ls ~ LogNormal(0, 0.5)
    network mlp(x) -> real[N] {
      default weight ~ Normal(0, 1)
      dense(16, tanh)
      dense(1)
    }
    prior mlp ~ GP(0, RBF(ls)) at context(x, points = 64)
    observe y ~ Normal(mlp(x), sigma)
    """
)


def test_lapack_calls_are_found_in_lowered_programs():
    import jax
    import jax.numpy as jnp

    from bnnlang.infer.devices.chains import calls_lapack

    def chol(a):
        return jnp.linalg.cholesky(a @ a.T + jnp.eye(3)).sum()

    a = jnp.ones((2, 3, 3))
    assert calls_lapack(jax.jit(jax.vmap(jax.grad(chol))).lower(a).as_text())
    assert not calls_lapack(jax.jit(jax.vmap(jax.grad(lambda a: jnp.tanh(a @ a).sum()))).lower(a).as_text())


def test_gp_prior_members_on_two_devices_do_not_deadlock(workdir):
    """jaxlib 0.10's batched CPU LAPACK kernels block on XLA's thread pool: two devices running them wait on each
    other for ever (this run hung before `on_devices` ran a device's members one by one where LAPACK is called)."""
    (workdir / "gp_prior.bnn").write_text(GP_PRIOR_MODEL)
    draws = workdir / "gp_prior_two_devices.npz"
    settings = {"backend": "mile", "chains": 4, "map_steps": 100, "warmup": 100, "samples": 20}
    cmd = [sys.executable, str(workdir / "api_run.py"), str(workdir / "gp_prior.bnn"), str(workdir / "d.csv")]
    try:
        proc = subprocess.run(
            [*cmd, str(draws), json.dumps(settings)],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=2"),
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"MILE with a GP prior on 2 devices did not finish in {TIMEOUT} s (deadlock)")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1])["devices"] == 2
    got = np.load(draws)
    assert got["ls"].shape == (4, 20) and np.isfinite(got["ls"]).all()


def test_bnnc_run_gives_openblas_one_thread_unless_the_user_chose():
    script = "import os; from bnnlang.infer.devices.setup import configure_devices; configure_devices(2); "
    script += "print(os.environ['OPENBLAS_NUM_THREADS'])"
    for given, expected in ((None, "1"), ("3", "3")):
        env = _env()
        env.pop("OPENBLAS_NUM_THREADS", None)
        if given is not None:
            env["OPENBLAS_NUM_THREADS"] = given
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == expected
