"""Resumable state for long runs: a pytree of arrays saved atomically every k steps.

The file is a NumPy .npz (no pickle): the leaves of the state in order, the
step reached, and a fingerprint of the settings and data, so a checkpoint is
never resumed under different settings. The state's structure comes from a
freshly initialised state (the template), not from the file.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import jax
import numpy as np


def fingerprint(settings: dict[str, Any], data: dict[str, Any]) -> str:
    """A short hash of the settings and the data arrays: what a checkpoint must match to be resumed."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for k in sorted(data):
        v = data[k]
        if hasattr(v, "shape"):
            arr = np.ascontiguousarray(np.asarray(v))
            h.update(k.encode() + str(arr.dtype).encode() + str(arr.shape).encode() + arr.tobytes())
        elif v is not None and not isinstance(v, dict):
            h.update(f"{k}={v}".encode())
    return h.hexdigest()[:16]


class Checkpoint:
    """One checkpoint file of a run; `every` = steps between saves (0 = never)."""

    def __init__(self, path: Path | None, every: int, fingerprint: str = "") -> None:
        self.path = Path(path) if path is not None else None
        self.every = every if path is not None else 0
        self.fingerprint = fingerprint

    @property
    def enabled(self) -> bool:
        return self.every > 0

    def save(self, step: int, state: Any) -> None:
        if not self.enabled:
            return
        leaves = [np.asarray(x) for x in jax.tree_util.tree_leaves(state)]
        arrays = {f"leaf{i}": leaf for i, leaf in enumerate(leaves)}
        meta = np.array(json.dumps({"step": int(step), "fingerprint": self.fingerprint, "leaves": len(leaves)}))
        tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        with open(tmp, "wb") as fh:
            np.savez(fh, _meta=meta, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def load(self, template: Any) -> tuple[int, Any] | None:
        """(step, state) from the file, shaped like `template`; None when there is no usable checkpoint."""
        if self.path is None or not self.path.is_file():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as f:
                meta = json.loads(str(f["_meta"]))
                leaves = [f[f"leaf{i}"] for i in range(meta["leaves"])]
        except (OSError, ValueError, KeyError):
            return None  # a damaged checkpoint: start again rather than resume wrongly
        if meta.get("fingerprint") != self.fingerprint:
            return None
        treedef = jax.tree_util.tree_structure(template)
        ref = jax.tree_util.tree_leaves(template)
        if len(ref) != len(leaves) or any(np.shape(a) != np.shape(b) for a, b in zip(ref, leaves)):
            return None
        state = jax.tree_util.tree_unflatten(
            treedef, [jax.numpy.asarray(x, dtype=np.asarray(r).dtype) for x, r in zip(leaves, ref)]
        )
        return int(meta["step"]), state


NO_CHECKPOINT = Checkpoint(None, 0)
