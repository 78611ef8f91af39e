"""The parser's catalogue: the wording of every syntax error, and of the hints chosen for an unexpected token.

Modelled on stanc3's `Semantic_error` (and its parser messages): one constructor per message, taking where it is
and the values it needs. The parser finds the situation (which token, what the grammar expected, which bracket
is open) and words nothing itself; terminals are described here in words ("a name", "'~'"), not Lark's names.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import Enum, auto

from ..errors import BnnError, Location, suggest

# ---------------------------------------------------------------- describing tokens and terminals

_TERMINAL_WORDS = {"$END": "the end of the file", "NAME": "a name", "NUMBER": "a number", "BASE_TYPE": "a type"}
_OPERATORS = {"'+'", "'-'", "'*'", "'/'", "'^'", "'['"}
_CLOSER = {"(": ")", "[": "]", "{": "}"}

# A terminal as the parser reports it: its grammar name and, for a fixed string, that string (else None).
Terminal = tuple[str, str | None]


def _describe_terminal(name: str, literal: str | None) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    return f"'{literal}'" if literal is not None else name.lower()


def _describe_token(kind: str, text: str) -> str:
    if kind == "$END":
        return "the end of the file"
    if kind == "NAME":
        return f"the name '{text}'"
    if kind == "NUMBER":
        return f"the number {text}"
    return f"'{text}'"


def _expected_list(expected: Iterable[Terminal]) -> str:
    """What the grammar expected, in words: operators folded into "an operator", at most eight items."""
    described = {_describe_terminal(name, literal) for name, literal in expected}
    names = sorted(described - _OPERATORS)
    if described & _OPERATORS and names:
        names.append("an operator")
    if len(names) > 8:
        names = names[:8] + ["..."]
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _short(text: str, limit: int = 40) -> str:
    """A token's text for a message, cut to `limit` characters (a number can be thousands of digits long)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------- the whole file


def file_too_large(where: Location, size: int, limit: int) -> BnnError:
    """`size` and `limit` in characters; shown in MiB."""
    return BnnError(
        f"The file is {size // (1024 * 1024)} MiB; bnnlang reads models of at most {limit // (1024 * 1024)} MiB.",
        where,
        hint="A model file holds the model; put data in a CSV, NPZ or Parquet file.",
    )


def brackets_too_deep(where: Location, limit: int) -> BnnError:
    return BnnError(
        f"Brackets are nested more than {limit} deep.",
        where,
        hint="Split the expression into parameters or simplify it.",
    )


def nested_too_deeply(where: Location) -> BnnError:
    """Python's recursion limit, reached while reading the tree (e.g. a long chain of '^')."""
    return BnnError(
        "The model nests expressions too deeply to read.",
        where,
        hint="Split very long expressions into params or simpler terms.",
    )


def other_syntax_error(where: Location, text: str) -> BnnError:
    """A Lark error of a kind the parser does not word itself: Lark's own text."""
    return BnnError(text, where, hint="Check the syntax near this point.")


# ---------------------------------------------------------------- tokens


def dimension_not_whole(where: Location, text: str) -> BnnError:
    return BnnError(
        f"Expected a whole number for a dimension, found '{text}'.",
        where,
        hint="Dimensions are whole numbers (like 3) or names bound by the data (like N).",
    )


def number_too_large(where: Location, text: str) -> BnnError:
    """Nothing downstream can use inf, so a number beyond float range is refused."""
    return BnnError(
        f"The number {_short(text)} is too large: it is beyond the range of a float (about 1.8e308).",
        where,
        hint="Write a smaller number; rescale the quantity if it really is this large.",
    )


def unexpected_character(where: Location, ch: str) -> BnnError:
    """A character no token starts with (`ch` "" at the end of the file); the hint guesses what was meant."""
    if ch in "\"'":
        hint = "bnnlang has no strings: a model is names, numbers and operators only."
    elif ch == ".":
        hint = "Write decimals with a leading digit (0.5), and ranges as 0..K-1."
    elif ch in "<>=!&|":
        hint = "Comparisons and logic are not part of the language; use '~' to give a distribution."
    elif ch == "\t" or not ch.isprintable():
        hint = "Remove the stray control or non-printing character."
    else:
        hint = "Names are letters, digits and '_'; comments start with '#'."
    shown = ch if ch.isprintable() else repr(ch)[1:-1]  # '\x0b', not ''\x0b''
    return BnnError(f"Unexpected character '{shown}'.", where, hint=hint)


# ---------------------------------------------------------------- brackets


def unclosed_at_end(where: Location, opener: str) -> BnnError:
    """`where`: the bracket still open when the file ended."""
    closer = _CLOSER[opener]
    return BnnError(
        f"Expected '{closer}' to close the '{opener}' opened here, but the file ended.",
        where,
        hint=f"Add the missing '{closer}'.",
    )


def unclosed_before(where: Location, opener: str, kind: str, text: str, line: int) -> BnnError:
    """`where`: the open bracket; the token of `kind` and `text` at `line` cannot continue inside it."""
    closer = _CLOSER[opener]
    return BnnError(
        f"Expected '{closer}' to close the '{opener}' opened here, found {_describe_token(kind, text)} at line {line}.",
        where,
        hint=f"Add the missing '{closer}'.",
    )


def unmatched_closer(where: Location, closer: str) -> BnnError:
    return BnnError(f"'{closer}' has no matching opening bracket.", where, hint=f"Remove the extra '{closer}'.")


# ---------------------------------------------------------------- unexpected tokens


def unfinished_statement(where: Location, expected: Iterable[Terminal]) -> BnnError:
    return BnnError(
        f"The file ended in the middle of a statement; expected {_expected_list(expected)}.",
        where,
        hint="Finish the last statement.",
    )


class TokenHint(Enum):
    """The situations an unexpected token's hint is chosen for (the parser tells which applies)."""

    STATEMENT_START = auto()  # a name where a statement keyword belongs
    RESERVED_WORD = auto()  # a keyword where a name belongs
    USE_TILDE = auto()  # '=' where '~' gives a distribution
    USE_EQUALS = auto()  # '~' where '=' sets a value
    MISSING_COMMA = auto()
    TRAILING_COMMA = auto()
    NETWORK_OUTPUT = auto()  # a network without `-> type`
    PRIOR_VALUE = auto()  # a prior definition without `value ~ ...`
    CALL_PARENTHESES = auto()
    MISSING_BRACE = auto()
    SHAPE = auto()  # brackets of a shape or an index
    OTHER = auto()


_TOKEN_HINTS = {
    TokenHint.STATEMENT_START: "A statement starts with import, data, param, network, gp, prior, observe or infer.",
    TokenHint.USE_TILDE: "Give a distribution with '~', as in `param sigma ~ HalfNormal(1)`.",
    TokenHint.USE_EQUALS: "Set values with '=' here; '~' gives a distribution.",
    TokenHint.MISSING_COMMA: "Separate arguments and dimensions with ','.",
    TokenHint.TRAILING_COMMA: "Remove the trailing ',' or add the missing argument.",
    TokenHint.NETWORK_OUTPUT: "Declare the network's output, as in `network mlp(x) -> real[N] { ... }`.",
    TokenHint.PRIOR_VALUE: "A prior definition ends with `value ~ Distribution(...)`.",
    TokenHint.CALL_PARENTHESES: "A call needs its arguments in parentheses, as in `Normal(0, 1)`.",
    TokenHint.MISSING_BRACE: "Is a '}' missing before this, or a ';' between two statements?",
    TokenHint.SHAPE: "Shapes and indices look like x[N, D] and out[:, 0].",
    TokenHint.OTHER: "Check the statement around this point against the syntax in README.md.",
}


def _token_hint(situation: TokenHint, text: str, keywords: Sequence[str]) -> str:
    if situation is TokenHint.STATEMENT_START:
        return suggest(text, keywords, then=_TOKEN_HINTS[situation]) or _TOKEN_HINTS[situation]
    if situation is TokenHint.RESERVED_WORD:
        return f"'{text}' is a reserved word; choose another name."
    return _TOKEN_HINTS[situation]


def unexpected_token(
    where: Location,
    expected: Iterable[Terminal],
    kind: str,
    text: str,
    situation: TokenHint,
    keywords: Sequence[str],
) -> BnnError:
    """A token the grammar cannot take here: what it expected, what it found, and the hint for `situation`
    (`keywords`: the statement keywords a misspelt one is matched against)."""
    return BnnError(
        f"Expected {_expected_list(expected)}, found {_describe_token(kind, text)}.",
        where,
        hint=_token_hint(situation, text, keywords),
    )
