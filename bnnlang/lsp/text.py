"""Text and positions, the two ways of counting: an editor's (LSP: lines end at \\r\\n, \\r or \\n; a column is a
count of UTF-16 code units unless the client chose another encoding) against the parser's (lines end at \\n after
\\r\\n and \\r become \\n; 1-based columns in code points). Everything in this package works on `normalize`d text
with 0-based lines and code-point columns, and converts at the edge (`to_client`, `from_client`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SURROGATE = re.compile("[\ud800-\udfff]")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_COMMENT = re.compile(r"#[^\n]*")


def clean(text: str) -> str:
    """`text` with lone surrogates (JSON's "\\ud800" escapes, never valid text) as U+FFFD, one for one."""
    return _SURROGATE.sub("\ufffd", text)


def normalize(text: str) -> str:
    """Line ends as the parser sees them: \\r\\n and a lone \\r become \\n (line numbers stay the editor's)."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def lines(text: str) -> list[str]:
    """The lines of normalized text (the last one may be empty)."""
    return text.split("\n")


def units(s: str, encoding: str = "utf-16") -> int:
    """How many code units of the client's encoding `s` takes."""
    if encoding == "utf-32":
        return len(s)
    if encoding == "utf-8":
        return len(s.encode("utf-8", "surrogatepass"))
    return len(s) + sum(1 for ch in s if ord(ch) > 0xFFFF)


def to_client(line_text: str, column: int, encoding: str = "utf-16") -> int:
    """A 0-based code-point column as the client counts it (clamped to the line)."""
    return units(line_text[: max(0, column)], encoding)


def from_client(line_text: str, character: int, encoding: str = "utf-16") -> int:
    """The 0-based code-point column of a client's `character` (past the end: the end of the line)."""
    count = 0
    for i, ch in enumerate(line_text):
        if count >= character:
            return i
        count += units(ch, encoding)
    return len(line_text)


def strip_comments(text: str) -> str:
    """`text` with every comment blanked out, keeping every offset (context scans must not read `#` text)."""
    return _COMMENT.sub(lambda m: " " * len(m.group()), text)


@dataclass(frozen=True)
class Word:
    """An identifier under the cursor: its text and its 0-based columns on its line."""

    text: str
    start: int
    end: int


def word_at(line_text: str, column: int) -> Word | None:
    """The identifier that holds `column` or ends just before it (the cursor after a word is on it)."""
    for m in _WORD.finditer(line_text):
        if m.start() <= column <= m.end():
            return Word(m.group(), m.start(), m.end())
        if m.start() > column:
            break
    return None


def prefix_at(line_text: str, column: int) -> str:
    """The part of an identifier left of the cursor ("" between words): what completion filters by."""
    m = re.search(r"[A-Za-z_][A-Za-z0-9_]*$", line_text[: max(0, column)])
    return m.group() if m else ""


def offset(text: str, line: int, column: int) -> int:
    """The offset into normalized `text` of a 0-based line and column (clamped to the text)."""
    pos = 0
    for _ in range(line):
        nxt = text.find("\n", pos)
        if nxt < 0:
            return len(text)
        pos = nxt + 1
    end = text.find("\n", pos)
    end = len(text) if end < 0 else end
    return min(pos + max(0, column), end)
