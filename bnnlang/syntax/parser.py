"""Parse .bnn source into the typed tree (`tree.Program`).

Lark does the parsing from `grammar/bnn.lark`; a Transformer builds the
dataclasses, and parse errors are rewritten into located messages with a hint
(the stanc3 habit of saying what was expected in words, not terminal names).
This module finds the situation; `messages.py` words it.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from ..errors import BnnError, Location, source_line
from . import messages as msg
from . import tree as t

_PACKAGE = Path(__file__).resolve().parent.parent
GRAMMAR_CANDIDATES = (_PACKAGE / "_grammar" / "bnn.lark", _PACKAGE.parent / "grammar" / "bnn.lark")
KEYWORDS = ("import", "data", "param", "network", "gp", "prior", "observe", "infer")
RESERVED = KEYWORDS + ("default", "value", "real", "int", "in", "from", "on", "at", "standardized")
MAX_SOURCE_BYTES = 8 * 1024 * 1024
MAX_NESTING = 200


def grammar_path() -> Path:
    for path in GRAMMAR_CANDIDATES:
        if path.exists():
            return path
    raise FileNotFoundError("bnnlang's grammar file bnn.lark is missing from the installation")


class _Comments(threading.local):
    """The lexer's comments, per thread: Lark's callback is fixed when the cached parser is built, and two threads
    (the language server's checker and a request) may parse at once."""

    def __init__(self) -> None:
        self.items: list[t.Comment] = []

    def __call__(self, token: Token) -> None:
        self.items.append(t.Comment(str(token), token.line, token.column))


_comment_sink = _Comments()


@functools.lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        lexer_callbacks={"COMMENT": _comment_sink},
        cache=False,
    )


def _span(meta_or_token) -> t.Span:
    if getattr(meta_or_token, "empty", False):
        return t.Span.unknown()
    return t.Span(
        meta_or_token.line,
        meta_or_token.column,
        meta_or_token.end_line,
        meta_or_token.end_column,
    )


def _tok_span(tok: Token) -> t.Span:
    return t.Span(tok.line, tok.column, tok.end_line, tok.end_column)


def _float(tok: Token) -> float:
    """A NUMBER token's value; one too large for a float (1e400) is refused, as nothing downstream can use inf."""
    value = float(tok)
    if not math.isfinite(value):
        raise _NumberError(tok)
    return value


def _int_of(tok: Token) -> int:
    return int(_float(tok))


@v_args(meta=True, inline=True)
class _Build(Transformer):
    """Lark parse tree -> typed dataclasses (one method per grammar rule)."""

    def start(self, meta, *items):
        return tuple(items)

    # imports ------------------------------------------------------------
    def module_path(self, meta, *names):
        return tuple(str(n) for n in names)

    def name_list(self, meta, *names):
        return tuple(t.Name(str(n), _tok_span(n)) for n in names)

    def import_stmt(self, meta, module, names):
        return t.Import(module, names, _span(meta))

    # data ---------------------------------------------------------------
    def data_block(self, meta, *items):
        return t.DataBlock(tuple(items), _span(meta), meta.end_line)

    def data_decl(self, meta, name, type_expr, columns, standardized):
        return t.DataDecl(str(name), type_expr, columns, _span(meta), standardized is not None)

    def dim_const(self, meta, name, number):
        return t.DimConst(str(name), t.Number(_float(number), str(number), _tok_span(number)), _span(meta))

    def columns(self, meta, names):
        return names

    def type_expr(self, meta, base, shape, bound):
        if isinstance(bound, _Levels):
            return t.TypeExpr(str(base), shape or (), None, _span(meta), bound.names)
        return t.TypeExpr(str(base), shape or (), bound, _span(meta))

    def levels(self, meta, names):
        return _Levels(names)

    def shape(self, meta, *dims):
        return tuple(dims)

    def bound(self, meta, lo, hi):
        return (lo, hi)

    def dim_number(self, meta, tok):
        return t.Dim(None, _int_of(tok) if _is_int_text(tok) else _bad_dim(tok), _span(meta))

    def dim_name(self, meta, tok):
        return t.Dim(str(tok), 0, _span(meta))

    def dim_minus(self, meta, name, num):
        return t.Dim(str(name), -_int_of(num) if _is_int_text(num) else _bad_dim(num), _span(meta))

    def dim_plus(self, meta, name, num):
        return t.Dim(str(name), _int_of(num) if _is_int_text(num) else _bad_dim(num), _span(meta))

    # params and networks -----------------------------------------------
    def param_stmt(self, meta, name, shape, call):
        return t.Param(str(name), shape or (), call, _span(meta))

    def network_block(self, meta, name, inputs, output, *items):
        defaults = tuple(i for i in items if isinstance(i, t.PriorAssign))
        layers = tuple(i for i in items if isinstance(i, t.Layer))
        names = tuple(n.id for n in inputs)
        return t.Network(str(name), names, output, defaults, layers, _span(meta), meta.end_line)

    def default_prior(self, meta, role, call):
        return t.PriorAssign(str(role), call, True, _span(meta))

    def prior_assign(self, meta, role, call):
        return t.PriorAssign(str(role), call, False, _span(meta))

    def layer(self, meta, kind, args, body):
        positional, kwargs = _split_args(args[1] if args else ())
        priors = tuple(i for i in body[1] if isinstance(i, t.PriorAssign)) if body else ()
        layers = tuple(i for i in body[1] if isinstance(i, t.Layer)) if body else ()
        end_line = body[2] if body else meta.end_line
        return t.Layer(
            str(kind),
            positional,
            kwargs,
            args is not None,
            priors,
            layers,
            body is not None,
            _span(meta),
            end_line,
        )

    def layer_args(self, meta, *args):
        return ("args", tuple(a for a in args if a is not None))

    def layer_body(self, meta, *items):
        return ("body", tuple(items), meta.end_line)

    # Gaussian processes and function-space priors ------------------------
    def gp_stmt(self, meta, name, shape, call, input_expr):
        return t.GPDecl(str(name), shape or (), call, input_expr, _span(meta))

    def function_prior(self, meta, name, call, context):
        return t.FunctionPrior(str(name), call, context, _span(meta))

    # prior definitions --------------------------------------------------
    def prior_def(self, meta, name, *rest):
        params = tuple(p for p in rest if isinstance(p, t.PriorParam))
        locals_ = tuple(p for p in rest if isinstance(p, t.Param))
        value = rest[-1]
        return t.PriorDef(str(name), params, locals_, value[0], _span(meta), meta.end_line, value[1])

    def prior_param(self, meta, name, default=None):
        return t.PriorParam(str(name), default, _span(meta))

    def signed_number(self, meta, tok):
        return t.Number(_float(tok), str(tok), _tok_span(tok))

    def neg_number(self, meta, tok):
        return t.Number(-_float(tok), "-" + str(tok), _span(meta))

    def value_stmt(self, meta, call):
        return (call, _span(meta))

    # observe and infer --------------------------------------------------
    def observe_stmt(self, meta, name, call):
        return t.Observe(str(name), call, _span(meta))

    def infer_stmt(self, meta, method, *args):
        return t.Infer(str(method), tuple(a for a in args if a is not None), _span(meta))

    # expressions --------------------------------------------------------
    def number(self, meta, tok):
        return t.Number(_float(tok), str(tok), _span(meta))

    def name(self, meta, tok):
        return t.Name(str(tok), _span(meta))

    def call(self, meta, func, *args):
        positional, kwargs = _split_args(tuple(a for a in args if a is not None))
        return t.Call(str(func), positional, kwargs, _span(meta), _tok_span(func))

    def kwarg(self, meta, name, value):
        return t.KwArg(str(name), value, _span(meta))

    def index_expr(self, meta, base, *indices):
        return t.Index(base, tuple(indices), _span(meta))

    def index(self, meta, expr):
        return expr

    def slice_all(self, meta):
        return t.SliceAll(_span(meta))

    def neg(self, meta, operand):
        return t.Neg(operand, _span(meta))

    def _binop(op):  # noqa: N805 - a method factory used at class creation
        def method(self, meta, left, right):
            return t.BinOp(op, left, right, _span(meta))

        return method

    add = _binop("+")
    sub = _binop("-")
    mul = _binop("*")
    div = _binop("/")
    pow = _binop("^")


class _DimError(Exception):
    def __init__(self, tok: Token) -> None:
        self.tok = tok


class _NumberError(Exception):
    def __init__(self, tok: Token) -> None:
        self.tok = tok


def _is_int_text(tok: Token) -> bool:
    return str(tok).isdigit()


def _bad_dim(tok: Token) -> int:
    raise _DimError(tok)


@dataclass(frozen=True)
class _Levels:
    names: tuple[t.Name, ...]


def _split_args(args) -> tuple[tuple, tuple]:
    positional = tuple(a for a in args if not isinstance(a, t.KwArg))
    kwargs = tuple(a for a in args if isinstance(a, t.KwArg))
    return positional, kwargs


def parse(source: str, path: str = "<string>") -> t.Program:
    """Parse source text; raise BnnError (located, with a hint) on any syntax error."""
    if len(source) > MAX_SOURCE_BYTES:
        raise msg.file_too_large(Location(path, 0), len(source), MAX_SOURCE_BYTES)
    if "\r" in source:  # old Mac line ends: a comment (`#` to "\n") would swallow the rest of the file
        source = source.replace("\r\n", "\n").replace("\r", "\n")
    _check_nesting(source, path)
    _comment_sink.items = []
    try:
        lark_tree = _parser().parse(source)
        items = _Build().transform(lark_tree)
    except UnexpectedInput as err:
        raise _parse_error(err, source, path) from None
    except (RecursionError, VisitError) as err:  # Lark wraps errors raised in a transformer method in VisitError
        inner = err.orig_exc if isinstance(err, VisitError) else err
        if isinstance(inner, RecursionError):
            raise msg.nested_too_deeply(Location(path, 1, 1, None, source_line(source, 1))) from None
        if isinstance(inner, _DimError):
            tok = inner.tok
            raise msg.dimension_not_whole(_loc(path, source, tok.line, tok.column, tok.end_column), str(tok)) from None
        if isinstance(inner, _NumberError):
            tok = inner.tok
            raise msg.number_too_large(_loc(path, source, tok.line, tok.column, tok.end_column), str(tok)) from None
        raise
    comments = tuple(_comment_sink.items)
    _comment_sink.items = []
    return t.Program(items, comments, path, source)


def _loc(path: str, source: str, line: int, column: int, end_column: int | None = None) -> Location:
    return Location(path, line, column, end_column, source_line(source, line))


def _check_nesting(source: str, path: str) -> None:
    """Refuse absurdly deep nesting before Lark's recursion would overflow."""
    depth = 0
    line, col = 1, 0
    for ch in source:
        col += 1
        if ch == "\n":
            line, col = line + 1, 0
        elif ch in "([{":
            depth += 1
            if depth > MAX_NESTING:
                raise msg.brackets_too_deep(_loc(path, source, line, col), MAX_NESTING)
        elif ch in ")]}":
            depth = max(depth - 1, 0)


# ---------------------------------------------------------------- parse errors


def _literal(name: str) -> str | None:
    """The fixed string a terminal matches ('~' for TILDE), or None for a pattern or an unknown name."""
    try:
        term = _parser().get_terminal(name)
    except KeyError:
        return None
    return term.pattern.value if term.pattern.type == "str" else None


def _terminals(expected: set[str]) -> list[msg.Terminal]:
    return [(name, _literal(name)) for name in expected]


def _unclosed(source: str) -> tuple[int, int, str] | None:
    """The innermost bracket still open at the end of the source, skipping comments."""
    stack: list[tuple[int, int, str]] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for lineno, text in enumerate(source.splitlines(), 1):
        for col, ch in enumerate(text.split("#", 1)[0], 1):
            if ch in "([{":
                stack.append((lineno, col, ch))
            elif ch in pairs and stack and stack[-1][2] == pairs[ch]:
                stack.pop()
    return stack[-1] if stack else None


def _unmatched_closer(source: str) -> bool:
    """True when the last character closes a bracket that was never opened."""
    depth = {"(": 0, "[": 0, "{": 0}
    pairs = {")": "(", "]": "[", "}": "{"}
    for text in source.splitlines():
        for ch in text.split("#", 1)[0]:
            if ch in depth:
                depth[ch] += 1
            elif ch in pairs:
                depth[pairs[ch]] -= 1
    return any(v < 0 for v in depth.values())


def _parse_error(err: UnexpectedInput, source: str, path: str) -> BnnError:
    if isinstance(err, UnexpectedCharacters):
        ch = source[err.pos_in_stream] if err.pos_in_stream < len(source) else ""
        return msg.unexpected_character(_loc(path, source, err.line, err.column), ch)

    if isinstance(err, (UnexpectedToken, UnexpectedEOF)):
        tok = getattr(err, "token", None)
        expected = set(getattr(err, "expected", ()) or getattr(err, "accepts", ()) or ())
        at_end = tok is None or tok.type == "$END"
        if at_end:
            opened = _unclosed(source)
            if opened:
                line, col, ch = opened
                return msg.unclosed_at_end(_loc(path, source, line, col), ch)
            lines = source.rstrip().splitlines() or [""]
            line = len(lines)
            return msg.unfinished_statement(_loc(path, source, line, len(lines[-1]) + 1), _terminals(expected))
        opened = _unclosed(source[: tok.start_pos])
        if opened and opened[0] < tok.line and str(tok) not in (")", "]", "}"):
            line, col, ch = opened
            if ch != "{" or str(tok) in KEYWORDS:
                return msg.unclosed_before(_loc(path, source, line, col), ch, tok.type, str(tok), tok.line)
        if str(tok) in (")", "]", "}") and _unmatched_closer(source[: tok.end_pos]):
            return msg.unmatched_closer(_loc(path, source, tok.line, tok.column, tok.end_column), str(tok))
        loc = _loc(path, source, tok.line, tok.column, tok.end_column)
        inner = _unclosed(source[: tok.start_pos])
        if inner is not None and inner[2] in "([":
            # LALR merges the states after an expression, so a call's argument list "expects" statement
            # keywords too; inside brackets only the matching closer and what continues an expression are real
            closer = {"(": "RPAR", "[": "RSQB"}[inner[2]]
            drop = {"RPAR", "RSQB", "SEMICOLON", "RBRACE", "LBRACE", "$END"} - {closer}
            expected = {e for e in expected if e not in drop and e.lower().strip('"') not in RESERVED}
        in_parens = inner is not None and inner[2] in "(["
        situation = _token_situation(tok, expected, in_parens)
        return msg.unexpected_token(loc, _terminals(expected), tok.type, str(tok), situation, KEYWORDS)

    return msg.other_syntax_error(Location(path, 0), str(err))


def _token_situation(tok: Token, expected: set[str], in_parens: bool = False) -> msg.TokenHint:
    """Which hint an unexpected token gets, from the token and the terminals the grammar expected."""
    text = str(tok)
    literals = {_literal(e) for e in expected if e not in ("$END", "NAME", "NUMBER", "BASE_TYPE")}
    name_expected = "NAME" in expected
    # LALR merges the states after an expression, so statement keywords can be "expected" inside a call too
    top_level = set(KEYWORDS) <= literals and not in_parens
    if tok.type == "NAME" and top_level:
        return msg.TokenHint.STATEMENT_START
    if text in RESERVED and name_expected:
        return msg.TokenHint.RESERVED_WORD
    if text == "=" and "~" in literals:
        return msg.TokenHint.USE_TILDE
    if text == "~" and "=" in literals:
        return msg.TokenHint.USE_EQUALS
    if "," in literals and tok.type in ("NAME", "NUMBER"):
        return msg.TokenHint.MISSING_COMMA
    if text == ")" and name_expected:
        return msg.TokenHint.TRAILING_COMMA
    if "->" in literals:
        return msg.TokenHint.NETWORK_OUTPUT
    if text == "}" and "value" in literals:
        return msg.TokenHint.PRIOR_VALUE
    if "(" in literals and tok.type != "NAME":
        return msg.TokenHint.CALL_PARENTHESES
    if "}" in literals and tok.type == "NAME":
        return msg.TokenHint.MISSING_BRACE
    if text in ("[", "]") or "]" in literals:
        return msg.TokenHint.SHAPE
    return msg.TokenHint.OTHER
