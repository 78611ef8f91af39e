"""Read a data file and check it against the model's data block.

Everything is refused here, before any sampling: missing columns or arrays,
ragged rows, text in numeric columns, NaN/inf, non-integers in int data,
labels out of range, and dimensions that disagree between variables. CSV
problems point at the cell (file:line:col with a caret); NPZ and Parquet
problems point at the model's declaration and name the element.

Conventions: a CSV has a header row; a vector `y: real[N]` reads column `y`; a
matrix `x: real[N, D]` reads columns `x.0 ... x.{D-1}` (or `x` alone when D is
1), or the columns its declaration lists with `from (a, b, c)`.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import BnnError, Location, did_you_mean, source_line, undecodable_byte
from .model import CheckedModel, DataVar, Size, shape_str

MAX_DATA_BYTES = 2 * 1024**3
# Data are stored as float32 and int32 (`_bind_dims`); a value beyond these would turn into inf or wrap around.
MAX_REAL = float(np.finfo(np.float32).max)
MAX_INT = 2**31 - 1


def _too_large_hint(base: str) -> str:
    limit = f"{MAX_INT}" if base == "int" else f"{MAX_REAL:.3g}"
    return f"Rescale the column: bnnlang stores {base} data in 32 bits, so values must lie within +-{limit}."


@dataclass
class BoundData:
    arrays: dict[str, np.ndarray]
    dims: dict[str, int]
    path: str

    def model_kwargs(self, model: CheckedModel, observed: bool = True) -> dict[str, object]:
        """Keyword arguments for the generated model function."""
        kwargs: dict[str, object] = {v.name: self.arrays[v.name] for v in model.inputs}
        for v in model.observed:
            kwargs[v.name] = self.arrays.get(v.name) if observed else None
        for d in model.arg_dims:
            kwargs[d] = self.dims[d]
        return kwargs


class _Table:
    """Column-oriented view of a CSV or Parquet file, remembering where each cell came from."""

    def __init__(self, path: str, columns: dict[str, list[str]] | dict[str, np.ndarray], csv_lines=None):
        self.path = path
        self.columns = columns
        self.csv_lines = csv_lines  # list of (lineno, raw_line, cells) for CSV


def load_data(
    path: str | Path,
    model: CheckedModel,
    require_observed: bool = True,
    training_dims: dict[str, int] | None = None,
) -> BoundData:
    """Load and validate a data file for `model`. `training_dims` pins dims for prediction."""
    p = Path(path)
    spath = str(path)
    if not p.exists():
        raise BnnError(f"Data file '{spath}' does not exist.", Location(spath, 0), hint="Check the path.")
    if p.is_dir():
        raise BnnError(
            f"'{spath}' is a folder, not a data file.", Location(spath, 0), hint="Give a .csv, .npz or .parquet file."
        )
    if p.stat().st_size == 0:
        raise BnnError(
            f"Data file '{spath}' is empty.", Location(spath, 0), hint="A CSV needs a header row and data rows."
        )
    if p.stat().st_size > MAX_DATA_BYTES:
        raise BnnError(f"Data file '{spath}' is larger than 2 GiB.", Location(spath, 0), hint="Use an NPZ file.")
    suffix = p.suffix.lower()
    wanted = [v for v in model.data.values() if require_observed or not v.observed]
    if suffix == ".npz":
        arrays = _load_npz(p, model, wanted)
    elif suffix in (".parquet", ".pq"):
        arrays = _from_table(_read_parquet(p), model, wanted)
    elif suffix in (".csv", ".txt", ""):
        arrays = _from_table(_read_csv(p), model, wanted)
    else:
        raise BnnError(
            f"Unknown data format '{suffix}'.", Location(spath, 0), hint="Give a .csv, .npz or .parquet file."
        )
    dims = _bind_dims(arrays, model, wanted, spath, training_dims)
    _check_bounds(arrays, model, wanted, dims, spath)
    if training_dims is None:
        _check_gp_sizes(model, dims)
    return BoundData(arrays, dims, spath)


def _check_gp_sizes(model: CheckedModel, dims: dict[str, int]) -> None:
    """An exact GP factors a rows x rows matrix every step; a sparse one needs fewer inducing points than rows."""
    from .distributions import MAX_EXACT_GP_ROWS

    for g in model.gps.values():
        rows = eval_size(g.rows, dims)
        if rows is None:
            continue
        where = _span_loc(model, g.node.span)
        if g.mode != "sparse" and rows > MAX_EXACT_GP_ROWS:
            raise BnnError(
                f"GP '{g.name}' is exact over {rows} rows: every step factors a {rows} x {rows} matrix, "
                f"too slow and too large above {MAX_EXACT_GP_ROWS} rows.",
                where,
                hint="Use a sparse GP, `GP(mean, kernel, inducing = 64)`, under `infer svi(...)` for minibatches.",
            )
        if g.mode == "sparse" and g.inducing > rows:
            raise BnnError(
                f"GP '{g.name}' asks for {g.inducing} inducing points but the data has {rows} rows.",
                where,
                hint=f"Use inducing = {max(1, min(rows // 2, 64))} or fewer.",
            )


def _decl_loc(model: CheckedModel, var: DataVar) -> Location:
    return _span_loc(model, var.decl.span)


def _span_loc(model: CheckedModel, span) -> Location:
    src = model.program.source
    end = span.end_column if span.end_line == span.line else None
    return Location(model.program.path, span.line, span.column, end, source_line(src, span.line))


# ---------------------------------------------------------------- CSV


def _read_csv(p: Path) -> _Table:
    spath = str(p)
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise BnnError(
            f"The data file is not UTF-8 text (byte 0x{raw[err.start]:02x}).",
            undecodable_byte(spath, raw, err),
            hint="Save it as UTF-8 CSV, or use NPZ for binary data.",
        ) from None
    if "\x00" in text:
        pos = text.index("\x00")
        line = text[:pos].count("\n") + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        raise BnnError(
            "The data file contains NUL bytes; it is not a CSV.",
            Location(spath, line, col, None, text.split("\n")[line - 1]),
            hint="Give a CSV, NPZ or Parquet file.",
        )
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
        raise BnnError(
            f"The CSV file could not be read at line {line}: {err}.",
            Location(spath, line, 1, None, lines[line - 1] if line <= len(lines) else ""),
            hint="Check the quoting and the cells of this row; very long cells are refused.",
        ) from None
    if not rows or not any(c.strip() for c in rows[0]):
        raise BnnError(
            "The CSV file has no header row.",
            Location(spath, 1, 1, None, lines[0] if lines else ""),
            hint="The first row names the columns, e.g. `x,y`.",
        )
    header = [h.strip() for h in rows[0]]
    seen: dict[str, int] = {}
    for i, h in enumerate(header):
        if h in seen:
            raise BnnError(
                f"Column '{h}' appears twice in the header.",
                Location(spath, 1, _cell_col(lines[0], i), None, lines[0]),
                hint="Rename one of the columns.",
            )
        seen[h] = i
    columns: dict[str, list[str]] = {h: [] for h in header}
    cells = []
    for lineno, row in zip(starts[1:], rows[1:]):
        if not row or all(not c.strip() for c in row):
            continue
        raw_line = lines[lineno - 1] if lineno - 1 < len(lines) else ""
        if len(row) != len(header):
            raise BnnError(
                f"Row has {len(row)} cells but the header has {len(header)} columns.",
                Location(spath, lineno, 1, len(raw_line) + 1, raw_line),
                hint="Every row needs one value per header column.",
            )
        for h, c in zip(header, row):
            columns[h].append(c.strip())
        cells.append((lineno, raw_line))
    if not cells:
        raise BnnError(
            "The CSV file has a header but no data rows.",
            Location(spath, 1, 1, None, lines[0]),
            hint="Add data rows below the header.",
        )
    return _Table(spath, columns, cells)


def _cell_col(raw_line: str, index: int) -> int:
    col = 1
    for i, part in enumerate(raw_line.split(",")):
        if i == index:
            return col + (len(part) - len(part.lstrip()))
        col += len(part) + 1
    return 1


def _read_parquet(p: Path) -> _Table:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise BnnError(
            "Reading Parquet needs pyarrow, which is not installed.",
            Location(str(p), 0),
            hint="pip install pyarrow, or give the data as CSV or NPZ.",
        ) from None
    try:
        table = pq.read_table(p)
    except Exception as err:  # pyarrow raises many types for a bad file
        raise BnnError(f"Could not read Parquet file: {err}.", Location(str(p), 0), hint="Check the file.") from None
    cols = {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
    return _Table(str(p), cols, None)


def _columns_for(var: DataVar, table: _Table, model: CheckedModel) -> list[str]:
    header = list(table.columns)
    if len(var.shape) == 1:
        if var.name in table.columns:
            return [var.name]
        missing = var.name
    elif len(var.shape) == 2:
        if var.decl.columns is not None:
            names = [c.id for c in var.decl.columns]
            for c in names:
                if c not in table.columns:
                    guess = did_you_mean(c, header)
                    raise BnnError(
                        f"Column '{c}' of '{var.name}' is not in {table.path}.",
                        _decl_loc(model, var),
                        hint=(guess + " " if guess else "") + f"The file has columns: {', '.join(header)}.",
                    )
            return names
        numbered = []
        while f"{var.name}.{len(numbered)}" in table.columns:
            numbered.append(f"{var.name}.{len(numbered)}")
        if numbered:
            return numbered
        if var.name in table.columns:
            return [var.name]
        missing = f"{var.name}.0"
    else:
        raise BnnError(
            f"'{var.name}' has shape {shape_str(var.shape)}; a CSV or Parquet file holds vectors and matrices only.",
            _decl_loc(model, var),
            hint="Give this variable in an NPZ file.",
        )
    guess = did_you_mean(var.name, header)
    raise BnnError(
        f"Column '{missing}' for '{var.name}' is not in {table.path}.",
        _decl_loc(model, var),
        hint=(guess + " " if guess else "") + f"The file has columns: {', '.join(header) or 'none'}.",
    )


def _from_table(table: _Table, model: CheckedModel, wanted: list[DataVar]) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    header = list(table.columns)
    for var in wanted:
        names = _columns_for(var, table, model)
        cols = [_convert_column(table, name, header.index(name), var, model) for name in names]
        arr = np.stack(cols, axis=1) if len(var.shape) == 2 else cols[0]
        arrays[var.name] = arr
    return arrays


_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _convert_column(table: _Table, name: str, index: int, var: DataVar, model: CheckedModel) -> np.ndarray:
    values = table.columns[name]
    is_int = var.base == "int"
    if table.csv_lines is None:  # parquet: already typed
        arr = np.asarray(values)
        if arr.dtype.kind not in "fiub":
            raise BnnError(
                f"Column '{name}' of {table.path} is not numeric (type {arr.dtype}).",
                _decl_loc(model, var),
                hint="Store numbers in numeric columns.",
            )
        return _check_array(arr.astype(np.float64), var, model, table.path, label=f"column '{name}'")
    out = np.empty(len(values), dtype=np.float64)
    for i, cell in enumerate(values):
        lineno, raw_line = table.csv_lines[i]
        col = _cell_col(raw_line, index)
        loc = Location(table.path, lineno, col, col + max(len(cell), 1), raw_line)
        if cell == "":
            raise BnnError(
                f"Missing value in column '{name}'.", loc, hint="Fill it in or drop the row; bnnlang does not impute."
            )
        if not _NUMBER.fullmatch(cell):
            low = cell.lower().lstrip("+-")
            if low in ("nan", "inf", "infinity", "na", "null", "none"):
                raise BnnError(
                    f"Column '{name}' holds '{cell}', which is not a finite number.",
                    loc,
                    hint="Remove or fix rows with missing or infinite values before fitting.",
                )
            raise BnnError(
                f"Column '{name}' holds '{cell}', which is not a number.",
                loc,
                hint=f"'{var.name}' is declared {var.base}; every cell must be a number.",
            )
        value = float(cell)
        if not np.isfinite(value) or abs(value) > (MAX_INT if is_int else MAX_REAL):
            raise BnnError(f"Value '{cell}' in column '{name}' is too large.", loc, hint=_too_large_hint(var.base))
        if is_int and value != int(value):
            raise BnnError(
                f"Column '{name}' holds {cell}, but '{var.name}' is declared int.",
                loc,
                hint="Use whole numbers, or declare the variable real.",
            )
        out[i] = value
    return out


# ---------------------------------------------------------------- NPZ


def _load_npz(p: Path, model: CheckedModel, wanted: list[DataVar]) -> dict[str, np.ndarray]:
    spath = str(p)
    import zipfile

    if not zipfile.is_zipfile(p):
        raise BnnError(
            f"'{spath}' is not an NPZ file (an NPZ is a zip archive of .npy arrays).",
            Location(spath, 0),
            hint="Save data with numpy.savez(path, x=..., y=...), or give a CSV.",
        )
    try:
        npz = np.load(p, allow_pickle=False)
        keys = list(npz.keys())
    except Exception as err:  # numpy raises several types for a corrupt file
        raise BnnError(
            f"Could not read NPZ file ({type(err).__name__}).",
            Location(spath, 0),
            hint="Save data with numpy.savez(path, x=..., y=...).",
        ) from None
    arrays = {}
    for var in wanted:
        if var.name not in keys:
            guess = did_you_mean(var.name, keys)
            raise BnnError(
                f"Array '{var.name}' is not in {spath}.",
                _decl_loc(model, var),
                hint=(guess + " " if guess else "") + f"The file has arrays: {', '.join(keys) or 'none'}.",
            )
        try:
            arr = npz[var.name]
        except Exception as err:  # object arrays need pickle, which is refused
            raise BnnError(
                f"Array '{var.name}' in {spath} could not be read: {err}.",
                _decl_loc(model, var),
                hint="Store plain numeric arrays; pickled objects are refused.",
            ) from None
        if not isinstance(arr, np.ndarray):  # numpy hands back the raw bytes of a member that is not a .npy
            raise BnnError(
                f"Array '{var.name}' in {spath} is not a .npy array.",
                _decl_loc(model, var),
                hint="Save data with numpy.savez(path, x=..., y=...).",
            )
        if arr.dtype.kind not in "fiub":
            raise BnnError(
                f"Array '{var.name}' in {spath} has type {arr.dtype}, not numbers.",
                _decl_loc(model, var),
                hint="Store numeric arrays.",
            )
        if arr.ndim != len(var.shape):
            raise BnnError(
                f"Array '{var.name}' in {spath} has {arr.ndim} axes (shape {list(arr.shape)}); "
                f"the model declares {shape_str(var.shape)}.",
                _decl_loc(model, var),
                hint="Reshape the array, e.g. x.reshape(-1, 1) for one feature.",
            )
        arrays[var.name] = _check_array(arr.astype(np.float64), var, model, spath, label=f"'{var.name}'")
    return arrays


def _check_array(arr: np.ndarray, var: DataVar, model: CheckedModel, path: str, label: str) -> np.ndarray:
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        what = "NaN" if np.isnan(arr[idx]) else "infinite"
        raise BnnError(
            f"{label} in {path} is {what} at index {list(idx)} (and {int(bad.sum()) - 1} more).",
            _decl_loc(model, var),
            hint="Remove or fix rows with missing or infinite values before fitting.",
        )
    big = np.abs(arr) > (MAX_INT if var.base == "int" else MAX_REAL)
    if big.any():
        idx = tuple(int(i) for i in np.argwhere(big)[0])
        raise BnnError(
            f"{label} in {path} holds {arr[idx]:g} at index {list(idx)}, which is too large.",
            _decl_loc(model, var),
            hint=_too_large_hint(var.base),
        )
    if var.base == "int":
        frac = arr != np.round(arr)
        if frac.any():
            idx = tuple(int(i) for i in np.argwhere(frac)[0])
            raise BnnError(
                f"{label} in {path} holds {arr[idx]} at index {list(idx)}, but '{var.name}' is declared int.",
                _decl_loc(model, var),
                hint="Use whole numbers, or declare the variable real.",
            )
    return arr


# ---------------------------------------------------------------- dimensions and ranges


def _bind_dims(
    arrays: dict[str, np.ndarray],
    model: CheckedModel,
    wanted: list[DataVar],
    path: str,
    training_dims: dict[str, int] | None,
) -> dict[str, int]:
    dims: dict[str, int] = dict(model.consts)
    origin: dict[str, str] = {k: "the data block" for k in model.consts}
    pinned = {k: v for k, v in (training_dims or {}).items() if k not in _row_dims(model)}
    for k, v in pinned.items():
        dims.setdefault(k, v)
        origin.setdefault(k, "the training data")
    for var in wanted:
        arr = arrays[var.name]
        for axis, size in enumerate(var.shape):
            actual = arr.shape[axis]
            if isinstance(size, int):
                if actual != size:
                    raise BnnError(
                        f"'{var.name}' has {actual} entries on axis {axis}, but the model declares {size}.",
                        _decl_loc(model, var),
                        hint=f"The data in {path} must match the declaration.",
                    )
                continue
            if re.fullmatch(r"[A-Za-z_]\w*", size):
                if size in dims and dims[size] != actual:
                    raise BnnError(
                        f"'{var.name}' has {actual} entries on axis {axis}, but {size} = {dims[size]} "
                        f"(from {origin[size]}).",
                        _decl_loc(model, var),
                        hint=f"Every variable with dimension {size} must have the same size there (in {path}).",
                    )
                dims[size] = actual
                origin[size] = f"'{var.name}'"
        if arr.shape[0] == 0 if arr.ndim else False:
            raise BnnError(
                f"'{var.name}' in {path} has no rows.", _decl_loc(model, var), hint="Give at least one data row."
            )
    # shapes with offsets (e.g. K-1) are checked once every name is bound
    for var in wanted:
        for axis, size in enumerate(var.shape):
            if isinstance(size, str) and not re.fullmatch(r"[A-Za-z_]\w*", size):
                want = eval_size(size, dims)
                if want is not None and arrays[var.name].shape[axis] != want:
                    raise BnnError(
                        f"'{var.name}' has {arrays[var.name].shape[axis]} entries on axis {axis}; {size} = {want}.",
                        _decl_loc(model, var),
                        hint=f"The data in {path} must match the declaration.",
                    )
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
    if isinstance(size, int):
        return size
    m = re.fullmatch(r"([A-Za-z_]\w*)([+-]\d+)?", size)
    if not m or m.group(1) not in dims:
        return None
    return dims[m.group(1)] + int(m.group(2) or 0)


def _check_bounds(
    arrays: dict[str, np.ndarray], model: CheckedModel, wanted: list[DataVar], dims: dict[str, int], path: str
) -> None:
    for var in wanted:
        arr = arrays[var.name]
        lo_hi = [(lo, hi, text) for name, lo, hi, text in _support_ranges(model) if name == var.name]
        if var.bound is not None:
            lo, hi = (eval_size(s, dims) for s in var.bound)
            if lo is None or hi is None:
                raise BnnError(
                    f"The range {var.bound[0]}..{var.bound[1]} of '{var.name}' uses a dimension the data do not give.",
                    _decl_loc(model, var),
                    hint="Bind it in the data block, e.g. `K = 3`.",
                )
            lo_hi.append((lo, hi, f"{var.bound[0]}..{var.bound[1]}"))
        for lo, hi, text in lo_hi:
            bad = (arr < lo) | (arr > hi)
            if bad.any():
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                raise BnnError(
                    f"'{var.name}' in {path} holds {arr[idx]} at row {idx[0]}, outside its range {text} "
                    f"(= {lo}..{hi}).",
                    _decl_loc(model, var),
                    hint="Labels are numbered from 0; check the data or the declared range.",
                )


def _support_ranges(model: CheckedModel) -> list[tuple[str, float, float, str]]:
    """Ranges the likelihood itself imposes on observed data."""
    out = []
    for obs in model.observes:
        if obs.dist.func == "Bernoulli":
            out.append((obs.name, 0, 1, "0..1 (Bernoulli data)"))
        elif obs.dist.func == "Poisson":
            out.append((obs.name, 0, np.inf, "0 or more (Poisson counts)"))
    return out
