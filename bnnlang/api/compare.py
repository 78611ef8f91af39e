"""Model comparison: runs of models fit to the same data, ranked by PSIS-LOO (`bnnc compare`).

The runs must share their observed data exactly: elpd_loo differences mean nothing across data sets (a
standardised or re-ordered copy included), so a mismatch is refused, naming the run and the variable.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import messages, rundir
from .reopen import open_run
from .run import Run


@dataclass
class Comparison:
    """Runs ranked by elpd_loo: one row per run (`diagnose.loo.compare`), and each run's own PSIS-LOO summary."""

    rows: list[dict[str, Any]]
    runs: dict[str, dict[str, Any]]  # name -> {"path", "backend", "loo": diagnose.loo.summary}

    def as_json(self) -> dict[str, Any]:
        return {
            "method": "PSIS-LOO (arviz.loo), stacking weights (arviz.compare)",
            "rows": self.rows,
            "runs": self.runs,
        }

    def text(self) -> str:
        from ..diagnose.loo import comparison_table

        return comparison_table(self.rows, self.runs)

    def write(self, folder: Path) -> tuple[Path, Path]:
        folder.mkdir(parents=True, exist_ok=True)
        md, js = folder / "compare.md", folder / "compare.json"
        rundir.write_text_atomic(js, json.dumps(self.as_json(), indent=1, allow_nan=False) + "\n")
        rundir.write_text_atomic(md, "# Model comparison\n\n" + self.text())
        return md, js


def compare_runs(paths: Sequence[str | Path]) -> Comparison:
    """Read the runs, check they share their observed data, and rank them by PSIS-LOO."""
    from ..check.backends import BACKENDS
    from ..diagnose import loo

    if len(paths) < 2:
        raise messages.compare_needs_two()
    runs = [open_run(p) for p in paths]
    names = _names([Path(p) for p in paths])
    for name, run in zip(names[1:], runs[1:], strict=True):
        _same_data(names[0], runs[0], name, run)
    results, described = {}, {}
    for name, run in zip(names, runs, strict=True):
        in_modes = BACKENDS[run.record.backend].members(run.record.settings, int(run.idata.posterior.sizes["chain"]))
        result = loo.elpd(run.idata, in_modes)
        if result is None:
            raise messages.no_log_likelihood(str(run.path))
        results[name] = result
        described[name] = {"path": str(run.path), "backend": run.record.backend, "loo": loo.summary(result, in_modes)}
    return Comparison(loo.compare(results), described)


def _names(paths: list[Path]) -> list[str]:
    """Each run's folder name, or its path where two share a name."""
    short = [p.name or str(p) for p in paths]
    return short if len(set(short)) == len(short) else [str(p) for p in paths]


def _same_data(first_name: str, first: Run, name: str, run: Run) -> None:
    a, b = first.idata.observed_data, run.idata.observed_data
    if set(a.data_vars) != set(b.data_vars):
        raise messages.compare_other_data(name, first_name, "observes " + ", ".join(sorted(b.data_vars)))
    for var in sorted(a.data_vars):
        x, y = np.asarray(a[var].values), np.asarray(b[var].values)
        if x.shape != y.shape or not np.array_equal(x, y):
            raise messages.compare_other_data(name, first_name, f"has other values of '{var}'")
