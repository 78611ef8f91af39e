"""Where the cursor is, read from the text alone (no parse, so it works in a half-typed file): the calls and
blocks around it, which argument it is in, and what stands before it on its statement. Hover and completion
choose what to offer from this."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .text import offset, strip_comments

_NAME_BEFORE = re.compile(r"([A-Za-z_]\w*)\s*$")
_KEYWORD_BEFORE = re.compile(r"([A-Za-z_]\w*)\s+[A-Za-z_]\w*\s*$")
_BLOCKS = (
    ("network", re.compile(r"(?<![\w.])network\s+\w+\s*\([^(){}]*\)\s*->[^{};]*$")),
    ("layers", re.compile(r"(?<![\w.])(?:residual|deterministic)\s*$")),
    ("data", re.compile(r"(?<![\w.])data\s*$")),
    ("prior", re.compile(r"(?<![\w.])prior\s+\w+\s*\([^{}]*\)\s*$")),
    ("layer", re.compile(r"(?<![\w.])[A-Za-z]\w*\s*(?:\([^{}]*\))?\s*$")),
)
_BRACKET = re.compile(r"[(){}\[\]]")
_ARG_MARK = re.compile(r"[(){}\[\],]")
_LOOKBACK = 400  # characters read before an opening bracket to name what it opens


@dataclass(frozen=True)
class Call:
    """An unclosed `(` before the cursor: the name before it, the word before that (`infer` in
    `infer nuts(`), which argument the cursor is in, and that argument's text so far."""

    name: str
    keyword: str
    arg_index: int
    arg_text: str

    @property
    def in_key(self) -> bool:
        """The cursor is where a keyword argument's name goes (no `=` yet in this argument)."""
        return "=" not in self.arg_text


@dataclass(frozen=True)
class Context:
    calls: tuple[Call, ...]  # innermost last
    block: str | None  # what the innermost unclosed `{` opens: network | layers | layer | data | prior | None
    statement: str  # the current statement's text before the cursor (comments blanked)

    @property
    def call(self) -> Call | None:
        return self.calls[-1] if self.calls else None

    @property
    def at_statement_start(self) -> bool:
        """Only the word being typed stands before the cursor on its statement."""
        return re.fullmatch(r"\s*[A-Za-z_]?\w*", self.statement) is not None

    def after(self, pattern: str) -> re.Match | None:
        """`pattern` right before the word being typed on this statement (outside any call)."""
        return None if self.calls else re.search(pattern + r"\s*[A-Za-z_]?\w*$", self.statement)


def _openers(plain: str, end: int) -> list[tuple[str, int]]:
    """The brackets still open at `end`, outermost first; a closer that matches nothing is ignored."""
    stack: list[tuple[str, int]] = []
    pairs = {")": "(", "}": "{", "]": "["}
    for m in _BRACKET.finditer(plain, 0, end):
        ch, i = m.group(), m.start()
        if ch in "({[":
            stack.append((ch, i))
        elif ch in pairs:
            for k in range(len(stack) - 1, -1, -1):
                if stack[k][0] == pairs[ch]:
                    del stack[k:]
                    break
    return stack


def _call(plain: str, start: int, end: int) -> Call:
    before = plain[max(0, start - _LOOKBACK) : start]
    name = _NAME_BEFORE.search(before)
    keyword = _KEYWORD_BEFORE.search(before)
    depth, index, arg_start = 0, 0, start + 1
    for m in _ARG_MARK.finditer(plain, start + 1, end):
        ch, i = m.group(), m.start()
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(depth - 1, 0)
        elif ch == "," and depth == 0:
            index, arg_start = index + 1, i + 1
    return Call(name.group(1) if name else "", keyword.group(1) if keyword else "", index, plain[arg_start:end])


def _block(plain: str, start: int) -> str | None:
    before = plain[max(0, start - _LOOKBACK) : start]
    return next((kind for kind, pattern in _BLOCKS if pattern.search(before)), None)


def context_at(text: str, line: int, column: int) -> Context:
    """The context of a 0-based position in normalized `text`."""
    plain = strip_comments(text)
    end = offset(plain, line, column)
    open_ = _openers(plain, end)
    calls = tuple(_call(plain, pos, end) for ch, pos in open_ if ch == "(")
    braces = [pos for ch, pos in open_ if ch == "{"]
    block = _block(plain, braces[-1]) if braces else None
    start = max(plain.rfind(c, 0, end) for c in ";{}\n") + 1  # statements are written one to a line
    return Context(calls, block, plain[start:end])
