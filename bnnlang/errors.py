"""What every stage reports to the user: errors and warnings, located, with the source line, a caret and a hint.

Three kinds, as stanc3 separates them:
- `BnnError`: a problem in the user's model, data or settings, located in a file (`path:line:col`, or
  `path:` for a whole file). The CLI prints `format()` and exits 2; anything else escaping is a bug.
- `UsageError`: the same exit code, for what has no place in a file: the command line, arguments of the Python
  API, the environment (a missing GPU backend or package), and what inference finds at run time.
- `BnnWarning`: not raised; collected by the checker and printed before a run.

The wording of each message lives in its stage's catalogue (`syntax/messages.py`, `check/messages.py`,
`check/network_messages.py`, `check/data_messages.py`, `check/settings_messages.py`, `infer/messages.py`,
`priors/messages.py`, `api/messages.py`); this module only lays messages out.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    path: str
    line: int  # 1-based; 0 when the problem has no line (e.g. a missing file)
    column: int = 1
    end_column: int | None = None
    source_line: str | None = None


def undecodable_byte(path: str, raw: bytes, err: UnicodeDecodeError) -> Location:
    """Where a file stops being UTF-8: the line and column of the bad byte, with that line for the frame."""
    line = raw[: err.start].count(b"\n") + 1
    col = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
    shown = raw.split(b"\n")[line - 1].decode("utf-8", errors="replace")
    return Location(path, line, col, None, shown)


def first_nul(path: str, text: str) -> Location | None:
    """Where a text file holds its first NUL byte (a binary file given as text), or None."""
    pos = text.find("\x00")
    if pos < 0:
        return None
    line = text[:pos].count("\n") + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return Location(path, line, col, None, text.split("\n")[line - 1])  # lines as counted here (not splitlines)


class BnnError(Exception):
    """A problem in the user's model, data or settings (exit code 2)."""

    exit_code = 2
    kind = "error"

    def __init__(self, message: str, location: Location | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location
        self.hint = hint

    def format(self) -> str:
        return format_diagnostic(self.kind, self.message, self.location, self.hint)

    def __str__(self) -> str:
        return self.format()


class UsageError(BnnError):
    """A user error with no place in a file: command line, API arguments, environment, what a run found."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, None, hint)


@dataclass(frozen=True)
class BnnWarning:
    """A likely mistake that does not stop the model: printed, never raised."""

    message: str
    location: Location | None = None
    hint: str | None = None
    kind = "warning"

    def format(self) -> str:
        return format_diagnostic(self.kind, self.message, self.location, self.hint)

    def __str__(self) -> str:
        return self.format()


def format_diagnostic(kind: str, message: str, loc: Location | None, hint: str | None) -> str:
    """Render a diagnostic stanc3-style: header, framed source line, caret, hint."""
    message = _printable(message)  # a quoted CSV cell can hold a line break, which would split the header
    hint = _printable(hint) if hint else hint
    lines: list[str] = []
    if loc is None:
        lines.append(f"{kind}: {message}")
    elif loc.line <= 0:
        lines.append(f"{loc.path}: {kind}: {message}")
    else:
        lines.append(f"{loc.path}:{loc.line}:{loc.column}: {kind}: {message}")
        if loc.source_line is not None:
            text = _printable(loc.source_line.rstrip("\r\n").expandtabs(1))
            gutter = str(loc.line)
            pad = " " * len(gutter)
            end = loc.end_column if loc.end_column and loc.end_column > loc.column else loc.column + 1
            end = min(end, max(len(text) + 1, loc.column + 1))
            lines.append(f"{pad} |")
            lines.append(f"{gutter} | {text}")
            lines.append(f"{pad} | {' ' * (loc.column - 1)}{'^' * (end - loc.column)}")
    if hint:
        lines.append(f"hint: {hint}")
    return "\n".join(lines)


def _printable(text: str) -> str:
    """`text` with unprintable characters shown as U+FFFD: an escape sequence from a comment or a data cell must
    not reach the terminal raw, and one character for one keeps a caret under its column."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in text)


def source_line(source: str, line: int) -> str | None:
    """Line `line` (1-based) as the parser counts lines: only "\n" ends one (not "\f", "\x85" or "\u2028",
    which `str.splitlines` would also split at, framing the wrong line)."""
    if line <= 0:
        return None
    lines = source.split("\n")
    return lines[line - 1].rstrip("\r") if line <= len(lines) else ""


def at(path: str, source: str, span) -> Location:
    """The location of a syntax-tree span (anything with line, column, end_line, end_column) in `source`."""
    end = span.end_column if span.end_line == span.line else None
    return Location(path, span.line, span.column, end, source_line(source, span.line))


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    candidates = list(candidates)
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    if not close:
        low = {c.lower(): c for c in candidates}
        if name.lower() in low:
            close = [low[name.lower()]]
    return f"Did you mean '{close[0]}'?" if close else None


def suggest(name: str, candidates: Iterable[str], otherwise: str | None = None, then: str | None = None) -> str | None:
    """The hint for a name that is not known: "Did you mean 'x'?" when one of `candidates` is close, else
    `otherwise`; followed by `then` in either case."""
    first = did_you_mean(name, candidates) or otherwise
    return " ".join(part for part in (first, then) if part) or None


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
