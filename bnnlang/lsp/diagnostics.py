"""Diagnostics as you type: the editor's buffer (not the file on disk) parsed and checked by the same JAX-free
stages as `bnnc check`, with its warnings (and `--pedantic`'s, when the setting asks), and its data checked when
a data file is named (config.py). Every `BnnError` and `BnnWarning` becomes one 0-based range with the hint in
the message. A problem inside an imported module is shown on the import that reads it; a problem in a data file
on the `# data:` comment (or line 1). `analyse` never raises: a bug in the checker is a diagnostic too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..check.checker import check
from ..check.data import load_data
from ..check.imports import module_file
from ..check.model import CheckedModel
from ..check.pedantic import pedantic_warnings
from ..errors import BnnError, BnnWarning, Location
from ..syntax import tree as t
from ..syntax.parser import parse
from . import messages as msg
from .config import DataRef, Settings, data_for
from .symbols import Symbol, from_program, from_text
from .text import clean, lines, normalize, word_at

# Larger buffers get one diagnostic. Parsing and checking dense statements runs at about 100 kB/s, and checks
# run one at a time, so this bounds how long one buffer can hold up the others (about 2.5 s).
MAX_CHARS = 256 * 1024
MAX_DATA_MIB = 16  # larger data files are left to `bnnc check --data`
NO_SETTINGS = Settings()


@dataclass(frozen=True)
class Diagnostic:
    """0-based lines and code-point columns; the end is exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int
    message: str
    severity: str  # error | warning


@dataclass
class Analysis:
    """What one version of a buffer gave: its diagnostics, and its tree and checked model when it got that far."""

    text: str  # normalized
    diagnostics: list[Diagnostic]
    program: t.Program | None = None
    checked: CheckedModel | None = None
    symbols: dict[str, Symbol] = field(default_factory=dict)


def to_diagnostic(problem: BnnError | BnnWarning, text_lines: list[str], path: str) -> Diagnostic:
    """Where a located error or warning lies in the buffer; one with no line there (a whole file, another file)
    lies on the first line."""
    severity = "warning" if isinstance(problem, BnnWarning) else "error"
    message = problem.message + (f"\nhint: {problem.hint}" if problem.hint else "")
    loc = problem.location
    if loc is None or loc.line <= 0 or loc.path != path or loc.line > len(text_lines):
        first = text_lines[0] if text_lines else ""
        return Diagnostic(0, 0, 0, len(first), message, severity)
    line = loc.line - 1
    text = text_lines[line]
    col = min(max(loc.column - 1, 0), len(text))
    if loc.end_column is not None and loc.end_column > loc.column:
        end = loc.end_column - 1
    else:
        word = word_at(text, col)
        end = word.end if word is not None and word.start == col else col + 1
    return Diagnostic(line, col, line, max(min(end, len(text)), col), message, severity)


def analyse(text: str, path: str, file: Path | None, settings: Settings = NO_SETTINGS) -> Analysis:
    """Parse and check one buffer (`file`: where it is saved, which places imports and data; None if nowhere)."""
    if len(text) > MAX_CHARS:
        return Analysis(normalize(clean(text[:MAX_CHARS])), [_whole(msg.too_large(path, len(text), MAX_CHARS))])
    text = normalize(clean(text))
    model_dir = file.parent if file is not None else None
    text_lines = lines(text)
    try:
        return _analyse(text, text_lines, path, file, model_dir, settings)
    except Exception as err:  # a bug in bnnc: a diagnostic, never a dead server
        return Analysis(text, [_whole(msg.internal_error(path, err))], symbols=_scan(text, model_dir))


def _whole(problem: BnnError) -> Diagnostic:
    return to_diagnostic(problem, [], problem.location.path if problem.location else "")


def _scan(text: str, model_dir: Path | None) -> dict[str, Symbol]:
    try:
        return from_text(text, model_dir)
    except Exception:
        return {}


def _analyse(
    text: str, text_lines: list[str], path: str, file: Path | None, model_dir: Path | None, settings: Settings
) -> Analysis:
    try:
        program = parse(text, path)
    except BnnError as err:
        return Analysis(text, [to_diagnostic(err, text_lines, path)], symbols=_scan(text, model_dir))
    symbols = from_program(program, model_dir)
    try:
        checked = check(program, model_dir)
    except BnnError as err:
        problem = _in_import(err, program, model_dir, path)
        return Analysis(text, [to_diagnostic(problem, text_lines, path)], program, symbols=symbols)
    found: list[BnnError | BnnWarning] = list(checked.warnings)
    if settings.pedantic:
        found += pedantic_warnings(checked)
    ref = data_for(text, file, settings)
    if ref is not None:
        found += _data_problems(checked, ref, path, text_lines)
    return Analysis(text, [to_diagnostic(p, text_lines, path) for p in found], program, checked, symbols)


def _in_import(err: BnnError, program: t.Program, model_dir: Path | None, path: str) -> BnnError:
    """An error located in an imported module, moved onto the import statement that reads that module."""
    loc = err.location
    if loc is None or loc.path == path:
        return err
    for item in program.items:
        if isinstance(item, t.Import) and str(module_file(item.module, model_dir)) == loc.path:
            return msg.in_module(program.at(item.span), loc, err.message, err.hint)
    return msg.in_module(Location(path, 0), loc, err.message, err.hint)


def _data_problems(
    checked: CheckedModel, ref: DataRef, path: str, text_lines: list[str]
) -> list[BnnError | BnnWarning]:
    """The data checked against the model (`bnnc check --data`), or why they could not be."""
    line = ref.line + 1 if ref.line is not None else 0
    where = Location(path, line, 1, len(text_lines[ref.line]) + 1 if ref.line is not None else None)
    if not ref.path.is_file():
        return [msg.data_missing(where, ref.shown, ref.from_setting)]
    try:
        size = ref.path.stat().st_size
    except OSError:
        size = 0
    if size > MAX_DATA_MIB * 1024 * 1024:
        return [msg.data_too_large(where, ref.shown, MAX_DATA_MIB)]
    try:
        load_data(str(ref.path), checked)
    except BnnError as err:
        inner = err.location
        target = inner if inner is not None and inner.path == path and inner.line > 0 else where
        return [msg.data_problem(target, ref.shown, err)]
    return []
