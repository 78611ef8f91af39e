"""The quick benchmark suite, end to end: one command writes every table, with plausible numbers.

Marked `benchmark` (run with `pytest -m benchmark`; CI runs it as its own step): about ten minutes on
2 cores. No timing asserts: the machines are shared and noisy. What is checked is that every script
ran, wrote its tables with their provenance, and that each number is finite and in a range that only a
broken measurement leaves (a loop optimised away, compilation counted per step, a back-transform
forgotten, a sampler that never moved).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from models import load_benchmark

ROOT = Path(__file__).resolve().parents[1]
suite = load_benchmark("suite")


def finite_numbers(value, path: str = "") -> list[tuple[str, float]]:
    """Every number in a JSON value with its path ('a.b[2].c'), None and strings left out."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return []
    if isinstance(value, int | float):
        return [(path, float(value))]
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in finite_numbers(v, f"{path}.{k}" if path else str(k))]
    return [x for i, v in enumerate(value) for x in finite_numbers(v, f"{path}[{i}]")]


def test_finite_numbers_walks_nested_json():
    got = finite_numbers({"a": [1, {"b": 2.5, "c": None}], "d": "x", "e": True})
    assert got == [("a[0]", 1.0), ("a[1].b", 2.5)]


def test_index_lists_every_script_with_its_status():
    records = [
        {"name": "uci", "status": "ok", "seconds": 12.0},
        {"name": "pymc", "status": "skipped", "seconds": 0.4, "why": "no PyMC | make one"},
    ]
    text = suite.index(records, quick=True)
    assert "| uci | " in text and "[uci.md](uci.md)" in text
    assert "| pymc | " in text and "| skipped | 0 | no PyMC / make one |" in text  # a '|' would split the cell
    assert "at commit" in text and "cores" in text  # the provenance paragraph


def test_unknown_benchmark_is_refused(capsys):
    with pytest.raises(SystemExit) as e:
        suite.main(["--only", "nope"])
    assert e.value.code == 2
    assert "unknown benchmark(s): nope" in capsys.readouterr().err


@pytest.fixture(scope="module")
def quick_suite(tmp_path_factory) -> Path:
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        pytest.fail("run the benchmark suite in one test process: pytest -m benchmark -n 0 (each process would run it)")
    return run_suite(tmp_path_factory.mktemp("bench"))


def run_suite(out: Path, *only: str) -> Path:
    """benchmarks/suite.py --quick into `out` (only the named scripts, if any)."""
    cmd = [sys.executable, str(ROOT / "benchmarks" / "suite.py"), "--quick", "--out", str(out)]
    cmd += ["--only", ",".join(only)] if only else []
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out


def results(out: Path, name: str) -> dict:
    """NAME's JSON, after checking that its markdown carries the provenance and every number is finite."""
    status = {r["name"]: r for r in json.loads((out / "index.json").read_text())["benchmarks"]}[name]
    if status["status"] == "skipped":
        pytest.skip(f"{name}: {status.get('why')}")
    assert status["status"] == "ok", status
    text = (out / f"{name}.md").read_text(encoding="utf-8")
    assert "at commit" in text and "jax " in text, f"{name}.md lacks its provenance"
    data = json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
    assert data["provenance"]["versions"]["jax"]
    return data


@pytest.mark.benchmark
def test_quick_suite_runs_every_quick_script(quick_suite):
    index = json.loads((quick_suite / "index.json").read_text())
    assert index["quick"] is True
    ran = {r["name"]: r["status"] for r in index["benchmarks"]}
    assert set(ran) == {b.name for b in suite.SUITE if b.quick}
    assert ran["pymc"] in ("ok", "skipped")  # PyMC lives in a virtual environment of its own
    assert all(s == "ok" for n, s in ran.items() if n not in ("pymc", "uci")), ran
    assert (quick_suite / "index.md").is_file()


@pytest.mark.benchmark
def test_cold_start_tables(quick_suite):
    data = results(quick_suite, "cold_start")
    for name, t in data["commands"].items():
        assert 0 < t["fastest_s"] <= t["median_s"] < 60, name
    assert all(v >= 0 for v in data["stages"].values()), data["stages"]
    assert data["stages"]["run: XLA compiling"] > 0  # JAX's compile events were heard
    assert math.isclose(sum(data["stages"].values()), data["total_s"], rel_tol=1e-6)


def markdown_tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    """(header cells, body rows) of each pipe table in `text`."""
    tables, block = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            block.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif block:
            tables.append((block[0], block[2:]))  # block[1] is the |---| rule
            block = []
    return tables


# Ratios the quick suite guards (the bars are overhead.md's targets with room for a noisy 2-core machine): a
# regression that doubles a sampler's cost per gradient fails CI instead of living under a stale table.
OVERHEAD_LIMITS = {
    # Target 1.2 (issue 21). The quick suite's 2,000 timed steps at width 50 are dispatch-bound: 1.2-1.3 on the
    # Intel Xeon kind, 1.3-2.6 on the AMD EPYC kind (2.25 failed CI at the old limit of 2.0). The guard is for
    # structural regressions (12.5x before the fused kernel; a compile per chunk), not for the CPU kind's spread.
    "bnnlang SG-HMC ×raw": 3.0,
    "bnnlang SVI ×hand": 2.0,  # target 1.05 at width 1000; ~1.1 at width 50
    "generated ×hand-written (raw)": 1.5,  # the generated potential against the same density in plain jnp
}


def overhead_limit_breaches(text: str) -> list[str]:
    """Each guarded ratio of overhead.md's tables above its limit, as 'column at width W: value > limit'."""
    found, breaches = set(), []
    for header, rows in markdown_tables(text):
        for column, limit in OVERHEAD_LIMITS.items():
            if column not in header:
                continue
            found.add(column)
            i = header.index(column)
            breaches += [f"{column} at width {r[0]}: {r[i]} > {limit}" for r in rows if float(r[i]) > limit]
    missing = set(OVERHEAD_LIMITS) - found
    return breaches + [f"{column}: no such column" for column in sorted(missing)]


def test_overhead_guard_fails_on_a_slow_sghmc():
    """The guard reads the real table layout: a table from before the fix (12.5x raw) fails, a fixed one passes."""
    table = "| width | bnnlang SG-HMC ×raw | bnnlang SVI ×hand |\n|---|---|---|\n| 50 | {} | 1.09 |\n"
    more = "| width | generated ×hand-written (raw) |\n|---|---|\n| 50 | 0.98 |\n"
    assert overhead_limit_breaches(table.format("1.15") + "\n" + more) == []
    assert overhead_limit_breaches(table.format("12.50") + "\n" + more) == [
        "bnnlang SG-HMC ×raw at width 50: 12.50 > 3.0"
    ]
    assert overhead_limit_breaches(table.format("1.15")) == ["generated ×hand-written (raw): no such column"]


@pytest.mark.benchmark
def test_overhead_tables(quick_suite):
    """Every cell a finite positive number, no absurd ratio (a loop optimised away, compiles counted per step)."""
    results(quick_suite, "overhead")
    text = (quick_suite / "overhead.md").read_text(encoding="utf-8")
    assert "xla_force_host_platform_device_count=1" in text
    tables = markdown_tables(text)
    assert len(tables) >= 2
    header, rows = tables[0]
    assert len(header) == 13 and len(rows) == 1
    assert rows[0][0] == "50" and rows[0][1] == "2,702"  # 1*50+50 + 50*50+50 + 50+1, plus the noise precision
    for header, rows in tables:
        for row in rows:
            assert len(row) == len(header)
            for name, cell in zip(header[1:], row[1:], strict=True):
                value = float(cell.replace(",", ""))
                assert math.isfinite(value) and value > 0, (name, cell)
                if "×" in name:
                    assert 0.2 <= value <= 50, (name, cell)
    assert overhead_limit_breaches(text) == []


@pytest.mark.benchmark
def test_nuts_overhead_tables(quick_suite):
    data = results(quick_suite, "nuts_overhead")
    for row in data["per_leapfrog"]:
        assert row["potential_mismatch"] < 1e-4  # the generated and hand-written densities agree
        for key in ("compiled_over_hand", "hand_over_raw", "compiled_over_raw"):
            assert 0.3 <= row[key] <= 10, (row["n"], key, row[key])  # NUTS costs at least ~a gradient per leapfrog
    summary = data["predictive"]["summary"]
    assert summary["bnnlang_ess_per_s"] > 0 and summary["numpyro_ess_per_s"] > 0
    for run in data["predictive"]["runs"]:
        assert run["median_ess_bulk"] > 1 and run["sigma"] > 0
        assert math.isfinite(run["test_lpd"])


@pytest.mark.benchmark
def test_refits_compile_once_and_keep_memory_flat(quick_suite):
    """Guards (issue 21): refits of one program compile nothing new, hold their memory and cost little more than
    their sampling. Looser than the targets (1.2x, 10%): 20 quick refits on a shared machine."""
    s = results(quick_suite, "refits")["summary"]
    assert s["refits"] == 20 and s["max_compiles_after_first"] <= 2, s
    assert s["fresh_mean_compiles"] >= 1  # the side-by-side column does compile: the count can see it
    assert abs(s["rss_growth"]) < 0.10, s
    assert s["wall_over_sampling"] < 1.6, s


@pytest.mark.benchmark
def test_lsp_latency_meets_its_target(quick_suite):
    """Issue 26's target: diagnostics within 100 ms of an edit, per shipped example (medians of 4-21 ms measured,
    benchmarks/results/lsp_latency.md), with the data checked too."""
    data = results(quick_suite, "lsp_latency")
    shipped = {p.name for p in (Path(__file__).resolve().parents[1] / "examples").glob("*.bnn")}
    assert {r["example"] for r in data["rows"]} == shipped
    for row in data["rows"]:
        assert 0 < row["median_ms"] <= data["target_ms"], row


@pytest.mark.benchmark
def test_compiled_layers_keep_pace_with_hand_written_jax(quick_suite):
    """Issue 22's target, per gradient of a minibatch potential in a compiled loop: the generated CNN and
    transformer within 1.1x of the fastest hand-written JAX (full run, benchmarks/results/layers_speed.md; the
    quick run's two short rounds get 1.3x), and the CNN far faster than the same network on
    `lax.conv_general_dilated`, which XLA's CPU backend runs slowly inside loops (why bnnlang gathers windows)."""
    data = results(quick_suite, "layers_speed")
    rows = {r["model"]: r for r in data["rows"]}
    assert set(rows) == {"cnn", "transformer"}
    for row in rows.values():
        assert row["potential_rel_diff"] < 1e-4
        assert 0 < row["ratio"] <= 1.3, row
    cnn = rows["cnn"]["us"]
    assert cnn["hand (lax)"] > 3 * cnn["bnnlang"], cnn


@pytest.mark.slow
def test_scaling_tables(tmp_path):
    """Outside the quick suite (nine fresh processes, 3-4 minutes); its logic is in test_scaling_benchmark.py."""
    data = results(run_suite(tmp_path, "scaling"), "scaling")
    assert data["complete"]
    measured = [p for p in data["points"] if p["kind"] != "baseline"]
    assert {p["kind"] for p in measured} == {"sghmc", "svi", "nuts"}
    assert all(p["status"] == "ok" and p["us_per_unit"] > 0 for p in measured), measured
    assert all(p["peak_rss_mib"] >= data["baseline_rss_mib"] * 0.9 for p in measured)
    by_kind = {(f["kind"], f["against"]): f["exponent"] for f in data["fits"]}
    # a wider network costs more per gradient; a minibatch method barely notices N, full-data NUTS does
    assert by_kind[("sghmc", "width")] > 0.3 and by_kind[("svi", "width")] > 0.3
    assert by_kind[("nuts", "n")] > by_kind[("sghmc", "n")]


@pytest.mark.benchmark
def test_uci_tables(quick_suite):
    data = results(quick_suite, "uci")
    rows = {r["config"]: r for r in data["rows"] if r["dataset"] == "yacht" and r["quick"]}
    assert set(rows) >= {"nuts", "mile", "svi", "sghmc", "fsprior+mile"}, set(rows)
    assert rows["nuts"]["rmse_mean"] < 3.0  # the bar; yacht's target sd is about 15
    for config, r in rows.items():
        # every configuration runs: SG-HMC's absolute default step once diverged at step 2 on every yacht split
        assert r["splits"] == [0] and not r["failed_splits"], (config, r)
        assert 0 < r["rmse_mean"] < 6.0 and -6.0 < r["ll_mean"] < 3.0, (config, r)
    records = [json.loads(line) for line in (quick_suite / "uci.jsonl").read_text().splitlines()]
    for record in (r for r in records if "error" not in r):
        assert record["pipeline"] == "bnnc" and record["command"].startswith("bnnc run ")
        assert record["y_sd"] > 10  # the target's sd on the training split is ~15
        assert record["scaling_rel_err"] < 1e-4  # `standardized` used the protocol's statistics


# The quick digits run (500 rows, 80 SG-HMC steps, 400 ensemble steps) measured accuracy 0.94 for every model and
# NLL 0.58 (Bayesian) against 0.56 (MAP): short fits leave every model underconfident alike, so the guard is
# coarse: learned well above chance (0.1), and no much worse NLL than MAP's.
DIGITS_ACCURACY_FLOOR = 0.8
DIGITS_NLL_TOLERANCE = 0.3


@pytest.mark.benchmark
def test_digits_cnn_tables(quick_suite):
    """The CI-sized CNN benchmark (`mnist1d.py --data digits --quick`: 500 training rows, short chains): the
    Bayesian and partially Bayesian CNNs learn the digits (chance is 0.1) and the full posterior's NLL is not
    far from MAP's, as the full run (results/digits.md) shows with margin."""
    data = results(quick_suite, "digits")
    rows = {r["model"]: r for r in data["rows"]}
    assert set(rows) == {"Bayesian CNN", "partially Bayesian CNN", "MAP CNN", "deep ensemble (5)"}, set(rows)
    assert data["quick"] and data["train_rows"] == 500
    for name, r in rows.items():
        assert 0 < r["nll"] < 2.3 and 0 <= r["ece"] <= 1, (name, r)  # 2.3 = log 10, a uniform guess
        assert all(0 <= r[f"auroc_{o}"] <= 1 for o in data["ood"]), (name, r)
    bayes, partial, map_ = rows["Bayesian CNN"], rows["partially Bayesian CNN"], rows["MAP CNN"]
    assert bayes["accuracy"] > DIGITS_ACCURACY_FLOOR and partial["accuracy"] > DIGITS_ACCURACY_FLOOR
    assert bayes["draws"] > 1 and map_["draws"] == 1
    assert bayes["nll"] < map_["nll"] + DIGITS_NLL_TOLERANCE, (bayes["nll"], map_["nll"])
    # the posterior's mutual information flags shuffled digits better than MAP's entropy (full run: 1.000 against
    # 0.923; quick: 0.982 against 0.932)
    assert bayes["auroc_shuffled"] > map_["auroc_shuffled"], (bayes["auroc_shuffled"], map_["auroc_shuffled"])
