"""`bnnc compile` of every shipped model, against the program checked in beside this test (an expect test, as
stanc3 keeps for its code generation).

A change of the generated program shows as a diff of `tests/data/compiled/NAME.expected` in review. Regenerate
with `BNNLANG_UPDATE_GOLDEN=1 pytest tests/test_compile_golden.py` only for an intended change, and say why.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import bnnlang

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "compiled"
MODELS = sorted((ROOT / "examples").glob("*.bnn")) + sorted((ROOT / "benchmarks" / "models").glob("*.bnn"))


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_generated_program_is_unchanged(path: Path) -> None:
    source = bnnlang.load(path).python_source
    expected = GOLDEN / f"{path.stem}.expected"
    if os.environ.get("BNNLANG_UPDATE_GOLDEN"):
        expected.write_text(source, encoding="utf-8")
    assert expected.is_file(), f"no golden program for {path.name}: run with BNNLANG_UPDATE_GOLDEN=1"
    assert source == expected.read_text(encoding="utf-8")


def test_every_golden_program_has_a_model() -> None:
    assert {p.stem for p in GOLDEN.glob("*.expected")} == {p.stem for p in MODELS}
