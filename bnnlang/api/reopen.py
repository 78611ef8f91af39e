"""A run read back from its directory, and an interrupted run finished."""

from __future__ import annotations

from pathlib import Path

from . import messages, rundir
from .model import Model
from .run import Run


def open_run(path: str | Path) -> Run:
    """Read a run directory written by `bnnc run`, refusing incomplete or foreign folders."""
    return Run.read(path, Model.from_source)


def resume_run(path: str | Path, progress: bool = False) -> Run:
    """Continue the interrupted run whose target was `path`: from its last checkpoint (SG-HMC, SVI), from the
    start (NUTS, MILE: same seed, same draws), or only its final rename if it had finished."""
    p = Path(path)
    staged = rundir.read_staged(p)
    if staged is None:
        if rundir.is_complete(p):
            raise messages.already_complete(str(path))
        raise messages.nothing_to_resume(str(path))
    if rundir.staged_complete(p):  # killed between finishing and renaming: nothing to compute again
        rundir.promote(p)
        return open_run(p)
    record, source = staged
    if record.data_path.startswith("<"):  # `<arrays>`, `<DataFrame>`: nothing on disk to read again
        raise messages.resume_in_memory(str(path), record.data_path)
    model = Model.from_source(source, record.model_path, record.model_dir)
    overrides = {"backend": record.backend, **record.settings}
    if record.warm_start:  # it started from a previous run: so does its rerun
        if record.warm_start.get("from") is None:
            raise messages.resume_warm_in_memory(str(path), f"draws {record.warm_start.get('digest', '')}")
        overrides["init"] = Path(record.warm_start["from"])
    return model.plan(record.data_path, **overrides).run(p, progress, resume=True)
