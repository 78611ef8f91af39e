"""Go to definition: a prior, network, param, GP or data variable to where it is defined (in the model, or in the
module an `import` reads), and an import's module path to that module's file."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..check.imports import module_file
from .symbols import Symbol
from .text import lines, word_at

_IMPORT = re.compile(r"^\s*import\s+([A-Za-z][\w.]*)")


@dataclass(frozen=True)
class Target:
    """A place: `path` None is the document itself; 0-based line and code-point columns."""

    path: str | None
    line: int
    column: int
    end_column: int


def definition(text: str, line: int, column: int, symbols: dict[str, Symbol], model_dir: Path | None) -> Target | None:
    """Where the name at a 0-based position of normalized `text` is defined; None if it is not a defined name."""
    text_lines = lines(text)
    if line >= len(text_lines):
        return None
    line_text = text_lines[line]
    m = _IMPORT.match(line_text)
    if m and m.start(1) <= column <= m.end(1):
        path = module_file(tuple(m.group(1).split(".")), model_dir)
        return Target(str(path), 0, 0, 0) if path is not None and path.is_file() else None
    word = word_at(line_text, column)
    if word is None or line_text.lstrip().startswith("#"):
        return None
    s = symbols.get(word.text)
    return Target(s.path, s.line, s.column, s.end_column) if s is not None else None
