"""The run directory: its files, the typed record in settings.json, and how it is written and read.

A run is staged in a hidden sibling folder, `.NAME.partial`, and renamed into place only when every file is
complete, so an interrupted run leaves the previous run (or nothing), never a half-written one. Every file in
the stage is itself written atomically (temporary file, then rename). Backends with checkpoints save their
state in the stage; `bnnc run --resume NAME` picks it up.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import messages

FORMAT_VERSION = 1
MODEL = "model.bnn"  # the model as written
PROGRAM = "model.py"  # the NumPyro program that ran
SETTINGS = "settings.json"  # `RunRecord`
POSTERIOR = "posterior.nc"  # ArviZ InferenceData (NetCDF)
SUMMARY = "summary.json"  # convergence per parameter and per layer, sampler health, timings
LOG = "log.txt"
REPORT_HTML, REPORT_JSON = "report.html", "report.json"  # written by `bnnc report`
CHECKPOINT = "checkpoint.npz"  # in the stage only, while a run that checkpoints is under way
TRACES = ("loss",)  # per-step traces a backend may return, each saved as NAME.csv (step,NAME)
REQUIRED = (MODEL, SETTINGS, POSTERIOR, SUMMARY)  # what makes a run directory complete


@dataclass
class RunRecord:
    """settings.json: what ran, on what, with which settings."""

    model_path: str
    data_path: str
    backend: str
    settings: dict[str, Any]
    dims: dict[str, int]
    noncentered: list[str] = field(default_factory=list)  # sites sampled as loc + scale * z
    standardized: dict[str, dict[str, list]] = field(default_factory=dict)  # for the reader; runs use posterior.nc
    warm_start: dict[str, Any] = field(default_factory=dict)  # the run it started from (folder, draws' digest)
    format_version: int = FORMAT_VERSION
    bnnlang_version: str = ""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        head = {"format_version": out.pop("format_version"), "bnnlang_version": out.pop("bnnlang_version")}
        for key in ("noncentered", "standardized", "warm_start"):  # written only when the run has them
            if not out[key]:
                del out[key]
        return {**head, **out}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    @property
    def model_dir(self) -> Path | None:
        """The folder the model's own modules are imported from."""
        mp = self.model_path
        return Path(mp).resolve().parent if mp and mp != "<string>" else None


def stage_dir(target: Path) -> Path:
    target = Path(target)
    return target.parent / f".{target.name}.partial"


class RunWriter:
    """Stage files for `target`; on success rename the stage into place.

    On failure the stage is removed, unless it holds a checkpoint (the run can be resumed).
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

    def trace(self, name: str, values) -> None:
        self.text(f"{name}.csv", "step," + name + "\n" + "".join(f"{i},{float(v):.6g}\n" for i, v in enumerate(values)))

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


def is_complete(folder: Path) -> bool:
    return all((Path(folder) / f).is_file() for f in REQUIRED)


def taken(folder: Path) -> bool:
    """Something a new run would replace: a file, a folder that is not empty, or an interrupted run's checkpoint."""
    folder = Path(folder)
    occupied = folder.is_file() or (folder.is_dir() and any(folder.iterdir()))
    return occupied or (stage_dir(folder) / CHECKPOINT).is_file()


def free_folder(base: Path) -> Path:
    """`base`, else `base-2`, `base-3`, ...: the first a new run would not replace (the default run folder)."""
    base = Path(base)
    candidate, n = base, 1
    while taken(candidate):
        n += 1
        candidate = base.with_name(f"{base.name}-{n}")
    return candidate


def check_target(target: Path, replace: bool) -> None:
    """Refuse, before anything runs, to write where a run would replace something not asked to be replaced.

    A complete run or an interrupted one is replaced only with `replace`; anything else (a file, a folder of other
    files, a partial run) never is: promoting the stage would delete it.
    """
    target = Path(target)
    if (stage_dir(target) / CHECKPOINT).is_file() and not replace:
        raise messages.interrupted_run_exists(str(target))
    if not taken(target) or (target.is_dir() and is_complete(target) and replace):
        return
    if target.is_dir() and is_complete(target):
        raise messages.run_exists(str(target))
    raise messages.not_a_run_folder(str(target))


def promote(target: Path) -> None:
    """Rename the stage into place, replacing the run that was there (and any left by a killed promotion)."""
    target = Path(target)
    if target.exists():
        os.replace(target, target.parent / f".{target.name}.old-{os.getpid()}")
    os.replace(stage_dir(target), target)
    for old in target.parent.glob(f".{target.name}.old-*"):
        shutil.rmtree(old, ignore_errors=True)


# -- reading ----------------------------------------------------------------------------------------------------


def read_run(path: str | Path) -> tuple[RunRecord, dict[str, Any], str]:
    """(record, summary, model source) of a complete run directory written by this version's format."""
    p = Path(path)
    spath = str(path)
    if not p.is_dir():
        raise messages.no_run(spath, interrupted=stage_dir(p).is_dir())
    missing = [f for f in REQUIRED if not (p / f).is_file()]
    if missing:
        raise messages.incomplete_run(spath, missing)
    try:
        raw = json.loads((p / SETTINGS).read_text(encoding="utf-8"))
        summary = json.loads((p / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise messages.unreadable_run(spath, err) from None
    if raw.get("format_version") != FORMAT_VERSION:
        raise messages.other_format(spath, raw.get("format_version"), FORMAT_VERSION)
    return RunRecord.from_json(raw), summary, (p / MODEL).read_text(encoding="utf-8")


def read_staged(target: Path) -> tuple[RunRecord, str] | None:
    """(record, model source) of an interrupted run's stage; None when there is none."""
    stage = stage_dir(target)
    if not (stage / SETTINGS).is_file():
        return None
    record = RunRecord.from_json(json.loads((stage / SETTINGS).read_text(encoding="utf-8")))
    return record, (stage / MODEL).read_text(encoding="utf-8")


def read_posterior(path: Path):
    from ..posterior.arviz import az

    try:
        return az.from_netcdf(Path(path) / POSTERIOR)
    except Exception as err:  # netCDF/HDF5 raise many types for a damaged file
        raise messages.unreadable_posterior(str(path), err) from None


def read_traces(p: Path) -> dict[str, Any]:
    import numpy as np

    traces = {}
    for name in TRACES:
        f = Path(p) / f"{name}.csv"
        if f.is_file():
            rows = f.read_text(encoding="utf-8").splitlines()[1:]
            traces[name] = np.array([float(r.split(",")[1]) for r in rows if r])
    return traces


# -- atomic files -----------------------------------------------------------------------------------------------


def _fsync(path: Path) -> None:
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def _jsonable(x: Any) -> Any:
    if hasattr(x, "tolist"):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON-serialisable: {type(x).__name__}")


def check_output(path: str | Path) -> Path:
    """Refuse an output file that cannot be written before any work is done for it: a folder, or a file in a
    folder that does not exist."""
    path = Path(path)
    if path.is_dir():
        raise messages.output_not_writable(str(path), "it is a folder")
    if not path.parent.is_dir():
        raise messages.output_not_writable(str(path), f"there is no folder '{path.parent}'")
    return path


def _write_atomic(path: str | Path, write: Callable[[Path], None], suffix: str = "") -> None:
    """Write to a hidden file beside `path`, sync it, then rename it over `path`: a reader never sees half a file.
    What the system refuses (no folder, no permission, a full disk) is the user's to fix, not a crash."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}{suffix}"
    try:
        write(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise messages.output_not_writable(str(path), err.strerror or str(err)) from None


def write_text_atomic(path: str | Path, content: str) -> None:
    _write_atomic(path, lambda tmp: tmp.write_text(content, encoding="utf-8"))


def write_bytes_atomic(path: str | Path, content: bytes) -> None:
    _write_atomic(path, lambda tmp: tmp.write_bytes(content))


def write_npz_atomic(path: str | Path, arrays: dict[str, Any]) -> None:
    import numpy as np

    _write_atomic(path, lambda tmp: np.savez(tmp, **arrays), ".npz")
