"""JAX process settings: the device count (before JAX is first imported), the compilation cache, and starting
JAX's platform as a checked step."""

from __future__ import annotations

import os
from pathlib import Path

from .. import messages


def configure_devices(chains: int) -> None:
    """On CPU, expose one XLA host device per chain (up to the core count) so chains run in parallel.

    Also one OpenBLAS thread, unless the user chose: jaxlib's CPU LAPACK kernels (GP Cholesky and triangular
    solves) call scipy's OpenBLAS, whose own threads then fight XLA's for the same cores: a GP model's MILE
    run took an order of magnitude longer (benchmarks/results/design_notes.md#openblas-threads).
    """
    if "jax" in __import__("sys").modules:
        return
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags:
        return
    platforms = os.environ.get("JAX_PLATFORMS", "")
    if platforms and "cpu" not in platforms:
        return
    n = max(1, min(chains, os.cpu_count() or 1))
    if n > 1:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bnnlang" / "jax"


def enable_compilation_cache() -> None:
    """Reuse XLA compilations across processes: a second run of a model skips most of the compile."""
    import jax

    if os.environ.get("BNNLANG_NO_CACHE"):
        return
    path = cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def start_platform() -> None:
    """Start JAX's backend now, so that a platform JAX_PLATFORMS asks for and this machine lacks (a CUDA build
    not installed, no GPU) is a user error with the fix, not an internal error deep inside a run."""
    import jax

    platforms = os.environ.get("JAX_PLATFORMS", "")
    try:
        jax.devices()
    except (RuntimeError, AssertionError) as err:  # JAX 0.10 asserts when no installed plugin provides it
        if not platforms:
            raise
        reason = str(err).strip().splitlines()[0] if str(err).strip() else "no installed JAX build provides it"
        raise messages.platform_unavailable(platforms, reason.split(" (set JAX_PLATFORMS")[0]) from None
