"""Where a benchmark table came from: date, code, library versions and machine, as one markdown paragraph.

Every results file starts with it, so a table read months later says what it measured on. Benchmarks
import it as a sibling module (`from provenance import provenance`); it imports nothing heavy itself, and
reads versions from package metadata so that it never starts JAX.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bnnlang", "jax", "jaxlib", "numpyro", "blackjax", "optax", "arviz")


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _commit() -> str:
    """The checked-out commit, with '+changes' when the work tree differs from it; 'unknown' outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, cwd=ROOT
        )
    except OSError:
        return "unknown"
    commit = head.stdout.strip() or "unknown"
    return commit + ("+changes" if dirty.stdout.strip() else "")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except (OSError, ValueError):
        pass
    return None


def facts() -> dict[str, object]:
    """The provenance as data (for JSON records)."""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "commit": _commit(),
        "python": platform.python_version(),
        "versions": {p: v for p in PACKAGES if (v := _version(p))},
        "cpu": _cpu(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def provenance(extra: str = "") -> str:
    """One markdown paragraph: when, which code, which libraries, which machine (and `extra`, if given)."""
    f = facts()
    versions = ", ".join(f"{p} {v}" for p, v in f["versions"].items())
    mem = f", {f['memory_gib']:.0f} GiB" if f["memory_gib"] else ""
    text = (
        f"Measured {f['date']} at commit {f['commit']}; Python {f['python']}, {versions}; "
        f"{f['cpu']}, {f['cores']} cores{mem}, JAX on the CPU"
    )
    if f["xla_flags"]:
        text += f"; XLA_FLAGS={f['xla_flags']}"
    return text + "." + (f" {extra}" if extra else "")
