"""The data stage's catalogue: the wording of every error of loading data and checking it against the model.

Modelled on stanc3's `Semantic_error`, as `check/messages.py` is: one constructor per message, named for the
problem, taking where it is and the values it needs, returning a `BnnError` to raise. The readers
(`data_files.py`) and the binding of dimensions (`data.py`) compute locations and values only.

`source` names where the data came from in a message: a file's path, or `ARRAYS` / `FRAME` for data handed
over in memory (a mapping of arrays, a DataFrame).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import BnnError, Location, UsageError, suggest
from .model import Shape, Size, shape_str

ARRAYS = "<arrays>"
FRAME = "<DataFrame>"
# What bound a dimension first, as `dim_disagrees` names it (else the variable, `from_variable`).
FROM_DATA_BLOCK = "the data block"
FROM_TRAINING = "the training data"

_FORMATS = "Give a .csv, .npz or .parquet file."
_FIX_ROWS = "Remove or fix rows with missing or infinite values before fitting."
_WHOLE = "Use whole numbers, or declare the variable real."
_SAVEZ = "Save data with numpy.savez(path, x=..., y=...)."


def _file(path: str) -> Location:
    """A whole data file: the message has no line to frame."""
    return Location(path, 0)


def _listing(source: str, what: str, names: Sequence[str]) -> str:
    """The sentence that lists what a source holds, for a name that is not among them."""
    holder = {ARRAYS: "The mapping", FRAME: "The DataFrame"}.get(source, "The file")
    return f"{holder} has {what}: {', '.join(names) or 'none'}."


# ---------------------------------------------------------------- the source itself


def unsupported_source(got: object) -> BnnError:
    return UsageError(
        "Data must be a path (str or pathlib.Path), a mapping of variable names to arrays, or a pandas DataFrame; "
        f"got {type(got).__name__}.",
        "Pass e.g. {'x': x, 'y': y} with NumPy arrays, a DataFrame, or the path of a CSV, NPZ or Parquet file.",
    )


def empty_source(source: str) -> BnnError:
    what = "mapping of arrays" if source == ARRAYS else "DataFrame"
    return UsageError(
        f"The {what} given as data ({source}) holds no variables.",
        "Give one entry per variable of the model's data block.",
    )


def frame_no_rows(source: str) -> BnnError:
    return UsageError(f"The DataFrame given as data ({source}) has no rows.", "Give at least one data row.")


def frame_duplicate_column(source: str, name: str) -> BnnError:
    return UsageError(f"Column '{name}' appears twice in {source}.", "Rename one of the columns.")


def file_missing(path: str) -> BnnError:
    return BnnError(f"Data file '{path}' does not exist.", _file(path), hint="Check the path.")


def file_is_folder(path: str) -> BnnError:
    return BnnError(f"'{path}' is a folder, not a data file.", _file(path), hint=_FORMATS)


def file_empty(path: str) -> BnnError:
    return BnnError(f"Data file '{path}' is empty.", _file(path), hint="A CSV needs a header row and data rows.")


def file_too_large(path: str, gib: int) -> BnnError:
    return BnnError(f"Data file '{path}' is larger than {gib} GiB.", _file(path), hint="Use an NPZ file.")


def unknown_format(path: str, suffix: str) -> BnnError:
    return BnnError(f"Unknown data format '{suffix}'.", _file(path), hint=_FORMATS)


# ---------------------------------------------------------------- CSV


def csv_not_utf8(where: Location, byte: int) -> BnnError:
    return BnnError(
        f"The data file is not UTF-8 text (byte 0x{byte:02x}).",
        where,
        hint="Save it as UTF-8 CSV, or use NPZ for binary data.",
    )


def csv_nul_bytes(where: Location) -> BnnError:
    return BnnError(
        "The data file contains NUL bytes; it is not a CSV.", where, hint="Give a CSV, NPZ or Parquet file."
    )


def csv_unreadable(where: Location, reason: object) -> BnnError:
    """`reason`: what the csv module said (a cell over its field size limit, say)."""
    return BnnError(
        f"The CSV file could not be read at line {where.line}: {reason}.",
        where,
        hint="Check the quoting and the cells of this row; very long cells are refused.",
    )


def csv_no_header(where: Location) -> BnnError:
    return BnnError("The CSV file has no header row.", where, hint="The first row names the columns, e.g. `x,y`.")


def csv_duplicate_column(where: Location, name: str) -> BnnError:
    return BnnError(f"Column '{name}' appears twice in the header.", where, hint="Rename one of the columns.")


def csv_ragged_row(where: Location, cells: int, columns: int) -> BnnError:
    return BnnError(
        f"Row has {cells} cells but the header has {columns} columns.",
        where,
        hint="Every row needs one value per header column.",
    )


def csv_no_rows(where: Location) -> BnnError:
    return BnnError("The CSV file has a header but no data rows.", where, hint="Add data rows below the header.")


def cell_missing(where: Location, column: str) -> BnnError:
    return BnnError(
        f"Missing value in column '{column}'.", where, hint="Fill it in or drop the row; bnnlang does not impute."
    )


def cell_not_finite(where: Location, column: str, cell: str) -> BnnError:
    return BnnError(f"Column '{column}' holds '{cell}', which is not a finite number.", where, hint=_FIX_ROWS)


def cell_not_a_number(where: Location, column: str, cell: str, var: str, base: str) -> BnnError:
    return BnnError(
        f"Column '{column}' holds '{cell}', which is not a number.",
        where,
        hint=f"'{var}' is declared {base}; every cell must be a number.",
    )


def cell_not_a_level(where: Location, column: str, cell: str, var: str, levels: tuple[str, ...]) -> BnnError:
    return BnnError(
        f"Column '{column}' holds '{cell}', which is not one of the levels of '{var}'.",
        where,
        hint=suggest(cell, levels, otherwise=f"Levels: {', '.join(levels)}; add it to the declaration if it is new."),
    )


def value_not_a_level(
    where: Location, var: str, column: str | None, source: str, value: str, index: list[int], levels: tuple[str, ...]
) -> BnnError:
    inside = f"column '{column}' of {source}" if column else f"'{var}' in {source}"
    return BnnError(
        f"{inside} holds '{value}' at {index}, which is not one of the levels of '{var}'.",
        where,
        hint=suggest(value, levels, otherwise=f"Levels: {', '.join(levels)}; add it to the declaration if it is new."),
    )


def cell_too_large(where: Location, column: str, cell: str, base: str, limit: str) -> BnnError:
    """`limit`: the largest magnitude 32-bit storage of `base` data holds, as the hint prints it."""
    return BnnError(f"Value '{cell}' in column '{column}' is too large.", where, hint=_too_large_hint(base, limit))


def cell_not_integer(where: Location, column: str, cell: str, var: str) -> BnnError:
    return BnnError(f"Column '{column}' holds {cell}, but '{var}' is declared int.", where, hint=_WHOLE)


def _too_large_hint(base: str, limit: str) -> str:
    return f"Rescale the column: bnnlang stores {base} data in 32 bits, so values must lie within +-{limit}."


# ---------------------------------------------------------------- Parquet and tables


def parquet_needs_pyarrow(path: str) -> BnnError:
    return BnnError(
        "Reading Parquet needs pyarrow, which is not installed.",
        _file(path),
        hint="pip install pyarrow, or give the data as CSV or NPZ.",
    )


def parquet_unreadable(path: str, reason: object) -> BnnError:
    return BnnError(f"Could not read Parquet file: {reason}.", _file(path), hint="Check the file.")


def named_column_missing(where: Location, column: str, var: str, source: str, header: Sequence[str]) -> BnnError:
    """A column that a matrix's `from (a, b)` names."""
    return BnnError(
        f"Column '{column}' of '{var}' is not in {source}.",
        where,
        hint=suggest(column, header, then=_listing(source, "columns", header)),
    )


def column_missing(where: Location, column: str, var: str, source: str, header: Sequence[str]) -> BnnError:
    return BnnError(
        f"Column '{column}' for '{var}' is not in {source}.",
        where,
        hint=suggest(var, header, then=_listing(source, "columns", header)),
    )


def table_rank(where: Location, var: str, shape: Shape, source: str) -> BnnError:
    if source == FRAME:
        holder, instead = "a DataFrame", "Give this variable in a mapping of arrays, e.g. {'x': x, ...}."
    else:
        holder, instead = "a CSV or Parquet file", "Give this variable in an NPZ file."
    return BnnError(
        f"'{var}' has shape {shape_str(shape)}; {holder} holds vectors and matrices only.", where, hint=instead
    )


def column_not_numeric(where: Location, column: str, source: str, dtype: object) -> BnnError:
    return BnnError(
        f"Column '{column}' of {source} is not numeric (type {dtype}).", where, hint="Store numbers in numeric columns."
    )


# ---------------------------------------------------------------- NPZ and mappings of arrays


def npz_not_zip(path: str) -> BnnError:
    return BnnError(
        f"'{path}' is not an NPZ file (an NPZ is a zip archive of .npy arrays).",
        _file(path),
        hint="Save data with numpy.savez(path, x=..., y=...), or give a CSV.",
    )


def npz_unreadable(path: str, error_type: str) -> BnnError:
    return BnnError(f"Could not read NPZ file ({error_type}).", _file(path), hint=_SAVEZ)


def array_missing(where: Location, var: str, source: str, keys: Sequence[str]) -> BnnError:
    what = "keys" if source == ARRAYS else "arrays"
    return BnnError(
        f"Array '{var}' is not in {source}.", where, hint=suggest(var, keys, then=_listing(source, what, keys))
    )


def array_unreadable(where: Location, var: str, source: str, reason: object) -> BnnError:
    """An NPZ member numpy would not load (object arrays need pickle, which is refused)."""
    return BnnError(
        f"Array '{var}' in {source} could not be read: {reason}.",
        where,
        hint="Store plain numeric arrays; pickled objects are refused.",
    )


def array_not_npy(where: Location, var: str, source: str) -> BnnError:
    return BnnError(f"Array '{var}' in {source} is not a .npy array.", where, hint=_SAVEZ)


def value_not_array(where: Location, var: str, source: str, reason: object) -> BnnError:
    """An in-memory value NumPy cannot turn into one array (ragged nested lists, say)."""
    return BnnError(
        f"'{var}' in {source} could not be made into an array: {reason}.",
        where,
        hint="Give a NumPy array, a pandas Series or a list of numbers with the same length on every axis.",
    )


def array_not_numeric(where: Location, var: str, source: str, dtype: object) -> BnnError:
    kind = getattr(dtype, "kind", "")
    hint = (
        f"Object arrays are refused; convert it first, e.g. np.asarray({var}, dtype=float)."
        if kind == "O"
        else "Store numeric arrays."
    )
    return BnnError(f"Array '{var}' in {source} has type {dtype}, not numbers.", where, hint=hint)


def array_rank(where: Location, var: str, source: str, shape: Sequence[int], declared: Shape) -> BnnError:
    return BnnError(
        f"Array '{var}' in {source} has {len(shape)} axes (shape {list(shape)}); "
        f"the model declares {shape_str(declared)}.",
        where,
        hint=_rank_hint(var, shape, declared),
    )


def _rank_hint(var: str, shape: Sequence[int], declared: Shape) -> str:
    """The reshape that fits, where one more or one fewer trailing axis of 1 is all that differs."""
    if len(declared) == len(shape) + 1 and declared[-1] == 1:
        return f"Add the missing axis of one feature (one channel): {var}.reshape({var}.shape + (1,))."
    if len(shape) == len(declared) + 1 and shape[-1] == 1:
        return f"Drop the last axis of length 1: {var}[..., 0]; or declare the array as it is."
    return "Declare the array with the axes it has, or reshape it to the declared axes."


def _label(var: str, column: str | None) -> str:
    """An array by its variable (`'x'`), or a typed table's column (`column 'x.0'`)."""
    return f"column '{column}'" if column is not None else f"'{var}'"


def value_not_finite(
    where: Location, var: str, column: str | None, source: str, nan: bool, index: list[int], more: int
) -> BnnError:
    what = "NaN" if nan else "infinite"
    return BnnError(
        f"{_label(var, column)} in {source} is {what} at index {index} (and {more} more).", where, hint=_FIX_ROWS
    )


def value_too_large(
    where: Location, var: str, column: str | None, source: str, value: float, index: list[int], base: str, limit: str
) -> BnnError:
    return BnnError(
        f"{_label(var, column)} in {source} holds {value:g} at index {index}, which is too large.",
        where,
        hint=_too_large_hint(base, limit),
    )


def value_not_integer(
    where: Location, var: str, column: str | None, source: str, value: object, index: list[int]
) -> BnnError:
    return BnnError(
        f"{_label(var, column)} in {source} holds {value} at index {index}, but '{var}' is declared int.",
        where,
        hint=_WHOLE,
    )


# ---------------------------------------------------------------- dimensions and ranges


def size_mismatch(where: Location, var: str, actual: int, axis: int, size: int, source: str) -> BnnError:
    """An axis declared with a whole number."""
    return BnnError(
        f"'{var}' has {actual} entries on axis {axis}, but the model declares {size}.",
        where,
        hint=f"The data in {source} must match the declaration.",
    )


def from_variable(var: str) -> str:
    """A dimension bound by a variable's data, as `dim_disagrees` names its origin."""
    return f"'{var}'"


def dim_disagrees(
    where: Location, var: str, actual: int, axis: int, dim: str, bound: int, origin: str, source: str
) -> BnnError:
    """`origin`: what bound `dim` first (the data block, the training data, or another variable)."""
    return BnnError(
        f"'{var}' has {actual} entries on axis {axis}, but {dim} = {bound} (from {origin}).",
        where,
        hint=f"Every variable with dimension {dim} must have the same size there (in {source}).",
    )


def offset_size_mismatch(
    where: Location, var: str, actual: int, axis: int, size: Size, want: int, source: str
) -> BnnError:
    """An axis declared with an offset (`K-1`), checked once every name is bound."""
    return BnnError(
        f"'{var}' has {actual} entries on axis {axis}; {size} = {want}.",
        where,
        hint=f"The data in {source} must match the declaration.",
    )


def no_rows(where: Location, var: str, source: str) -> BnnError:
    return BnnError(f"'{var}' in {source} has no rows.", where, hint="Give at least one data row.")


def range_unbound(where: Location, var: str, bound: tuple[Size, Size]) -> BnnError:
    return BnnError(
        f"The range {bound[0]}..{bound[1]} of '{var}' uses a dimension the data do not give.",
        where,
        hint="Bind it in the data block, e.g. `K = 3`.",
    )


def declared_range(bound: tuple[Size, Size]) -> str:
    return f"{bound[0]}..{bound[1]}"


def likelihood_range(distribution: str) -> str:
    """The range a likelihood imposes on its data (Bernoulli labels, Poisson counts), as `out_of_range` names it."""
    return {"Bernoulli": "0..1 (Bernoulli data)", "Poisson": "0 or more (Poisson counts)"}[distribution]


def out_of_range(
    where: Location,
    var: str,
    source: str,
    value: object,
    index: list[int],
    text: str,
    low: float,
    high: float,
    observed: bool = True,
) -> BnnError:
    """`text`: the range as declared (`0..K-1`) or as the likelihood imposes it; `index`: the element's, rows
    first; `observed`: labels, else ids or codes a network or an index reads."""
    value = int(value) if float(value).is_integer() else value
    at = f"row {index[0]}" if len(index) == 1 else f"row {index[0]}, element {index[1:]}"
    numbers = f"{int(low)}..{int(high)}" if float(low).is_integer() and float(high).is_integer() else f"{low}..{high}"
    shown = text if text.startswith(numbers) else f"{text} (= {numbers})"
    hint = (
        "Labels are numbered from 0; check the data or the declared range."
        if observed
        else "Ids and codes must lie in the declared range: widen it (and the embedding) or check the data."
    )
    return BnnError(f"'{var}' in {source} holds {value} at {at}, outside its range {shown}.", where, hint=hint)


# ---------------------------------------------------------------- GP sizes


def gp_exact_too_many_rows(where: Location, name: str, rows: int, limit: int) -> BnnError:
    return BnnError(
        f"GP '{name}' is exact over {rows} rows: every step factors a {rows} x {rows} matrix, "
        f"too slow and too large above {limit} rows.",
        where,
        hint="Use a sparse GP, `GP(mean, kernel, inducing = 64)`, under `infer svi(...)` for minibatches.",
    )


def gp_too_many_inducing(where: Location, name: str, inducing: int, rows: int) -> BnnError:
    return BnnError(
        f"GP '{name}' asks for {inducing} inducing points but the data has {rows} rows.",
        where,
        hint=f"Use inducing = {max(1, min(rows // 2, 64))} or fewer.",
    )
