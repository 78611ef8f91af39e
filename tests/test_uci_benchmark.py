"""The UCI benchmark script: its model files, standardisation cross-check, tables, and a quick run through bnnc.

The numbers in the tables come from `bnnc report` (the models declare x and y `standardized`); what the
script itself computes is checked here on hand numbers: the protocol's statistics (which the runs' kept
statistics are compared with), means and standard errors, and how records become rows.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from models import load_benchmark

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "uci.py"
BNNC = Path(sys.executable).parent / "bnnc"

uci = load_benchmark("uci")


@pytest.mark.parametrize("name", ["uci_bnn.bnn", "uci_fsprior.bnn"])
def test_model_files_are_canonical_and_check(name):
    path = uci.MODELS / name
    fmt = subprocess.run([str(BNNC), "fmt", str(path)], capture_output=True, text=True, timeout=60)
    assert fmt.returncode == 0, fmt.stderr
    assert fmt.stdout == path.read_text(encoding="utf-8")
    check = subprocess.run([str(BNNC), "check", str(path)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "standardized" in path.read_text(encoding="utf-8")


def test_every_configuration_names_an_existing_model_and_has_quick_settings():
    for config, c in uci.CONFIGS.items():
        assert (uci.MODELS / c["model"]).is_file(), config
        assert config in uci.QUICK


def test_run_command_is_a_plain_bnnc_run():
    cmd = uci.run_command("svi", 3, True, Path("/t/train.npz"), Path("/t/run"))
    assert cmd[1:3] == ["run", str(uci.MODELS / "uci_bnn.bnn")]
    assert cmd[cmd.index("--backend") + 1] == "svi" and cmd[cmd.index("-o") + 1] == "/t/run"
    sets = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--set"]
    assert "guide=normal" in sets and "seed=3" in sets and "steps=1000" in sets  # quick: a short fit
    full = uci.run_command("svi", 3, False, Path("/t/train.npz"), Path("/t/run"))
    assert [full[i + 1] for i, a in enumerate(full) if a == "--set"] == ["guide=normal", "seed=3"]


def test_children_get_the_devices_no_cache_and_one_blas_thread():
    env = uci.child_env(1)
    assert env["XLA_FLAGS"] == "--xla_force_host_platform_device_count=1"
    assert env["BNNLANG_NO_CACHE"] == "1" and env["OPENBLAS_NUM_THREADS"] == "1"
    assert uci.CONFIGS["fsprior+mile"]["devices"] == 1 and "devices" not in uci.CONFIGS["mile"]


def test_standardiser_uses_population_sd_and_maps_constant_columns_to_one():
    x = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    mean, sd = uci.standardiser(x)
    # column 0: mean 3, deviations -2, 0, 2 -> variance 8/3 (divided by n, as the reference code)
    np.testing.assert_allclose(mean, [3.0, 5.0])
    np.testing.assert_allclose(sd, [math.sqrt(8 / 3), 1.0])
    np.testing.assert_allclose((x - mean) / sd, [[-1.2247449, 0.0], [0.0, 0.0], [1.2247449, 0.0]], rtol=1e-6)


def test_scaling_error_compares_kept_statistics_with_the_protocol():
    x = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    y = np.array([2.0, 4.0, 9.0])
    kept = {
        "x": {"shift": [3.0, 5.0], "scale": [math.sqrt(8 / 3), 1.0]},
        "y": {"shift": 5.0, "scale": float(np.std(y))},
    }
    assert uci.scaling_error({"standardized": kept}, x, y) < 1e-12
    kept["y"]["scale"] = float(np.std(y, ddof=1))  # the sample sd: not the protocol's
    assert uci.scaling_error({"standardized": kept}, x, y) > 0.1


def test_mean_and_standard_error():
    mean, se = uci.mean_se([1.0, 2.0, 6.0])
    assert mean == pytest.approx(3.0)
    assert se == pytest.approx(math.sqrt(7.0) / math.sqrt(3.0))  # sd (ddof 1) = sqrt((4 + 1 + 9) / 2)
    assert math.isnan(uci.mean_se([4.0])[1])


def test_tables_quote_papers_and_summarise_splits():
    records = [
        {"dataset": "yacht", "split": s, "config": "mile", "quick": False, "rmse": r, "ll": ll, "wall_s": w}
        for s, r, ll, w in ((0, 0.5, -1.0, 10.0), (1, 1.5, -2.0, 30.0))
    ]
    for r in records:
        r["pipeline"] = "bnnc"
    records.append(
        {"dataset": "yacht", "split": 2, "config": "mile", "quick": False, "pipeline": "bnnc", "error": "T\n x\nBoom\n"}
    )
    records.append(
        {"dataset": "yacht", "split": 0, "config": "nuts", "quick": False, "rmse": 0.3, "ll": -1, "wall_s": 5}
    )
    text = uci.tables([{**r} for r in records])
    assert "| mile | bnnc | 0,1 (failed: 2) | 1.00 ± 0.50 | -1.50 ± 0.50 | 20 |" in text
    assert "| nuts | Model API, hand standardisation | 0 | 0.30 | -1.00 | 5 |" in text  # no pipeline: the old runs
    assert (
        "| PBP (Hernández-Lobato & Adams 2015), quoted from the paper | — | 0-19 | 1.02 ± 0.05 | -1.63 ± 0.02 |" in text
    )
    assert "- mile, bnnc, split 2: x Boom" in text  # the error's last two lines, stripped
    assert "concrete" not in text
    rows = uci.summarise(records)
    (mile,) = [r for r in rows if r["config"] == "mile"]
    assert mile["splits"] == [0, 1] and mile["failed_splits"] == [2] and mile["rmse_se"] == pytest.approx(0.5)
    (nuts,) = [r for r in rows if r["config"] == "nuts"]
    assert nuts["pipeline"] == "api" and nuts["rmse_se"] is None


def test_split_lists_collapse_to_ranges():
    assert uci._splits(list(range(20))) == "0-19"
    assert uci._splits([0, 1]) == "0,1" and uci._splits([0, 2, 3]) == "0,2,3"


def test_read_records_labels_old_records_and_keeps_the_latest(tmp_path):
    path = tmp_path / "r.jsonl"
    base = {"dataset": "yacht", "split": 0, "config": "mile", "quick": False}
    lines = [{**base, "rmse": 1.0}, {**base, "rmse": 2.0}, {**base, "pipeline": "bnnc", "rmse": 3.0}]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    got = {r["pipeline"]: r["rmse"] for r in uci.read_records(path)}
    assert got == {"api": 2.0, "bnnc": 3.0}


@pytest.mark.skipif(not (uci.DATA_ROOT / "yacht" / "data").is_dir(), reason="UCI data not present")
def test_yacht_split_0_has_the_protocol_s_shapes():
    """The run itself is checked by tests/test_benchmark_suite.py (its quick UCI tables), marked `benchmark`."""
    x_tr, y_tr, x_te, y_te = uci.load_split("yacht", 0)
    assert x_tr.shape == (277, 6) and x_te.shape == (31, 6) and len(y_tr) == 277 and len(y_te) == 31
