"""Pure helpers of benchmarks/scaling.py: the log-log fit, compile-span accounting and the tables on made-up points.

Nothing here runs a backend or starts JAX: the benchmark itself is run by the suite's marked test.
"""

from __future__ import annotations

import math
import sys
import types
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import scaling  # noqa: E402


def test_loglog_slope_recovers_power_laws():
    xs = [50, 200, 500, 1000, 2000]
    assert scaling.loglog_slope(xs, [3.0 * x**2 for x in xs]) == pytest.approx(2.0)
    assert scaling.loglog_slope(xs, [7.0 for _ in xs]) == pytest.approx(0.0, abs=1e-12)
    assert scaling.loglog_slope([1e3, 1e4, 1e5], [2e-3 * n for n in (1e3, 1e4, 1e5)]) == pytest.approx(1.0)


def test_loglog_slope_skips_missing_and_needs_two_points():
    assert scaling.loglog_slope([10, 100, 1000], [1.0, None, 100.0]) == pytest.approx(1.0)
    assert scaling.loglog_slope([10, 100], [1.0, -5.0]) is None
    assert scaling.loglog_slope([10, 10], [1.0, 2.0]) is None


def test_union_seconds_counts_nested_spans_once_and_clips():
    spans = [(0.0, 4.0), (1.0, 2.0), (3.0, 6.0), (8.0, 9.0)]
    assert scaling.union_seconds(spans, 0.0, 10.0) == pytest.approx(7.0)
    assert scaling.union_seconds(spans, 5.0, 8.5) == pytest.approx(1.5)
    assert scaling.union_seconds([], 0.0, 1.0) == 0.0


def test_describe_exponent():
    assert scaling.describe_exponent(0.05) == "flat"
    assert scaling.describe_exponent(1.02) == "about linear"
    assert scaling.describe_exponent(1.95) == "about quadratic"
    assert scaling.describe_exponent(0.5) == "sublinear"
    assert scaling.describe_exponent(-0.6).startswith("falls")


def test_params_count_matches_the_network():
    # 8 inputs: (8*50 + 50) + (50*50 + 50) + (50 + 1) weights and biases, plus the noise precision
    assert scaling.n_params(50) == 450 + 2550 + 51 + 1


def test_points_shared_by_two_sweeps_run_once():
    points = scaling.make_points(scaling.QUICK)
    keys = [(p.kind, p.width, p.n) for p in points]
    assert len(keys) == len(set(keys))
    shared = next(p for p in points if (p.kind, p.width, p.n) == ("sghmc", 50, 10_000))
    assert shared.sweeps == ["width", "n"]
    assert points[0].kind == "baseline"


def fake_results(plan: scaling.Plan) -> list[scaling.Point]:
    """Points with made-up results: time ~ width^2 for the minibatch methods, ~ N for NUTS; one timed out."""
    points = scaling.make_points(plan)
    for p in points:
        if p.kind == "baseline":
            p.result = {"status": "ok", "rss_after_import_mib": 360.0, "wall_s": 3.0}
            continue
        us = 0.01 * p.width**2 if p.kind != "nuts" else 0.2 * p.n
        p.result = {
            "status": "ok",
            "us_per_unit": us,
            "unit": {"sghmc": "gradient", "svi": "step", "nuts": "leapfrog"}[p.kind],
            "peak_rss_mib": 900.0,
            "compile_s": 3.0,
            "load_s": 0.1,
            "wall_s": 10.0,
            "draws": 10,
            "leapfrogs_per_draw": 63.0,
            "s_per_draw": 63 * us / 1e6,
        }
    late = next(p for p in points if p.kind == "svi" and p.width == 200)
    late.result = {"status": "timeout", "detail": "timed out after 90 s", "wall_s": 90.0}
    return points


def test_report_and_json_from_made_up_points(monkeypatch):
    fake = types.ModuleType("provenance")
    fake.provenance = lambda extra="": "Measured at a made-up time. " + extra
    fake.facts = lambda: {"date": "made up"}
    monkeypatch.setitem(sys.modules, "provenance", fake)
    plan = scaling.QUICK
    points = fake_results(plan)
    data_mib = {n: n * 36 / 2**20 for n in {p.n for p in points if p.n}}
    found = scaling.fits(plan, points)
    by = {(f["kind"], f["against"]): f for f in found}
    assert by[("sghmc", "width")]["exponent"] == pytest.approx(2.0)
    assert by[("nuts", "n")]["exponent"] == pytest.approx(1.0)
    assert ("svi", "width") not in by  # its width-200 point timed out: one width left, no fit

    text = scaling.report(plan, True, points, data_mib, found)
    assert "timed out after 90 s" in text  # a failed point is a row that says so
    assert "## Points that did not finish" in text
    assert "grows as width^2.00" in text

    record = scaling.to_json(plan, True, points, data_mib, found)
    assert record["baseline_rss_mib"] == 360.0
    rows = {(r["kind"], r["width"], r["n"]): r for r in record["points"]}
    assert rows[("sghmc", 50, 10_000)]["rss_increment_mib"] == pytest.approx(540.0)
    assert rows[("svi", 200, 10_000)]["status"] == "timeout"
    assert all(math.isfinite(f["exponent"]) for f in record["fits"])


def test_a_run_cut_short_marks_pending_points(monkeypatch):
    fake = types.ModuleType("provenance")
    fake.provenance = lambda extra="": "Measured at a made-up time. " + extra
    fake.facts = lambda: {"date": "made up"}
    monkeypatch.setitem(sys.modules, "provenance", fake)
    plan = scaling.QUICK
    points = fake_results(plan)
    for p in points[3:]:
        p.result = {}
    data_mib = {n: 1.0 for n in {p.n for p in points if p.n}}
    found = scaling.fits(plan, points)
    text = scaling.report(plan, True, points, data_mib, found)
    assert "pending" in text and f"{len(points) - 3} of {len(points)} points not run yet" in text
    record = scaling.to_json(plan, True, points, data_mib, found)
    assert [r["status"] for r in record["points"]].count("pending") == len(points) - 3
