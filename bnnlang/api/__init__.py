"""The Python API, for notebooks and scripts; `bnnc` is a thin layer over it.

    import bnnlang
    model = bnnlang.load("examples/regression_1d.bnn")
    run = model.run("examples/data/regression_1d.csv", chains=2)
    table = run.predict("examples/data/regression_1d_grid.csv")

Errors in the model, data or settings raise `bnnlang.BnnError`, whose text is the same message the CLI prints.
"""

from __future__ import annotations

from pathlib import Path

from .model import Model, RunPlan, read_source
from .reopen import open_run, resume_run
from .run import DataSource, Run


def load(path: str | Path) -> Model:
    """Parse and check a .bnn file."""
    return Model.from_file(path)


__all__ = ["DataSource", "Model", "Run", "RunPlan", "load", "open_run", "read_source", "resume_run"]
