"""The UCI benchmark script: its standardisation and back-transform on hand numbers, and a quick MILE run.

The back-transform is what makes our numbers comparable with the papers': an error in it shifts every
log-likelihood by a constant and would go unnoticed in a table.
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

uci = load_benchmark("uci")


def test_standardiser_uses_population_sd_and_maps_constant_columns_to_one():
    x = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    mean, sd = uci.standardiser(x)
    # column 0: mean 3, deviations -2, 0, 2 -> variance 8/3 (divided by n, as the reference code)
    np.testing.assert_allclose(mean, [3.0, 5.0])
    np.testing.assert_allclose(sd, [math.sqrt(8 / 3), 1.0])
    np.testing.assert_allclose((x - mean) / sd, [[-1.2247449, 0.0], [0.0, 0.0], [1.2247449, 0.0]], rtol=1e-6)


def test_back_transform_to_original_units():
    rmse, ll = uci.to_original(0.5, -1.0, 2.0)
    assert rmse == pytest.approx(1.0)
    assert ll == pytest.approx(-1.0 - 0.6931472)  # log 2
    # the same as scoring in original units: y = 2 z + 7, a Normal(0, 1) prediction becomes Normal(7, 2)
    z, y = 0.3, 2.0 * 0.3 + 7.0
    ll_std = -0.5 * z**2 - 0.5 * math.log(2 * math.pi)
    ll_orig = -0.5 * ((y - 7.0) / 2.0) ** 2 - math.log(2.0) - 0.5 * math.log(2 * math.pi)
    assert uci.to_original(0.0, ll_std, 2.0)[1] == pytest.approx(ll_orig)


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
    records.append(
        {"dataset": "yacht", "split": 2, "config": "mile", "quick": False, "error": "Trace\n  x\nBoom: no\n"}
    )
    text = uci.tables(records)
    assert "| mile | 0,1 (failed: 2) | 1.00 ± 0.50 | -1.50 ± 0.50 | 20 |" in text
    assert "| PBP (Hernández-Lobato & Adams 2015), quoted from the paper | 0-19 | 1.02 ± 0.05 | -1.63 ± 0.02 |" in text
    assert "- mile, split 2: x Boom: no" in text  # the error's last two lines, stripped
    assert "concrete" not in text


@pytest.mark.skipif(not (uci.DATA_ROOT / "yacht" / "data").is_dir(), reason="UCI data not present")
def test_quick_mile_on_yacht_split_0(tmp_path):
    x_tr, y_tr, x_te, y_te = uci.load_split("yacht", 0)
    assert x_tr.shape == (277, 6) and x_te.shape == (31, 6) and len(y_tr) == 277
    out = tmp_path / "uci.md"
    cmd = [sys.executable, str(SCRIPT), "--quick", "--datasets", "yacht", "--splits", "0", "--configs", "mile"]
    proc = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    text = out.read_text(encoding="utf-8")
    assert "### yacht" in text
    assert any(line.startswith("| mile (quick) | 0 |") for line in text.splitlines())
    (record,) = [json.loads(line) for line in out.with_suffix(".jsonl").read_text().splitlines()]
    assert record["dataset"] == "yacht" and record["config"] == "mile" and "error" not in record
    assert record["y_sd"] > 10  # the target's sd on the training split is ~15
    assert math.isfinite(record["rmse"]) and 0 < record["rmse"] < 10
    assert math.isfinite(record["ll"]) and -10 < record["ll"] < 2
    assert record["rmse"] == pytest.approx(record["rmse_std"] * record["y_sd"])
