"""Data handed over in memory (a mapping of arrays, a pandas DataFrame) is bound exactly as the same data in a
file, and refused for the same problems, located at the model's declaration and naming `<arrays>` or
`<DataFrame>` where a file's messages name its path."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest

from bnnlang.check.checker import check
from bnnlang.check.data import BoundData, load_data
from bnnlang.errors import BnnError, UsageError
from bnnlang.syntax.parser import parse

pd = pytest.importorskip("pandas")

CLASSES = """\
data {
  K = 3
  x: real[N, D]
  y: int[N] in 0..K-1
}

network mlp(x) -> real[N, K] {
  dense(4, tanh)
  dense(K)
}

observe y ~ Categorical(logits = mlp(x))
"""
X_LINE, Y_LINE = 3, 4

NAMED = """\
data {
  x: real[N, 2] from (a, b)
  t: real[N, 1]
  y: real[N]
}

param s ~ HalfNormal(1)

observe y ~ Normal(x[:, 0] + t[:, 0], s)
"""

CUBE = """\
data {
  w: real[N, 2, 2]
  y: real[N]
}

param s ~ HalfNormal(1)

observe y ~ Normal(w[:, 0, 0], s)
"""

X = np.array([[0.5, -1.25], [2.0, 0.125], [-3.5, 4.0], [1.0, 0.0]])
Y = np.array([0, 2, 1, 2])


def model(source: str):
    return check(parse(source, "m.bnn"))


@pytest.fixture(scope="module")
def classes():
    return model(CLASSES)


def frame(x: np.ndarray = X, y=Y) -> pd.DataFrame:
    return pd.DataFrame({**{f"x.{j}": x[:, j] for j in range(x.shape[1])}, "y": y})


def write_csv(path: Path, df: pd.DataFrame) -> Path:
    lines = [",".join(df.columns)] + [",".join(repr(v) for v in row) for row in df.itertuples(index=False)]
    path.write_text("\n".join(lines) + "\n")
    return path


def refused(source, m, **kwargs) -> BnnError:
    with pytest.raises(BnnError) as info:
        load_data(source, m, **kwargs)
    return info.value


def assert_same(a: BoundData, b: BoundData) -> None:
    assert a.dims == b.dims
    assert sorted(a.arrays) == sorted(b.arrays)
    for name in a.arrays:
        assert a.arrays[name].dtype == b.arrays[name].dtype, name
        np.testing.assert_array_equal(a.arrays[name], b.arrays[name])


# ---------------------------------------------------------------- good data binds as a file's does


def test_mapping_and_dataframe_bind_as_npz_and_csv(classes, tmp_path):
    np.savez(tmp_path / "d.npz", x=X, y=Y)
    from_npz = load_data(tmp_path / "d.npz", classes)
    from_csv = load_data(write_csv(tmp_path / "d.csv", frame()), classes)
    from_dict = load_data({"x": X, "y": Y}, classes)
    from_frame = load_data(frame(), classes)
    assert from_dict.dims == {"K": 3, "N": 4, "D": 2}
    assert from_dict.arrays["y"].dtype == np.int32 and from_dict.arrays["x"].dtype == np.float32
    for other in (from_csv, from_dict, from_frame):
        assert_same(from_npz, other)
    assert (from_dict.path, from_frame.path) == ("<arrays>", "<DataFrame>")
    assert from_npz.path == str(tmp_path / "d.npz")


def test_mapping_takes_lists_series_and_any_mapping(classes):
    want = load_data({"x": X, "y": Y}, classes)
    lists = {"x": X.tolist(), "y": pd.Series(Y), "unused": "ignored"}
    assert_same(want, load_data(lists, classes))
    assert_same(want, load_data(types.MappingProxyType({"x": pd.DataFrame(X), "y": Y.tolist()}), classes))


def test_dataframe_reads_named_and_single_columns(tmp_path):
    m = model(NAMED)
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.5, 0.25, 0.0], "t": [7.0, 8.0, 9.0], "y": [0.1, 0.2, 0.3]})
    bound = load_data(df, m)
    np.testing.assert_array_equal(bound.arrays["x"], np.float32([[1, 0.5], [2, 0.25], [3, 0]]))
    assert bound.arrays["t"].shape == (3, 1)
    assert_same(load_data(write_csv(tmp_path / "n.csv", df), m), bound)


def test_mapping_takes_any_rank_a_declaration_has():
    m = model(CUBE)
    w = np.arange(12.0).reshape(3, 2, 2)
    bound = load_data({"w": w, "y": np.zeros(3)}, m)
    assert bound.dims["N"] == 3 and bound.arrays["w"].shape == (3, 2, 2)


def test_training_dims_pin_non_row_dims_for_prediction(classes, tmp_path):
    training = {"N": 50, "D": 2, "K": 3}
    bound = load_data({"x": X[:3]}, classes, require_observed=False, training_dims=training)
    assert bound.dims["N"] == 3 and bound.dims["D"] == 2 and "y" not in bound.arrays
    wide = np.ones((3, 3))
    for source in ({"x": wide}, pd.DataFrame(wide, columns=["x.0", "x.1", "x.2"])):
        err = refused(source, classes, require_observed=False, training_dims=training)
        assert "D = 2 (from the training data)" in err.message
        assert err.location.line == X_LINE
    np.savez(tmp_path / "w.npz", x=wide)
    from_file = refused(tmp_path / "w.npz", classes, require_observed=False, training_dims=training)
    assert from_file.message == err.message


# ---------------------------------------------------------------- bad data is refused as a file's is

BAD_ARRAYS = {
    "missing": ({"X": X, "y": Y}, X_LINE, "Array 'x' is not in <arrays>", "Did you mean 'X'?"),
    "nan": ({"x": np.where(X == 2.0, np.nan, X), "y": Y}, X_LINE, "'x' in <arrays> is NaN at index [1, 0]", None),
    "inf": ({"x": X, "y": np.array([0, 1, np.inf, 0])}, Y_LINE, "is infinite at index [2]", None),
    "strings": ({"x": X.astype(str), "y": Y}, X_LINE, "Array 'x' in <arrays> has type <U", "numeric"),
    "object": ({"x": X.astype(object), "y": Y}, X_LINE, "has type object, not numbers", "Object arrays"),
    "rank": ({"x": X[:, 0], "y": Y}, X_LINE, "Array 'x' in <arrays> has 1 axes (shape [4])", "reshape"),
    "too_large": ({"x": X * 1e39, "y": Y}, X_LINE, "which is too large", "32 bits"),
    "not_int": ({"x": X, "y": np.array([0, 1.5, 1, 2])}, Y_LINE, "1.5 at index [1], but 'y' is declared int", None),
    "range": ({"x": X, "y": np.array([0, 1, 3, 2])}, Y_LINE, "in <arrays> holds 3 at row 2, outside", None),
    "rows": ({"x": X, "y": Y[:3]}, Y_LINE, "'y' has 3 entries on axis 0, but N = 4 (from 'x')", "(in <arrays>)"),
    "no_rows": ({"x": np.ones((0, 2)), "y": np.zeros(0)}, X_LINE, "'x' in <arrays> has no rows", None),
}


@pytest.mark.parametrize("case", sorted(BAD_ARRAYS))
def test_bad_mapping_is_refused_at_the_declaration_as_npz_is(classes, tmp_path, case):
    data, line, message, hint = BAD_ARRAYS[case]
    err = refused(data, classes)
    assert message in err.message
    assert "<arrays>" in err.format()
    if hint:
        assert hint in err.hint
    assert (err.location.path, err.location.line) == ("m.bnn", line)
    assert err.location.source_line == CLASSES.splitlines()[line - 1]
    if case == "object":
        return  # an NPZ cannot hold object arrays without pickle, which np.load refuses
    path = tmp_path / "d.npz"
    np.savez(path, **data)
    from_file = refused(path, classes)
    assert (from_file.message.replace(str(path), "<arrays>"), from_file.location) == (err.message, err.location)
    assert from_file.hint.replace(str(path), "<arrays>").replace("The file has arrays", "The mapping has keys") == (
        err.hint
    )


def test_missing_array_lists_the_keys(classes):
    err = refused({"X": X, "label": Y}, classes)
    assert err.hint == "Did you mean 'X'? The mapping has keys: X, label."


def test_ragged_lists_are_refused_at_the_declaration(classes):
    err = refused({"x": [[1.0, 2.0], [3.0]], "y": Y}, classes)
    assert "'x' in <arrays> could not be made into an array" in err.message
    assert err.location.line == X_LINE


def test_nullable_pandas_column_reports_the_missing_row(classes):
    y = pd.array([0, 1, None, 2], dtype="Int64")
    for source in ({"x": X, "y": pd.Series(y)}, frame(y=y)):
        err = refused(source, classes)
        assert "is NaN at index [2]" in err.message and err.location.line == Y_LINE


BAD_FRAMES = {
    "missing_matrix_column": (frame().drop(columns="x.0"), X_LINE, "Column 'x.0' for 'x' is not in <DataFrame>"),
    "text": (frame(y=["0", "2", "1", "two"]), Y_LINE, "Column 'y' of <DataFrame> is not numeric (type object)"),
    "not_int": (frame(y=[0, 1.5, 1, 2]), Y_LINE, "column 'y' in <DataFrame> holds 1.5 at index [1]"),
    "nan": (frame(np.where(X == 0.125, np.nan, X)), X_LINE, "column 'x.1' in <DataFrame> is NaN at index [1]"),
    "range": (frame(y=[0, 1, 2, 5]), Y_LINE, "'y' in <DataFrame> holds 5 at row 3, outside its range"),
}


@pytest.mark.parametrize("case", sorted(BAD_FRAMES))
def test_bad_dataframe_is_refused_at_the_declaration(classes, case):
    df, line, message = BAD_FRAMES[case]
    err = refused(df, classes)
    assert message in err.message
    assert (err.location.path, err.location.line) == ("m.bnn", line)


def test_dataframe_missing_a_named_column_suggests_one():
    df = pd.DataFrame({"a": [1.0], "bb": [2.0], "t": [3.0], "y": [0.0]})
    err = refused(df, model(NAMED))
    assert err.message == "Column 'b' of 'x' is not in <DataFrame>."
    assert err.hint == "Did you mean 'bb'? The DataFrame has columns: a, bb, t, y."
    assert err.location.line == 2


def test_dataframe_cannot_hold_a_cube():
    err = refused(pd.DataFrame({"w": [1.0], "y": [0.0]}), model(CUBE))
    assert "a DataFrame holds vectors and matrices only" in err.message and err.location.line == 2


def test_dataframe_is_refused_as_parquet_is(classes, tmp_path):
    pytest.importorskip("pyarrow")
    for df in (v[0] for v in BAD_FRAMES.values()):
        path = tmp_path / "d.parquet"
        df.to_parquet(path, index=False)
        err, from_file = refused(df, classes), refused(path, classes)
        assert from_file.message.replace(str(path), "<DataFrame>") == err.message
        assert from_file.location == err.location


# ---------------------------------------------------------------- what is not data at all


@pytest.mark.parametrize(
    "source, got",
    [([X, Y], "list"), (X, "ndarray"), (42, "int"), (None, "NoneType"), (b"d.csv", "bytes")],
)
def test_unsupported_types_are_a_usage_error(classes, source, got):
    err = refused(source, classes)
    assert isinstance(err, UsageError) and err.location is None
    assert f"got {got}." in err.message and "DataFrame" in err.message and "mapping" in err.message


@pytest.mark.parametrize(
    "source, message",
    [
        ({}, "mapping of arrays given as data (<arrays>) holds no variables"),
        (pd.DataFrame(), "DataFrame given as data (<DataFrame>) holds no variables"),
        (pd.DataFrame({"x.0": [], "x.1": [], "y": []}), "DataFrame given as data (<DataFrame>) has no rows"),
        (pd.DataFrame([[1.0, 2.0, 0]], columns=["x.0", "x.0", "y"]), "Column 'x.0' appears twice in <DataFrame>"),
    ],
)
def test_empty_or_ambiguous_sources_are_refused(classes, source, message):
    err = refused(source, classes)
    assert isinstance(err, UsageError) and message in err.message
