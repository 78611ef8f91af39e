"""Parse .bnn source into the typed tree (`tree.Program`).

Lark does the parsing from `grammar/bnn.lark`; a Transformer builds the
dataclasses, and parse errors are rewritten into located messages with a hint
(the stanc3 habit of saying what was expected in words, not terminal names).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from ..errors import BnnError, Location, did_you_mean, source_line
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


class _Comments:
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
        return t.TypeExpr(str(base), shape or (), bound, _span(meta))

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

    def network_block(self, meta, name, input_name, output, *items):
        defaults = tuple(i for i in items if isinstance(i, t.PriorAssign))
        layers = tuple(i for i in items if isinstance(i, t.Layer))
        return t.Network(str(name), str(input_name), output, defaults, layers, _span(meta), meta.end_line)

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


def _split_args(args) -> tuple[tuple, tuple]:
    positional = tuple(a for a in args if not isinstance(a, t.KwArg))
    kwargs = tuple(a for a in args if isinstance(a, t.KwArg))
    return positional, kwargs


def parse(source: str, path: str = "<string>") -> t.Program:
    """Parse source text; raise BnnError (located, with a hint) on any syntax error."""
    if len(source) > MAX_SOURCE_BYTES:
        raise BnnError(
            f"The file is {len(source) // (1024 * 1024)} MiB; bnnlang reads models of at most 8 MiB.",
            Location(path, 0),
            hint="A model file holds the model; put data in a CSV, NPZ or Parquet file.",
        )
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
            raise BnnError(
                "The model nests expressions too deeply to read.",
                Location(path, 1, 1, None, source_line(source, 1)),
                hint="Split very long expressions into params or simpler terms.",
            ) from None
        if isinstance(inner, _DimError):
            tok = inner.tok
            raise BnnError(
                f"Expected a whole number for a dimension, found '{tok}'.",
                _loc(path, source, tok.line, tok.column, tok.end_column),
                hint="Dimensions are whole numbers (like 3) or names bound by the data (like N).",
            ) from None
        if isinstance(inner, _NumberError):
            tok = inner.tok
            raise BnnError(
                f"The number {_short(str(tok))} is too large: it is beyond the range of a float (about 1.8e308).",
                _loc(path, source, tok.line, tok.column, tok.end_column),
                hint="Write a smaller number; rescale the quantity if it really is this large.",
            ) from None
        raise
    comments = tuple(_comment_sink.items)
    _comment_sink.items = []
    return t.Program(items, comments, path, source)


def _short(text: str, limit: int = 40) -> str:
    """A token's text for a message, cut to `limit` characters (a number can be thousands of digits long)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
                raise BnnError(
                    f"Brackets are nested more than {MAX_NESTING} deep.",
                    _loc(path, source, line, col),
                    hint="Split the expression into parameters or simplify it.",
                )
        elif ch in ")]}":
            depth = max(depth - 1, 0)


# ---------------------------------------------------------------- parse errors

_PUNCT_NAMES = {"$END": "the end of the file", "NAME": "a name", "NUMBER": "a number", "BASE_TYPE": "a type"}


def _describe_terminal(name: str) -> str:
    if name in _PUNCT_NAMES:
        return _PUNCT_NAMES[name]
    try:
        term = _parser().get_terminal(name)
    except KeyError:
        return name.lower()
    pattern = term.pattern
    if pattern.type == "str":
        return f"'{pattern.value}'"
    return name.lower()


def _describe_token(tok: Token) -> str:
    if tok.type == "$END":
        return "the end of the file"
    text = str(tok)
    if tok.type == "NAME":
        return f"the name '{text}'"
    if tok.type == "NUMBER":
        return f"the number {text}"
    return f"'{text}'"


_OPERATORS = {"'+'", "'-'", "'*'", "'/'", "'^'", "'['"}


def _expected_list(expected: set[str]) -> str:
    described = {_describe_terminal(e) for e in expected}
    names = sorted(described - _OPERATORS)
    if described & _OPERATORS and names:
        names.append("an operator")
    if len(names) > 8:
        names = names[:8] + ["..."]
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


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
        loc = _loc(path, source, err.line, err.column)
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
        return BnnError(f"Unexpected character '{shown}'.", loc, hint=hint)

    if isinstance(err, (UnexpectedToken, UnexpectedEOF)):
        tok = getattr(err, "token", None)
        expected = set(getattr(err, "expected", ()) or getattr(err, "accepts", ()) or ())
        at_end = tok is None or tok.type == "$END"
        if at_end:
            opened = _unclosed(source)
            if opened:
                line, col, ch = opened
                closer = {"(": ")", "[": "]", "{": "}"}[ch]
                return BnnError(
                    f"Expected '{closer}' to close the '{ch}' opened here, but the file ended.",
                    _loc(path, source, line, col),
                    hint=f"Add the missing '{closer}'.",
                )
            lines = source.rstrip().splitlines() or [""]
            line = len(lines)
            return BnnError(
                f"The file ended in the middle of a statement; expected {_expected_list(expected)}.",
                _loc(path, source, line, len(lines[-1]) + 1),
                hint="Finish the last statement.",
            )
        opened = _unclosed(source[: tok.start_pos])
        if opened and opened[0] < tok.line and str(tok) not in (")", "]", "}"):
            line, col, ch = opened
            closer = {"(": ")", "[": "]", "{": "}"}[ch]
            if ch != "{" or str(tok) in KEYWORDS:
                return BnnError(
                    f"Expected '{closer}' to close the '{ch}' opened here, found {_describe_token(tok)} "
                    f"at line {tok.line}.",
                    _loc(path, source, line, col),
                    hint=f"Add the missing '{closer}'.",
                )
        if str(tok) in (")", "]", "}") and _unmatched_closer(source[: tok.end_pos]):
            return BnnError(
                f"'{tok}' has no matching opening bracket.",
                _loc(path, source, tok.line, tok.column, tok.end_column),
                hint=f"Remove the extra '{tok}'.",
            )
        loc = _loc(path, source, tok.line, tok.column, tok.end_column)
        found = _describe_token(tok)
        inner = _unclosed(source[: tok.start_pos])
        if inner is not None and inner[2] in "([":
            # LALR merges the states after an expression, so a call's argument list "expects" statement
            # keywords too; inside brackets only the matching closer and what continues an expression are real
            closer = {"(": "RPAR", "[": "RSQB"}[inner[2]]
            drop = {"RPAR", "RSQB", "SEMICOLON", "RBRACE", "LBRACE", "$END"} - {closer}
            expected = {e for e in expected if e not in drop and e.lower().strip('"') not in RESERVED}
        message = f"Expected {_expected_list(expected)}, found {found}."
        in_parens = inner is not None and inner[2] in "(["
        return BnnError(message, loc, hint=_token_hint(tok, expected, in_parens))

    return BnnError(str(err), Location(path, 0), hint="Check the syntax near this point.")


def _token_hint(tok: Token, expected: set[str], in_parens: bool = False) -> str:
    text = str(tok)
    expected_text = {_describe_terminal(e) for e in expected}
    # LALR merges the states after an expression, so statement keywords can be "expected" inside a call too
    top_level = {f"'{k}'" for k in KEYWORDS} <= expected_text and not in_parens
    if tok.type == "NAME" and top_level:
        guess = did_you_mean(text, KEYWORDS)
        base = "A statement starts with import, data, param, network, gp, prior, observe or infer."
        return f"{guess} {base}" if guess else base
    if text in RESERVED and "a name" in expected_text:
        return f"'{text}' is a reserved word; choose another name."
    if text == "=" and "'~'" in expected_text:
        return "Give a distribution with '~', as in `param sigma ~ HalfNormal(1)`."
    if text == "~" and "'='" in expected_text:
        return "Set values with '=' here; '~' gives a distribution."
    if "','" in expected_text and tok.type in ("NAME", "NUMBER"):
        return "Separate arguments and dimensions with ','."
    if text == ")" and "a name" in expected_text:
        return "Remove the trailing ',' or add the missing argument."
    if "'->'" in expected_text:
        return "Declare the network's output, as in `network mlp(x) -> real[N] { ... }`."
    if text == "}" and "'value'" in expected_text:
        return "A prior definition ends with `value ~ Distribution(...)`."
    if "'('" in expected_text and tok.type != "NAME":
        return "A call needs its arguments in parentheses, as in `Normal(0, 1)`."
    if "'}'" in expected_text and tok.type == "NAME":
        return "Is a '}' missing before this, or a ';' between two statements?"
    if text in ("[", "]") or "']'" in expected_text:
        return "Shapes and indices look like x[N, D] and out[:, 0]."
    return "Check the statement around this point against the syntax in README.md."
