"""The examples in `examples/`: each loads, checks against its data with no warnings, and compiles.

Cheap checks only (no sampling). Each `examples/<stem>.bnn` is paired with its data file: the one its
`# data: PATH` comment names (relative to the model, as the language server reads it), else
`examples/data/<stem>.csv` by name; `<data stem>_grid.csv`, where present, holds new inputs for
`bnnc predict` and must check as prediction data (observed columns not needed). Held-out and OOD files are
`<stem>_test.csv` and `<stem>_ood.csv`, or beside a `NAME_train.npz` its `NAME_test.npz` and `NAME_ood*.npz`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import bnnlang
from bnnlang.lsp.config import data_comment
from bnnlang.syntax.format import format_source

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DATA = EXAMPLES / "data"

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.bnn"))
IDS = [p.stem for p in EXAMPLE_FILES]

# The examples a newcomer is pointed at; they must not disappear silently.
REQUIRED = {
    "regression_1d",
    "classification_binary",
    "classification_multiclass",
    "hierarchical_scale",
    "horseshoe",
    "heteroscedastic",
}


def _data_file(path: Path) -> Path:
    found = data_comment(path.read_text(encoding="utf-8"))
    return (path.parent / found[1]).resolve() if found else DATA / f"{path.stem}.csv"


def _held_out(path: Path) -> tuple[Path | None, list[Path]]:
    """The example's held-out file and its OOD files (none there: None and [])."""
    data = _data_file(path)
    if data.suffix == ".npz" and data.stem.endswith("_train"):
        name = data.stem.removesuffix("_train")
        test = data.with_name(f"{name}_test.npz")
        return (test if test.is_file() else None), sorted(data.parent.glob(f"{name}_ood*.npz"))
    test, ood = DATA / f"{path.stem}_test.csv", DATA / f"{path.stem}_ood.csv"
    return (test if test.is_file() else None), ([ood] if ood.is_file() else [])


def test_required_examples_exist() -> None:
    assert REQUIRED <= set(IDS)
    assert (DATA / "regression_1d_grid.csv").is_file()


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=IDS)
def test_example_loads_without_warnings(path: Path) -> None:
    model = bnnlang.load(path)
    assert model.warnings == [], [str(w) for w in model.warnings]


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=IDS)
def test_example_data_checks(path: Path) -> None:
    model = bnnlang.load(path)
    data_path = _data_file(path)
    assert data_path.is_file(), f"{path.name} needs its data in {data_path.relative_to(ROOT)}"
    bound = model.data(data_path)
    assert bound.dims["N"] > 0
    for name, array in bound.arrays.items():
        assert len(array) == bound.dims["N"], name
    assert model.warnings == []


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=IDS)
def test_example_prediction_inputs_check(path: Path) -> None:
    grid = DATA / f"{path.stem}_grid.csv"
    if not grid.is_file():
        pytest.skip("no prediction grid for this example")
    model = bnnlang.load(path)
    training = model.data(_data_file(path)).dims  # as `bnnc predict` does, from the run's settings.json
    bound = model.data(grid, require_observed=False, training_dims=training)
    assert bound.dims["N"] > 0


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=IDS)
def test_example_held_out_and_ood_files_check(path: Path) -> None:
    """The held-out file (for `bnnc report --test`) needs outputs; the OOD files (`--ood`) only inputs."""
    test, oods = _held_out(path)
    if test is None and not oods:
        pytest.skip("no held-out data for this example")
    model = bnnlang.load(path)
    training = model.data(_data_file(path)).dims
    if test is not None:
        assert set(model.data(test, training_dims=training).arrays) == set(model.checked.data)
    for ood in oods:
        assert model.data(ood, require_observed=False, training_dims=training).dims["N"] > 0


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=IDS)
def test_example_program_compiles(path: Path) -> None:
    model = bnnlang.load(path)
    source = model.python_source
    code = compile(source, f"<generated from {path.name}>", "exec")
    assert "model" in code.co_names or "def model(" in source


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=IDS)
def test_example_is_canonically_formatted(path: Path) -> None:
    src = path.read_text(encoding="utf-8")
    assert format_source(src) == src


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=IDS)
def test_example_header_says_how_to_run_it(path: Path) -> None:
    """Each example opens with a comment block naming the commands that run it, with paths that exist."""
    src = path.read_text(encoding="utf-8")
    header = []
    for line in src.splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    text = "\n".join(header)
    assert header, f"{path.name} should start with a comment block"
    data = _data_file(path).relative_to(ROOT)
    assert f"bnnc check examples/{path.name} --data {data}" in text
    assert f"bnnc run examples/{path.name} --data {data}" in text
    assert f"bnnc predict runs/{path.stem} --data" in text
    for ref in re.findall(r"examples/data/[\w./]+\.(?:csv|npz)", text):
        assert (ROOT / ref).is_file(), ref
