"""End-to-end: `bnnc run` writes a complete run directory, `bnnc predict` reads it back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from models import mlp_1d_source, sin_data, write_xy_csv

from bnnlang.cli import main

MODEL = mlp_1d_source("infer nuts(chains = 1, warmup = 60, samples = 40)")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("run")
    (d / "m.bnn").write_text(MODEL)
    write_xy_csv(d / "d.csv", *sin_data(40, seed=1))
    (d / "grid.csv").write_text("x\n" + "".join(f"{a:.3f}\n" for a in np.linspace(-3, 3, 13)))
    return d


@pytest.fixture(scope="module")
def run_dir(workdir) -> Path:
    out = workdir / "runs" / "m"
    code = main(["run", str(workdir / "m.bnn"), "--data", str(workdir / "d.csv"), "-o", str(out), "-q"])
    assert code == 0
    return out


def test_run_directory_is_complete(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {"model.bnn", "model.py", "settings.json", "posterior.nc", "summary.json", "log.txt"} <= names
    assert not [p for p in run_dir.parent.iterdir() if p.name.startswith(".")], "staging folders left behind"
    settings = json.loads((run_dir / "settings.json").read_text())
    assert settings["backend"] == "nuts" and settings["settings"]["samples"] == 40 and settings["dims"] == {"N": 40}
    summary = json.loads((run_dir / "summary.json").read_text())
    assert set(summary["scalars"]) == {"sigma"}
    assert summary["scalars"]["sigma"]["ess_bulk"] > 0
    assert summary["arrays"]["mlp.0.weight"]["shape"] == [1, 8]
    assert summary["sampler"]["divergences"] >= 0


def test_posterior_netcdf_has_named_dims(run_dir):
    import arviz as az

    idata = az.from_netcdf(run_dir / "posterior.nc")
    assert idata.posterior["mlp.0.weight"].dims == ("chain", "draw", "mlp.0.in", "mlp.0.out")
    assert idata.posterior["mlp.0.bias"].dims == ("chain", "draw", "mlp.0.out")
    assert idata.posterior.sizes["draw"] == 40
    assert idata.log_likelihood["y"].shape == (1, 40, 40)
    assert "y" in idata.observed_data and "x" in idata.constant_data
    # the saved program is the one that was printed by `bnnc compile`
    from bnnlang import load

    saved = (run_dir / "model.py").read_text().splitlines()[1:]  # line 1 names the source file
    assert saved == load(run_dir / "model.bnn").python_source.splitlines()[1:]


def test_predict_writes_uncertainty_columns(run_dir, workdir, capsys):
    out = workdir / "pred.csv"
    assert main(["predict", str(run_dir), "--data", str(workdir / "grid.csv"), "-o", str(out)]) == 0
    header, *rows = out.read_text().splitlines()
    cols = header.split(",")
    assert cols == ["x", "y.mean", "y.sd", "y.q5", "y.q95", "y.epistemic_sd", "y.aleatoric_sd"]
    table = np.array([[float(c) for c in r.split(",")] for r in rows])
    assert table.shape == (13, 7)
    x, mean, sd, lo, hi, epi, alea = table.T
    assert np.all(lo <= hi) and np.all(sd > 0)
    np.testing.assert_allclose(sd**2, epi**2 + alea**2, rtol=1e-3)


def test_predict_saves_draws_that_give_the_table(run_dir, workdir, tmp_path):
    out, npz = tmp_path / "pred.csv", tmp_path / "draws.npz"
    argv = ["predict", str(run_dir), "--data", str(workdir / "grid.csv"), "-o", str(out), "--draws-file", str(npz)]
    assert main(argv) == 0
    header, *rows = out.read_text().splitlines()
    table = dict(zip(header.split(","), np.array([[float(c) for c in r.split(",")] for r in rows]).T))
    with np.load(npz) as f:
        draws = {k: f[k] for k in f.files}
    assert set(draws) == {"y", "y.mean", "y.var"} and draws["y"].shape[1] == 13
    np.testing.assert_allclose(table["y.mean"], draws["y.mean"].mean(axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(table["y.epistemic_sd"], draws["y.mean"].std(axis=0), rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(table["y.q95"], np.quantile(draws["y"], 0.95, axis=0), rtol=1e-4, atol=1e-5)
    assert not list(tmp_path.glob(".*tmp*"))  # written atomically: no temporary file left


def test_outputs_that_cannot_be_written_are_refused_before_any_work(run_dir, workdir, tmp_path, capsys):
    """A missing folder or a folder given as the file: exit 2 with the path and a hint, never a crash (exit 3)."""
    model, grid = str(run_dir / "model.bnn"), str(workdir / "grid.csv")
    for bad in (tmp_path / "no such folder" / "out", tmp_path):
        for argv in (
            ["predict", str(run_dir), "--data", grid, "-o", str(bad)],
            ["predict", str(run_dir), "--data", grid, "--draws-file", str(bad)],
            ["compile", model, "-o", str(bad)],
        ):
            assert main(argv) == 2, argv
            out, err = capsys.readouterr()
            assert f"Cannot write '{bad}'" in err and "hint:" in err and "Traceback" not in err, err
            assert out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing half-written beside them


def test_same_seed_same_draws(workdir, tmp_path):
    from bnnlang import load

    model = load(workdir / "m.bnn")
    a = model.run(workdir / "d.csv", warmup=20, samples=10, seed=3)
    b = model.run(workdir / "d.csv", warmup=20, samples=10, seed=3)
    np.testing.assert_array_equal(a.idata.posterior["sigma"].values, b.idata.posterior["sigma"].values)


def test_failed_run_keeps_previous_directory(run_dir, workdir, monkeypatch):
    """A run that dies before completing leaves the earlier run untouched and no staging folder."""
    before = (run_dir / "summary.json").read_text()
    import bnnlang.diagnose.summary as summary_mod

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(summary_mod, "summarize", boom)
    args = ["run", str(workdir / "m.bnn"), "--data", str(workdir / "d.csv"), "-o", str(run_dir), "-q", "--seed", "9"]
    code = main([*args, "--replace"])
    assert code == 130
    assert (run_dir / "summary.json").read_text() == before
    assert not [p for p in run_dir.parent.iterdir() if p.name.startswith(".")]


def test_a_second_run_never_replaces_the_first(workdir, tmp_path, monkeypatch, capsys):
    """Without -o a new run takes the next free folder; -o at a run refuses before sampling unless --replace;
    -o at a folder of other files always refuses (promoting the stage there would delete them)."""
    monkeypatch.chdir(tmp_path)
    quick = ["--data", str(workdir / "d.csv"), "-q", "--warmup", "20", "--samples", "10"]
    model = str(workdir / "m.bnn")
    assert main(["run", model, *quick]) == 0
    first = tmp_path / "runs" / "m"
    assert main(["report", str(first), "-q"]) == 0
    kept = {p.name: p.read_bytes() for p in first.iterdir()}
    assert "report.html" in kept

    assert main(["run", model, *quick, "--seed", "2"]) == 0  # another run of the same model: its own folder
    assert (tmp_path / "runs" / "m-2" / "posterior.nc").is_file()
    assert {p.name: p.read_bytes() for p in first.iterdir()} == kept
    capsys.readouterr()

    assert main(["run", model, *quick, "-o", str(first)]) == 2
    err = capsys.readouterr().err
    assert "already holds a run" in err and "--replace" in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in first.iterdir()} == kept
    assert sorted(p.name for p in first.parent.iterdir()) == ["m", "m-2"]  # nothing staged, nothing sampled

    assert main(["run", model, *quick, "-o", str(first), "--seed", "5", "--replace"]) == 0
    assert (first / "posterior.nc").read_bytes() != kept["posterior.nc"] and not (first / "report.html").exists()

    other = tmp_path / "notes"
    other.mkdir()
    (other / "thesis.tex").write_text("keep me")
    for extra in ([], ["--replace"]):
        assert main(["run", model, *quick, "-o", str(other), *extra]) == 2
        assert "not a bnnlang run directory" in capsys.readouterr().err
    assert [p.name for p in other.iterdir()] == ["thesis.tex"]


def test_api_refuses_to_replace_a_run(run_dir, workdir):
    from bnnlang import load
    from bnnlang.errors import BnnError

    before = (run_dir / "posterior.nc").read_bytes()
    with pytest.raises(BnnError, match="already holds a run"):
        load(workdir / "m.bnn").run(workdir / "d.csv", out=run_dir, warmup=20, samples=10)
    assert (run_dir / "posterior.nc").read_bytes() == before


def test_predict_refuses_incomplete_run_dir(tmp_path, capsys):
    (tmp_path / "model.bnn").write_text(MODEL)
    assert main(["predict", str(tmp_path), "--data", "x.csv"]) == 2
    err = capsys.readouterr().err
    assert "not a complete run directory" in err and "posterior.nc" in err and "Traceback" not in err


def test_check_and_fmt_do_not_import_jax(workdir):
    code = (
        "import sys\n"
        "from bnnlang.cli import main\n"
        f"main(['check', {str(workdir / 'm.bnn')!r}, '--data', {str(workdir / 'd.csv')!r}])\n"
        f"main(['compile', {str(workdir / 'm.bnn')!r}])\n"
        "assert 'jax' not in sys.modules, 'jax was imported'\n"
        "assert 'arviz' not in sys.modules, 'arviz was imported'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


def test_run_gives_jax_one_device_per_chain(workdir, tmp_path):
    """`bnnc run --chains 2` must set JAX's device count before JAX is imported, or chains run one after another."""
    code = (
        "import json, sys\n"
        "from bnnlang.cli import main\n"
        f"argv = ['run', {str(workdir / 'm.bnn')!r}, '--data', {str(workdir / 'd.csv')!r}, '-o', "
        f"{str(tmp_path / 'r')!r}, '--chains', '2', '--warmup', '20', '--samples', '10', '-q']\n"
        "assert main(argv) == 0\n"
        "import jax\n"
        "print(jax.local_device_count())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip().splitlines()[-1] == str(min(2, os.cpu_count() or 1))
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["run"]["chain_groups"] == ([2] if (os.cpu_count() or 1) >= 2 else [1, 1])


def test_predict_categorical_example(tmp_path):
    """Classifiers get class probabilities and total = aleatoric + epistemic entropy (regression: exit 3 before)."""
    out = tmp_path / "mc"
    model, data = "examples/classification_multiclass.bnn", "examples/data/classification_multiclass.csv"
    assert (
        main(["run", model, "--data", data, "-o", str(out), "--chains", "1", "--warmup", "40", "--samples", "20", "-q"])
        == 0
    )
    pred = tmp_path / "pred.csv"
    assert (
        main(["predict", str(out), "--data", "examples/data/classification_multiclass_grid.csv", "-o", str(pred)]) == 0
    )
    header, *rows = pred.read_text().splitlines()
    cols = header.split(",")
    assert cols[:6] == ["x.0", "x.1", "y.p0", "y.p1", "y.p2", "y.pred"]
    table = np.array([[float(c) for c in r.split(",")] for r in rows])
    probs = table[:, 2:5]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_array_equal(table[:, 5], probs.argmax(axis=1))
    total, alea, epi = table[:, 6], table[:, 7], table[:, 8]
    np.testing.assert_allclose(total, alea + epi, atol=1e-4)
    assert np.all(epi >= 0)
