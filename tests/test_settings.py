"""Settings that cannot work are refused with exit code 2, naming the setting and what it allows,
before anything runs (no inference is started and no run directory is written)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bnnlang import cli
from bnnlang.api import Model
from bnnlang.check.settings import BACKENDS

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "regression_1d.bnn"
DATA = ROOT / "examples" / "data" / "regression_1d.csv"  # N = 100


@pytest.fixture(autouse=True)
def no_inference(monkeypatch):
    """Any attempt to start inference fails the test: refusals must come first."""
    import bnnlang.infer.run as run_mod

    def refuse(*args, **kwargs):
        raise AssertionError("inference started")

    monkeypatch.setattr(run_mod, "run_inference", refuse)


def _run(argv: list[str], tmp_path: Path, capsys) -> tuple[int, str]:
    out = tmp_path / "run"
    code = cli.main(["run", *argv, "-o", str(out), "-q"])
    err = capsys.readouterr().err
    assert not out.exists(), "a refused run wrote its directory"
    assert "Traceback" not in err
    return code, err


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--backend", "sghmc", "--batch-size", "500"], ["batch_size", "500", "100 rows", "between 1 and 100"]),
        (["--backend", "svi", "--set", "batch_size=101"], ["batch_size", "101", "between 1 and 100"]),
        (["--backend", "sghmc", "--step-size", "-0.001"], ["step_size", ">= 0"]),
        (["--backend", "svi", "--guide", "fullrank"], ["guide", "normal, lowrank, map, laplace"]),
        (["--backend", "svi", "--guide", "lowrnk"], ["guide", "Did you mean 'lowrank'"]),
        (["--backend", "svi", "--lr", "0"], ["lr", "> 0"]),
        (["--backend", "hmc"], ["Unknown inference backend 'hmc'", "nuts", "sghmc", "svi"]),
        (["--backend", "sghmc", "--schedule", "linear"], ["schedule", "constant, decay, cyclical"]),
        (["--backend", "sghmc", "--set", "friction=2"], ["friction", "<= 1"]),
        (["--backend", "svi", "--chains", "2"], ["'svi' has no setting 'chains'"]),
        (["--chains", "inf"], ["chains", "whole number", "got inf"]),
        (["--chains", "1e400"], ["chains", "whole number"]),
        (["--backend", "svi", "--set", "lr=nan"], ["lr", "> 0", "got nan"]),
        (["--backend", "sghmc", "--set", "step_size=inf"], ["step_size", "got inf"]),
    ],
)
def test_bad_settings_exit_2_before_running(argv, words, tmp_path, capsys):
    code, err = _run([str(EXAMPLE), "--data", str(DATA), *argv], tmp_path, capsys)
    assert code == 2, err
    for w in words:
        assert w in err, (w, err)


def test_nothing_left_to_sample_is_refused(tmp_path, capsys):
    src = EXAMPLE.read_text().replace(
        "dense(20, tanh)\n  dense(20, tanh)\n  dense(1)", "deterministic { dense(20, tanh) dense(1) }"
    )
    src = src.replace("param sigma ~ HalfNormal(0.5)", "")
    src = src.replace("Normal(mlp(x), sigma)", "Normal(mlp(x), 0.1)")
    model = tmp_path / "all_fixed.bnn"
    model.write_text(src)
    shutil.copy(DATA, tmp_path / "d.csv")
    code, err = _run([str(model), "--data", str(tmp_path / "d.csv")], tmp_path, capsys)
    assert code == 2 and "nothing is left for nuts to sample" in err and "deterministic" in err, err


def test_word_settings_in_the_model_file():
    m = Model.from_source(
        "data { x: real[N, 1]  y: real[N] }\nparam s ~ HalfNormal(1)\n"
        "network f(x) -> real[N] { dense(3, tanh) dense(1) }\nobserve y ~ Normal(f(x), s)\n"
        "infer svi(guide = laplace, steps = 10)\n",
        "svi.bnn",
    )
    assert m.checked.infer.method == "svi" and m.checked.infer["guide"] == "laplace"
    assert m.settings(backend="sghmc").method == "sghmc"  # switching backend is one word
    assert m.settings(guide="map")["guide"] == "map"


def test_every_backend_setting_is_documented():
    doc = (ROOT / "docs" / "inference.md").read_text()
    for method, backend in BACKENDS.items():
        assert f"`{method}`" in doc, method
        for key in backend.settings:
            assert f"| {key} |" in doc, (method, key)
