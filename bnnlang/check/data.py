"""Bind a model's data: read it (`data_files.py`), then put numbers on the dimensions and check the ranges.

Everything is refused here, before any sampling: besides what the readers refuse (missing columns or arrays,
ragged rows, text, NaN/inf, non-integers in int data), dimensions that disagree between variables, labels out
of their declared or likelihood-imposed range, and GPs too large for their data. The data may be a file (CSV,
NPZ, Parquet) or already in memory (a mapping of arrays, a pandas DataFrame); both go through the same checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import data_messages as msg
from .data_files import decl_loc, read_arrays
from .model import CheckedModel, DataVar, Size

_NAME = re.compile(r"[A-Za-z_]\w*")


@dataclass
class BoundData:
    arrays: dict[str, np.ndarray]
    dims: dict[str, int]
    path: str  # the data file, or `<arrays>` / `<DataFrame>` for data handed over in memory

    def model_kwargs(self, model: CheckedModel, observed: bool = True) -> dict[str, object]:
        """Keyword arguments for the generated model function."""
        kwargs: dict[str, object] = {v.name: self.arrays[v.name] for v in model.inputs}
        for v in model.observed:
            kwargs[v.name] = self.arrays.get(v.name) if observed else None
        for d in model.arg_dims:
            kwargs[d] = self.dims[d]
        return kwargs


def load_data(
    source: str | Path | Any,
    model: CheckedModel,
    require_observed: bool = True,
    training_dims: dict[str, int] | None = None,
) -> BoundData:
    """Read and validate the data for `model`: a path (CSV, NPZ, Parquet), a mapping of variable names to
    array-likes, or a pandas DataFrame. Without `require_observed` only the inputs are read (prediction);
    `training_dims` then pins the dims that do not index rows to the training data's."""
    wanted = [v for v in model.data.values() if require_observed or not v.observed]
    arrays, source_name = read_arrays(source, model, wanted)
    dims = _bind_dims(arrays, model, wanted, source_name, training_dims)
    _check_bounds(arrays, model, wanted, dims, source_name)
    if training_dims is None:
        _check_gp_sizes(model, dims)
    return BoundData(arrays, dims, source_name)


def _check_gp_sizes(model: CheckedModel, dims: dict[str, int]) -> None:
    """An exact GP factors a rows x rows matrix every step; a sparse one needs fewer inducing points than rows."""
    from .distributions import MAX_EXACT_GP_ROWS

    for g in model.gps.values():
        rows = eval_size(g.rows, dims)
        if rows is None:
            continue
        where = model.program.at(g.node.span)
        if g.mode != "sparse" and rows > MAX_EXACT_GP_ROWS:
            raise msg.gp_exact_too_many_rows(where, g.name, rows, MAX_EXACT_GP_ROWS)
        if g.mode == "sparse" and g.inducing > rows:
            raise msg.gp_too_many_inducing(where, g.name, g.inducing, rows)


def _bind_dims(
    arrays: dict[str, np.ndarray],
    model: CheckedModel,
    wanted: list[DataVar],
    source: str,
    training_dims: dict[str, int] | None,
) -> dict[str, int]:
    """Give every dimension name its size from the data, refusing sizes that disagree; then store the arrays
    as float32 and int32."""
    dims: dict[str, int] = dict(model.consts)
    origin: dict[str, str] = {k: msg.FROM_DATA_BLOCK for k in model.consts}
    pinned = {k: v for k, v in (training_dims or {}).items() if k not in _row_dims(model)}
    for k, v in pinned.items():
        dims.setdefault(k, v)
        origin.setdefault(k, msg.FROM_TRAINING)
    for var in wanted:
        arr = arrays[var.name]
        for axis, size in enumerate(var.shape):
            actual = arr.shape[axis]
            if isinstance(size, int):
                if actual != size:
                    raise msg.size_mismatch(decl_loc(model, var), var.name, actual, axis, size, source)
                continue
            if _NAME.fullmatch(size):
                if size in dims and dims[size] != actual:
                    where = decl_loc(model, var)
                    raise msg.dim_disagrees(where, var.name, actual, axis, size, dims[size], origin[size], source)
                dims[size] = actual
                origin[size] = msg.from_variable(var.name)
        if arr.ndim and arr.shape[0] == 0:
            raise msg.no_rows(decl_loc(model, var), var.name, source)
    # shapes with offsets (e.g. K-1) are checked once every name is bound
    for var in wanted:
        for axis, size in enumerate(var.shape):
            if isinstance(size, str) and not _NAME.fullmatch(size):
                want = eval_size(size, dims)
                actual = arrays[var.name].shape[axis]
                if want is not None and actual != want:
                    raise msg.offset_size_mismatch(decl_loc(model, var), var.name, actual, axis, size, want, source)
    for var in wanted:
        arrays[var.name] = arrays[var.name].astype(np.int32 if var.base == "int" else np.float32)
    return dims


def _row_dims(model: CheckedModel) -> set[str]:
    """Dims that index data rows: they change between training and prediction data."""
    rows = set()
    for v in model.data.values():
        if v.shape and isinstance(v.shape[0], str):
            rows.add(v.shape[0])
    return rows


def eval_size(size: Size, dims: dict[str, int]) -> int | None:
    """The number a symbolic size stands for once the data bound its name; None while the name is unbound."""
    if isinstance(size, int):
        return size
    m = re.fullmatch(r"([A-Za-z_]\w*)([+-]\d+)?", size)
    if not m or m.group(1) not in dims:
        return None
    return dims[m.group(1)] + int(m.group(2) or 0)


def _check_bounds(
    arrays: dict[str, np.ndarray], model: CheckedModel, wanted: list[DataVar], dims: dict[str, int], source: str
) -> None:
    """Refuse values outside a variable's declared range or the support of its likelihood (labels, counts)."""
    for var in wanted:
        arr = arrays[var.name]
        lo_hi = [(lo, hi, text) for name, lo, hi, text in _support_ranges(model) if name == var.name]
        if var.bound is not None:
            lo, hi = (eval_size(s, dims) for s in var.bound)
            if lo is None or hi is None:
                raise msg.range_unbound(decl_loc(model, var), var.name, var.bound)
            lo_hi.append((lo, hi, msg.declared_range(var.bound)))
        for lo, hi, text in lo_hi:
            bad = (arr < lo) | (arr > hi)
            if bad.any():
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                where = decl_loc(model, var)
                raise msg.out_of_range(where, var.name, source, arr[idx], list(idx), text, lo, hi, var.observed)


def _support_ranges(model: CheckedModel) -> list[tuple[str, float, float, str]]:
    """Ranges the likelihood itself imposes on observed data."""
    out = []
    for obs in model.observes:
        if obs.dist.func == "Bernoulli":
            out.append((obs.name, 0, 1, msg.likelihood_range("Bernoulli")))
        elif obs.dist.func == "Poisson":
            out.append((obs.name, 0, np.inf, msg.likelihood_range("Poisson")))
    return out
