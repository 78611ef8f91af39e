"""Run directories, written atomically.

A run is staged in a hidden sibling folder and renamed into place only when
every file is complete, so an interrupted run leaves the previous run (or
nothing), never a half-written one. Files: model.bnn, model.py (the program
that ran), settings.json, posterior.nc (ArviZ NetCDF), summary.json, log.txt.
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


class RunWriter:
    def __init__(self, target: Path) -> None:
        self.target = Path(target)
        self.stage = self.target.parent / f".{self.target.name}.staging-{os.getpid()}"

    def __enter__(self) -> RunWriter:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        if self.stage.exists():
            shutil.rmtree(self.stage)
        self.stage.mkdir()
        return self

    def text(self, name: str, content: str) -> None:
        (self.stage / name).write_text(content, encoding="utf-8")

    def json(self, name: str, content: Any) -> None:
        self.text(name, json.dumps(content, indent=2, sort_keys=False, default=_jsonable) + "\n")

    def file(self, name: str, write: Callable[[Path], None]) -> None:
        write(self.stage / name)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            shutil.rmtree(self.stage, ignore_errors=True)
            return
        for f in self.stage.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        old = None
        if self.target.exists():
            old = self.target.parent / f".{self.target.name}.old-{os.getpid()}"
            os.replace(self.target, old)
        os.replace(self.stage, self.target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _jsonable(x: Any) -> Any:
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON-serialisable: {type(x).__name__}")


def write_text_atomic(path: Path, content: str) -> None:
    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    tmp.write_text(content, encoding="utf-8")
    os.replace(tmp, path)
