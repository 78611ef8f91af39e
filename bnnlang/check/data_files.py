"""Read the data for a model, from a file (CSV, NPZ, Parquet) or from memory (a mapping of arrays, a DataFrame),
into one float64 array per data variable, refusing what cannot be numbers in the declared shape.

Everything a reader finds wrong is refused here, before any sampling: missing columns or arrays, ragged rows,
text in numeric columns, NaN/inf, values 32 bits cannot hold, non-integers in int data, and arrays with the
wrong number of axes. CSV problems point at the cell (file:line:col with a caret); NPZ, Parquet and in-memory
problems point at the model's declaration and name the element. `data.py` then binds the dimensions.

Conventions: a CSV has a header row; a vector `y: real[N]` reads column `y`; a matrix `x: real[N, D]` reads
columns `x.0 ... x.{D-1}` (or `x` alone when D is 1), or the columns its declaration lists with
`from (a, b, c)`. A DataFrame is read like a Parquet table, a mapping of arrays like an NPZ file.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import Location, first_nul, undecodable_byte
from . import data_messages as msg
from .data_messages import ARRAYS, FRAME
from .model import CheckedModel, DataVar

MAX_DATA_GIB = 2
MAX_DATA_BYTES = MAX_DATA_GIB * 1024**3
# Data are stored as float32 and int32 (`data._bind_dims`); a value beyond these would turn into inf or wrap.
MAX_REAL = float(np.finfo(np.float32).max)
MAX_INT = 2**31 - 1

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def read_arrays(source: Any, model: CheckedModel, wanted: list[DataVar]) -> tuple[dict[str, np.ndarray], str]:
    """The arrays of the `wanted` variables, and the name of their source in messages (a path, `<arrays>`,
    `<DataFrame>`). A DataFrame is recognised by its shape (columns, to_numpy), so pandas is never imported."""
    if isinstance(source, (str, os.PathLike)):
        spath = os.fspath(source)
        if not isinstance(spath, str):
            raise msg.unsupported_source(source)
        return _read_file(Path(spath), spath, model, wanted), spath
    if _is_frame(source):
        return _from_table(_frame_table(source), model, wanted), FRAME
    if isinstance(source, Mapping):
        if len(source) == 0:
            raise msg.empty_source(ARRAYS)
        return _from_mapping(source, model, wanted), ARRAYS
    raise msg.unsupported_source(source)


def decl_loc(model: CheckedModel, var: DataVar) -> Location:
    """Problems with no cell to point at (NPZ, Parquet, in memory) point at the variable's declaration."""
    return model.program.at(var.decl.span)


def _read_file(p: Path, spath: str, model: CheckedModel, wanted: list[DataVar]) -> dict[str, np.ndarray]:
    if not p.exists():
        raise msg.file_missing(spath)
    if p.is_dir():
        raise msg.file_is_folder(spath)
    size = p.stat().st_size
    if size == 0:
        raise msg.file_empty(spath)
    if size > MAX_DATA_BYTES:
        raise msg.file_too_large(spath, MAX_DATA_GIB)
    suffix = p.suffix.lower()
    if suffix == ".npz":
        return _load_npz(p, spath, model, wanted)
    if suffix in (".parquet", ".pq"):
        return _from_table(_read_parquet(p, spath), model, wanted)
    if suffix in (".csv", ".txt", ""):
        return _from_table(_read_csv(p, spath), model, wanted)
    raise msg.unknown_format(spath, suffix)


@dataclass
class _Table:
    """Column-oriented view of a CSV file, a Parquet file or a DataFrame, remembering where each cell came from."""

    source: str
    header: list[str]
    column: Callable[[str], Any]  # the values of a named column: CSV cell texts, or a typed array or Series
    cells: list[tuple[int, str]] | None = None  # CSV only: (line number, raw line) of each data row

    def __post_init__(self) -> None:
        self.names = set(self.header)


# ---------------------------------------------------------------- CSV


def _read_csv(p: Path, spath: str) -> _Table:
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise msg.csv_not_utf8(undecodable_byte(spath, raw, err), raw[err.start]) from None
    nul = first_nul(spath, text)
    if nul is not None:
        raise msg.csv_nul_bytes(nul)
    # The lines as the csv module reads them ("\n", "\r\n" or a lone "\r" ends one; "\f" does not, unlike
    # str.splitlines), and each row with the line it starts on (a quoted cell may hold a line break).
    lines = [ln.rstrip("\r\n") for ln in io.StringIO(text, newline="")]
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[list[str]] = []
    starts: list[int] = []
    last = 0  # the line the previous row ended on
    try:
        for row in reader:
            rows.append(row)
            starts.append(last + 1)
            last = reader.line_num
    except csv.Error as err:  # a cell over csv's field size limit (128 KiB), say
        line = max(reader.line_num, 1)
        where = Location(spath, line, 1, None, lines[line - 1] if line <= len(lines) else "")
        raise msg.csv_unreadable(where, err) from None
    if not rows or not any(c.strip() for c in rows[0]):
        raise msg.csv_no_header(Location(spath, 1, 1, None, lines[0] if lines else ""))
    header = [h.strip() for h in rows[0]]
    seen: set[str] = set()
    for i, h in enumerate(header):
        if h in seen:
            raise msg.csv_duplicate_column(Location(spath, 1, _cell_col(lines[0], i), None, lines[0]), h)
        seen.add(h)
    columns: dict[str, list[str]] = {h: [] for h in header}
    cells = []
    for lineno, row in zip(starts[1:], rows[1:]):
        if not row or all(not c.strip() for c in row):
            continue
        raw_line = lines[lineno - 1] if lineno - 1 < len(lines) else ""
        if len(row) != len(header):
            raise msg.csv_ragged_row(Location(spath, lineno, 1, len(raw_line) + 1, raw_line), len(row), len(header))
        for h, c in zip(header, row):
            columns[h].append(c.strip())
        cells.append((lineno, raw_line))
    if not cells:
        raise msg.csv_no_rows(Location(spath, 1, 1, None, lines[0]))
    return _Table(spath, header, columns.__getitem__, cells)


def _cell_col(raw_line: str, index: int) -> int:
    col = 1
    for i, part in enumerate(raw_line.split(",")):
        if i == index:
            return col + (len(part) - len(part.lstrip()))
        col += len(part) + 1
    return 1


def _csv_column(table: _Table, name: str, index: int, var: DataVar) -> np.ndarray:
    """Parse one CSV column cell by cell, so that a bad cell is reported at its line and column."""
    values = table.column(name)
    assert table.cells is not None
    is_int = var.base == "int"
    largest, limit = _limit(var.base)
    out = np.empty(len(values), dtype=np.float64)
    for i, cell in enumerate(values):
        lineno, raw_line = table.cells[i]
        col = _cell_col(raw_line, index)
        where = Location(table.source, lineno, col, col + max(len(cell), 1), raw_line)
        if cell == "":
            raise msg.cell_missing(where, name)
        if var.levels is not None:
            if cell not in var.levels:
                raise msg.cell_not_a_level(where, name, cell, var.name, var.levels)
            out[i] = var.levels.index(cell)
            continue
        if not _NUMBER.fullmatch(cell):
            if cell.lower().lstrip("+-") in ("nan", "inf", "infinity", "na", "null", "none"):
                raise msg.cell_not_finite(where, name, cell)
            raise msg.cell_not_a_number(where, name, cell, var.name, var.base)
        value = float(cell)
        if not np.isfinite(value) or abs(value) > largest:
            raise msg.cell_too_large(where, name, cell, var.base, limit)
        if is_int and value != int(value):
            raise msg.cell_not_integer(where, name, cell, var.name)
        out[i] = value
    return out


def _limit(base: str) -> tuple[float, str]:
    """The largest magnitude that 32-bit storage of `base` data holds, and how a hint prints it."""
    return (MAX_INT, f"{MAX_INT}") if base == "int" else (MAX_REAL, f"{MAX_REAL:.3g}")


# ---------------------------------------------------------------- Parquet and DataFrames


def _read_parquet(p: Path, spath: str) -> _Table:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise msg.parquet_needs_pyarrow(spath) from None
    try:
        table = pq.read_table(p)
    except Exception as err:  # pyarrow raises many types for a bad file
        raise msg.parquet_unreadable(spath, err) from None
    cols = {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
    return _Table(spath, list(cols), cols.__getitem__)


def _is_frame(source: object) -> bool:
    """A pandas (or polars) DataFrame, by what it offers: named columns, and a column per name."""
    return hasattr(source, "columns") and hasattr(source, "to_numpy") and hasattr(source, "__getitem__")


def _frame_table(frame: Any) -> _Table:
    """A DataFrame as a typed table; its column labels are read as text (`0`, `1` for an unnamed frame)."""
    labels: dict[str, Any] = {}
    for label in frame.columns:
        name = str(label)
        if name in labels:
            raise msg.frame_duplicate_column(FRAME, name)
        labels[name] = label
    if not labels:
        raise msg.empty_source(FRAME)
    if len(frame) == 0:
        raise msg.frame_no_rows(FRAME)
    return _Table(FRAME, list(labels), lambda name: frame[labels[name]])


def _typed_column(table: _Table, name: str, var: DataVar, model: CheckedModel) -> np.ndarray:
    """A Parquet or DataFrame column already has a type: refuse text, then check the values as an array's."""
    arr = _as_array(table.column(name))
    if var.levels is not None and arr.dtype.kind in "OUS":
        arr = _level_codes(arr, var, model, table.source, name)
    if arr.dtype.kind not in "fiub":
        raise msg.column_not_numeric(decl_loc(model, var), name, table.source, arr.dtype)
    return _check_array(arr.astype(np.float64), var, model, table.source, column=name)


def _columns_for(var: DataVar, table: _Table, model: CheckedModel) -> list[str]:
    """The columns that hold `var`: its name for a vector; for a matrix, those its `from (...)` lists, else the
    numbered `x.0, x.1, ...`, else `x` alone."""
    header = table.header
    if len(var.shape) == 1:
        if var.name in table.names:
            return [var.name]
        missing = var.name
    elif len(var.shape) == 2:
        if var.decl.columns is not None:
            names = [c.id for c in var.decl.columns]
            for c in names:
                if c not in table.names:
                    raise msg.named_column_missing(decl_loc(model, var), c, var.name, table.source, header)
            return names
        numbered = []
        while f"{var.name}.{len(numbered)}" in table.names:
            numbered.append(f"{var.name}.{len(numbered)}")
        if numbered:
            return numbered
        if var.name in table.names:
            return [var.name]
        missing = f"{var.name}.0"
    else:
        raise msg.table_rank(decl_loc(model, var), var.name, var.shape, table.source)
    raise msg.column_missing(decl_loc(model, var), missing, var.name, table.source, header)


def _from_table(table: _Table, model: CheckedModel, wanted: list[DataVar]) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    index = {name: i for i, name in enumerate(table.header)}
    for var in wanted:
        names = _columns_for(var, table, model)
        if table.cells is None:
            cols = [_typed_column(table, name, var, model) for name in names]
        else:
            cols = [_csv_column(table, name, index[name], var) for name in names]
        arrays[var.name] = np.stack(cols, axis=1) if len(var.shape) == 2 else cols[0]
    return arrays


# ---------------------------------------------------------------- NPZ and mappings of arrays


def _load_npz(p: Path, spath: str, model: CheckedModel, wanted: list[DataVar]) -> dict[str, np.ndarray]:
    import zipfile

    if not zipfile.is_zipfile(p):
        raise msg.npz_not_zip(spath)
    try:
        npz = np.load(p, allow_pickle=False)
        keys = list(npz.keys())
    except Exception as err:  # numpy raises several types for a corrupt file
        raise msg.npz_unreadable(spath, type(err).__name__) from None
    arrays = {}
    for var in wanted:
        where = decl_loc(model, var)
        if var.name not in keys:
            raise msg.array_missing(where, var.name, spath, keys)
        try:
            arr = npz[var.name]
        except Exception as err:  # object arrays need pickle, which is refused
            raise msg.array_unreadable(where, var.name, spath, err) from None
        if not isinstance(arr, np.ndarray):  # numpy hands back the raw bytes of a member that is not a .npy
            raise msg.array_not_npy(where, var.name, spath)
        arrays[var.name] = _typed_array(arr, var, model, spath)
    return arrays


def _from_mapping(source: Mapping, model: CheckedModel, wanted: list[DataVar]) -> dict[str, np.ndarray]:
    """A mapping of names to array-likes, read as an NPZ file's arrays are: one per variable, of any rank."""
    keys = [str(k) for k in source]
    arrays = {}
    for var in wanted:
        where = decl_loc(model, var)
        if var.name not in source:
            raise msg.array_missing(where, var.name, ARRAYS, keys)
        try:
            arr = _as_array(source[var.name])
        except (ValueError, TypeError) as err:  # ragged nested lists, say
            raise msg.value_not_array(where, var.name, ARRAYS, err) from None
        arrays[var.name] = _typed_array(arr, var, model, ARRAYS)
    return arrays


def _as_array(values: Any) -> np.ndarray:
    """NumPy's view of an array-like. pandas' nullable columns (Int64, Float64, boolean) come out as object
    arrays; they are read as floats with NaN for a missing entry, so the NaN check names its row."""
    arr = values.to_numpy() if hasattr(values, "to_numpy") else np.asarray(values)
    if not isinstance(arr, np.ndarray):
        arr = np.asarray(arr)
    if arr.dtype == object and getattr(getattr(values, "dtype", None), "kind", "O") in "fiub":
        arr = np.asarray(values.to_numpy(dtype=np.float64, na_value=np.nan))
    return arr


def _typed_array(arr: np.ndarray, var: DataVar, model: CheckedModel, source: str) -> np.ndarray:
    """An NPZ member or an in-memory array: numbers, with as many axes as the declaration (for a category,
    its level names or codes)."""
    if var.levels is not None and arr.dtype.kind in "OUS":
        arr = _level_codes(arr, var, model, source, None)
    if arr.dtype.kind not in "fiub":
        raise msg.array_not_numeric(decl_loc(model, var), var.name, source, arr.dtype)
    if arr.ndim != len(var.shape):
        raise msg.array_rank(decl_loc(model, var), var.name, source, arr.shape, var.shape)
    return _check_array(arr.astype(np.float64), var, model, source, column=None)


def _level_codes(arr: np.ndarray, var: DataVar, model: CheckedModel, source: str, column: str | None) -> np.ndarray:
    """A category's names as their codes (the declared order); a name not declared is refused at its element."""
    assert var.levels is not None
    code = {level: i for i, level in enumerate(var.levels)}
    out = np.empty(arr.shape, dtype=np.float64)
    for idx, value in np.ndenumerate(arr):
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        if text not in code:
            raise msg.value_not_a_level(decl_loc(model, var), var.name, column, source, text, list(idx), var.levels)
        out[idx] = code[text]
    return out


def _check_array(arr: np.ndarray, var: DataVar, model: CheckedModel, source: str, column: str | None) -> np.ndarray:
    """Refuse NaN/inf, values 32 bits cannot hold and non-integers in int data, naming the first element
    (`column`: the typed table's column that holds it, None for an array)."""
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        more = int(bad.sum()) - 1
        raise msg.value_not_finite(
            decl_loc(model, var), var.name, column, source, bool(np.isnan(arr[idx])), list(idx), more
        )
    largest, limit = _limit(var.base)
    big = np.abs(arr) > largest
    if big.any():
        idx = tuple(int(i) for i in np.argwhere(big)[0])
        raise msg.value_too_large(decl_loc(model, var), var.name, column, source, arr[idx], list(idx), var.base, limit)
    if var.base == "int":
        frac = arr != np.round(arr)
        if frac.any():
            idx = tuple(int(i) for i in np.argwhere(frac)[0])
            raise msg.value_not_integer(decl_loc(model, var), var.name, column, source, arr[idx], list(idx))
    return arr
