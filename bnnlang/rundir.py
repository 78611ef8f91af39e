"""Run directories, written atomically and resumable.

A run is staged in a hidden sibling folder, `.NAME.partial`, and renamed into
place only when every file is complete, so an interrupted run leaves the
previous run (or nothing), never a half-written one. Every file in the stage is
itself written atomically (temporary file, then rename). Backends with
checkpoints (SG-HMC, SVI) save their state in the stage; `bnnc run --resume
NAME` picks it up. Files: model.bnn, model.py (the program that ran),
settings.json, posterior.nc (ArviZ NetCDF), summary.json, log.txt, and for
optimisers loss.csv.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
REQUIRED = ("model.bnn", "settings.json", "posterior.nc", "summary.json")
CHECKPOINT = "checkpoint.npz"


def stage_dir(target: Path) -> Path:
    target = Path(target)
    return target.parent / f".{target.name}.partial"


class RunWriter:
    """Stage files for `target`; on success rename the stage into place.

    On failure the stage is removed, unless it holds a checkpoint (the run can
    be resumed) or `keep_on_error` is set.
    """

    def __init__(self, target: Path, resume: bool = False) -> None:
        self.target = Path(target)
        self.stage = stage_dir(self.target)
        self.resume = resume

    def __enter__(self) -> RunWriter:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        if self.resume:
            if not self.stage.is_dir():
                raise FileNotFoundError(self.stage)
            for stale in self.stage.glob(".*.tmp-*"):  # a file the killed run was writing when it died
                stale.unlink()
            return self
        if self.stage.exists():
            shutil.rmtree(self.stage)
        self.stage.mkdir()
        return self

    @property
    def checkpoint_path(self) -> Path:
        return self.stage / CHECKPOINT

    def text(self, name: str, content: str) -> None:
        write_text_atomic(self.stage / name, content)

    def json(self, name: str, content: Any) -> None:
        self.text(name, json.dumps(content, indent=2, sort_keys=False, default=_jsonable) + "\n")

    def file(self, name: str, write: Callable[[Path], None]) -> None:
        tmp = self.stage / f".{name}.tmp-{os.getpid()}"
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, self.stage / name)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            if not self.checkpoint_path.is_file():
                shutil.rmtree(self.stage, ignore_errors=True)
            return
        self.checkpoint_path.unlink(missing_ok=True)
        promote(self.target)


def staged_complete(target: Path) -> bool:
    """The stage holds a finished run that was killed before it was renamed into place."""
    stage = stage_dir(target)
    return all((stage / f).is_file() for f in REQUIRED) and not (stage / CHECKPOINT).exists()


def promote(target: Path) -> None:
    """Rename the stage into place, replacing the run that was there (and any left by a killed promotion)."""
    target = Path(target)
    if target.exists():
        os.replace(target, target.parent / f".{target.name}.old-{os.getpid()}")
    os.replace(stage_dir(target), target)
    for old in target.parent.glob(f".{target.name}.old-*"):
        shutil.rmtree(old, ignore_errors=True)


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _jsonable(x: Any) -> Any:
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON-serialisable: {type(x).__name__}")


def write_text_atomic(path: Path, content: str) -> None:
    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_npz_atomic(path: Path, arrays: dict[str, Any]) -> None:
    import numpy as np

    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}.npz"
    np.savez(tmp, **arrays)
    _fsync(tmp)
    os.replace(tmp, path)
