"""The canonical formatter behind `bnnc fmt`.

`format_program` prints a parsed `tree.Program` in the one canonical layout;
`format_source` parses source text and formats it. Formatting never changes
the meaning: the output parses to a tree equal to the input's (spans aside),
keeps every comment in its order, and formatting it again changes nothing.

Layout rules
------------
* Two spaces of indentation, one statement per line, no `;` separators.
* `data`, `network`, `prior` blocks and layer bodies open with ` {` on the
  statement line and close with `}` on a line of its own; an empty block with
  no comment inside prints as `data {}`.
* A layer body goes on one line, `dense(50, tanh) { weight ~ neal(); bias ~ Normal(0, 1) }`,
  when it holds only priors (no layers), the layer is not a `residual`,
  no comment sits inside it and the line fits in 100 columns; otherwise it
  is printed one statement per line.
* Children keep their source order (a layer's priors and inner layers, a
  network's `default` lines and layers), and so do top-level items.
* Blank lines: one blank line separates top-level items of different kinds
  and any two top-level items when one of them is a block (`data`, `network`,
  `prior`). A blank line of the source between two statements or comments is
  kept (runs of blank lines become one), except right after a `{`, right
  before a `}` and at the start of the file.
* Spacing: `a + b`, `a - b`, `a * b`, `a / b`, `a ^ b`, unary `-a`, `f(a, b)`,
  `out[:, 0]`, `x: real[N, D] in 0..K-1 from (a, b)`, `K = 3`, `param a[G] ~ ...`,
  `network mlp(x) -> real[N] {`, `default weight ~ neal()`, `value ~ ...`,
  `prior horseshoe(tau0 = 1.0) {`.
* Keyword arguments are written `name = value`, with spaces (as in
  `infer nuts(chains = 4)`); in calls and layer arguments they follow the
  positional arguments (the tree keeps them apart), in `infer` they keep
  their source order.
* Parentheses: only those the precedence needs. Loosest first: `+ -`, then
  `* /`, then unary `-`, then `^`, then indexing `x[...]`. `+ - * /` are
  left-associative (`a - (b - c)` keeps its parentheses, `(a - b) - c` loses
  them); `^` is right-associative and its right operand may be a unary minus
  (`2 ^ -1`); `-a ^ 2` means `-(a ^ 2)`.
* Numbers are printed as written (`Number.text`), so `1e-3` and `0.50` stay.
* Long lines are not wrapped.

Comments
--------
Every comment is kept, in order, with trailing whitespace removed.

* A comment on the line where a statement (or a block's closing `}`, or a
  block's header) ends, with nothing after the statement on that line, stays
  there as a trailing comment: `stmt  # text` (two spaces before `#`).
* Any other comment goes on a line of its own, at the indentation of the
  statement that follows it, just before that statement. A comment inside a
  statement that spans several lines, or inside a block's header, moves to a
  line of its own just before the statement or block.
* Comments after the last statement of a block stay inside the block, before
  its `}`; comments after the last item stay at the end of the file.
* A comment inside a layer body makes that body multi-line.

Only the standard library and `bnnlang.syntax` are used.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import tree as t

INDENT = "  "
MAX_INLINE_WIDTH = 100

__all__ = ["format_program", "format_source", "format_expr", "format_type", "INDENT", "MAX_INLINE_WIDTH"]

# ---------------------------------------------------------------- expressions

# Binding levels, loosest first; an operand printed where a tighter level is
# required gets parentheses.
_SUM, _PRODUCT, _UNARY, _POWER, _POSTFIX, _ATOM = range(1, 7)
_BINOP_LEVEL = {"+": _SUM, "-": _SUM, "*": _PRODUCT, "/": _PRODUCT, "^": _POWER}


def _level(e: t.Expr) -> int:
    if isinstance(e, t.BinOp):
        return _BINOP_LEVEL[e.op]
    if isinstance(e, t.Neg):
        return _UNARY
    if isinstance(e, t.Index):
        return _POSTFIX
    if isinstance(e, t.Number) and e.text.startswith("-"):
        return _UNARY  # only hand-built trees have signed literals in expressions
    return _ATOM


def format_expr(e: t.Expr, min_level: int = _SUM) -> str:
    """Print an expression with the fewest parentheses that keep its tree.

    `min_level` is the loosest binding level allowed at this position; a looser
    expression is wrapped in parentheses. One Python frame per tree level.
    """
    if isinstance(e, t.Number):
        text = e.text
    elif isinstance(e, t.Name):
        text = e.id
    elif isinstance(e, t.Call):
        text = f"{e.func}({_arg_list(e.args, e.kwargs)})"
    elif isinstance(e, t.Index):
        inner = ", ".join(":" if isinstance(i, t.SliceAll) else format_expr(i) for i in e.indices)
        text = f"{format_expr(e.base, _POSTFIX)}[{inner}]"
    elif isinstance(e, t.Neg):
        text = "-" + format_expr(e.operand, _UNARY)
    elif isinstance(e, t.BinOp):
        level = _BINOP_LEVEL[e.op]
        if e.op == "^":
            left, right = format_expr(e.left, _POSTFIX), format_expr(e.right, _UNARY)
        else:
            left, right = format_expr(e.left, level), format_expr(e.right, level + 1)
        text = f"{left} {e.op} {right}"
    else:  # pragma: no cover - the tree has no other expression nodes
        raise TypeError(f"not an expression: {e!r}")
    return f"({text})" if _level(e) < min_level else text


def _kwarg(k: t.KwArg) -> str:
    return f"{k.name} = {format_expr(k.value)}"


def _arg_list(args: tuple[t.Expr, ...], kwargs: tuple[t.KwArg, ...]) -> str:
    return ", ".join([format_expr(a) for a in args] + [_kwarg(k) for k in kwargs])


def _mixed_args(args: tuple[t.Expr | t.KwArg, ...]) -> str:
    return ", ".join(_kwarg(a) if isinstance(a, t.KwArg) else format_expr(a) for a in args)


def _shape(dims: tuple[t.Dim, ...]) -> str:
    return f"[{', '.join(str(d) for d in dims)}]" if dims else ""


def format_type(te: t.TypeExpr) -> str:
    """`real[N, D]`, `int[N] in 0..K-1`."""
    text = te.base + _shape(te.shape)
    if te.bound is not None:
        text += f" in {te.bound[0]}..{te.bound[1]}"
    if te.levels is not None:
        text += f" in ({', '.join(n.id for n in te.levels)})"
    return text


# ---------------------------------------------------------------- layout nodes


@dataclass
class _Node:
    """A statement or block, reduced to what layout needs.

    `first`/`last` are the source lines where it starts and ends (for a block,
    the line of its closing brace); `head_last` is where a block's header ends.
    """

    text: str
    first: int
    last: int
    children: list[_Node] | None = None  # None: a one-line statement
    head_last: int = 0
    inline: str | None = None  # a layer body that may be printed on one line


def _ordered(*groups) -> list:
    """Children in source order (stable, so unknown spans keep the tree's order)."""
    merged = [node for group in groups for node in group]
    return sorted(merged, key=lambda n: (n.span.line, n.span.column))


def _simple(text: str, span: t.Span) -> _Node:
    return _Node(text, span.line, span.end_line)


def _prior_assign(p: t.PriorAssign) -> str:
    return f"{'default ' if p.is_default else ''}{p.role} ~ {format_expr(p.rhs)}"


def _param(p: t.Param) -> str:
    return f"param {p.name}{_shape(p.shape)} ~ {format_expr(p.dist)}"


def _layer(layer: t.Layer) -> _Node:
    head = layer.kind
    if layer.has_args:
        head += f"({_arg_list(layer.args, layer.kwargs)})"
    if not layer.has_body:
        return _simple(head, layer.span)
    children = []
    for sub in _ordered(layer.priors, layer.layers):
        children.append(_layer(sub) if isinstance(sub, t.Layer) else _simple(_prior_assign(sub), sub.span))
    arg_lines = [a.span.end_line for a in (*layer.args, *layer.kwargs)]
    head_last = max([layer.span.line, *arg_lines])
    inline = None
    if not layer.layers and layer.kind != "residual":
        body = "; ".join(_prior_assign(p) for p in _ordered(layer.priors))
        inline = f"{head} {{ {body} }}" if body else f"{head} {{}}"
    return _Node(head, layer.span.line, layer.end_line or layer.span.end_line, children, head_last, inline)


def _item(item: t.Item) -> _Node:
    if isinstance(item, t.Import):
        names = ", ".join(n.id for n in item.names)
        return _simple(f"import {'.'.join(item.module)} ({names})", item.span)
    if isinstance(item, t.Param):
        return _simple(_param(item), item.span)
    if isinstance(item, t.GPDecl):
        text = f"gp {item.name}{_shape(item.shape) if item.shape else ''} ~ {format_expr(item.gp)} on "
        return _simple(text + format_expr(item.input), item.span)
    if isinstance(item, t.FunctionPrior):
        return _simple(f"prior {item.network} ~ {format_expr(item.gp)} at {format_expr(item.context)}", item.span)
    if isinstance(item, t.Observe):
        return _simple(f"observe {item.name} ~ {format_expr(item.dist)}", item.span)
    if isinstance(item, t.Infer):
        return _simple(f"infer {item.method}({_mixed_args(item.args)})", item.span)
    if isinstance(item, t.DataBlock):
        children = []
        for d in item.items:
            if isinstance(d, t.DimConst):
                children.append(_simple(f"{d.name} = {d.value.text}", d.span))
            else:
                text = f"{d.name}: {format_type(d.type)}"
                if d.columns is not None:
                    text += f" from ({', '.join(n.id for n in d.columns)})"
                if d.standardized:
                    text += " standardized"
                children.append(_simple(text, d.span))
        return _block("data", item, children, item.span.line)
    if isinstance(item, t.Network):
        head = f"network {item.name}({', '.join(item.inputs)}) -> {format_type(item.output)}"
        children = [
            _layer(n) if isinstance(n, t.Layer) else _simple(_prior_assign(n), n.span)
            for n in _ordered(item.defaults, item.layers)
        ]
        return _block(head, item, children, max(item.span.line, item.output.span.end_line))
    if isinstance(item, t.PriorDef):
        params = ", ".join(p.name if p.default is None else f"{p.name} = {p.default.text}" for p in item.params)
        children = [_simple(_param(p), p.span) for p in item.locals]
        children.append(_simple(f"value ~ {format_expr(item.value)}", item.value_span))
        head_last = max([item.span.line, *(p.span.end_line for p in item.params)])
        return _block(f"prior {item.name}({params})", item, children, head_last)
    raise TypeError(f"not a top-level item: {item!r}")  # pragma: no cover


def _block(head: str, item, children: list[_Node], head_last: int) -> _Node:
    return _Node(head, item.span.line, item.end_line or item.span.end_line, children, head_last)


def _separated(a: t.Item, b: t.Item) -> bool:
    """Whether canonical layout puts a blank line between top-level items a and b."""
    blocks = (t.DataBlock, t.Network, t.PriorDef)
    return type(a) is not type(b) or isinstance(a, blocks) or isinstance(b, blocks)


# ---------------------------------------------------------------- printing with comments

_END = 1 << 62  # a line after every line of the file


class _Printer:
    def __init__(self, program: t.Program) -> None:
        self.comments = sorted(program.comments, key=lambda c: (c.line, c.column))
        self.next = 0  # index of the first comment not yet printed
        self.out: list[str] = []
        # blanks[i]: how many of the source lines 1..i are empty (only whitespace)
        self.blanks = [0]
        for line in program.source.split("\n") if program.source else ():
            self.blanks.append(self.blanks[-1] + (not line.strip()))

    # -- source queries
    def _blank_between(self, a: int, b: int) -> bool:
        """Whether the source has an empty line strictly between lines a and b."""
        lo, hi = max(a, 0), min(b - 1, len(self.blanks) - 1)
        return hi > lo and self.blanks[hi] > self.blanks[lo]

    def _take_before(self, line: int) -> list[t.Comment]:
        taken = []
        while self.next < len(self.comments) and self.comments[self.next].line < line:
            taken.append(self.comments[self.next])
            self.next += 1
        return taken

    def _pending_before(self, line: int) -> bool:
        return self.next < len(self.comments) and self.comments[self.next].line < line

    def _trailing(self, line: int, next_line: int) -> str:
        """The comment ending source line `line`, when no other code follows on that line."""
        if next_line != line and self.next < len(self.comments) and self.comments[self.next].line == line:
            self.next += 1
            return "  " + _comment_text(self.comments[self.next - 1])
        return ""

    # -- output
    def _lines(self, flags: list[bool], texts: list[str], indent: str) -> None:
        for flag, text in zip(flags, texts):
            if flag:
                self.out.append("")
            self.out.append(indent + text)

    def node(self, node: _Node, indent: str, prev: int, first_blank: bool, force_blank: bool, next_line: int) -> int:
        """Print a node and the comments before it; return the source line it ends on."""
        block = node.children is not None
        leading = self._take_before(node.head_last if block else node.last)
        inline = None
        if block and node.inline is not None and not self._pending_before(node.last):
            if len(indent) + len(node.inline) <= MAX_INLINE_WIDTH:
                inline = node.inline
        # blank lines before each leading comment and before the node itself
        firsts = [c.line for c in leading] + [node.first]
        lasts = [prev] + [c.line for c in leading]
        flags = [(i > 0 or first_blank) and self._blank_between(lasts[i], firsts[i]) for i in range(len(firsts))]
        if force_blank and not any(flags):
            flags[0] = True
        self._lines(flags[:-1], [_comment_text(c) for c in leading], indent)
        if flags[-1]:
            self.out.append("")

        if not block or inline is not None:
            text = inline if inline is not None else node.text
            self.out.append(indent + text + self._trailing(node.last, next_line))
            return node.last

        children = node.children
        if not children and not self._pending_before(node.last):
            self.out.append(f"{indent}{node.text} {{}}" + self._trailing(node.last, next_line))
            return node.last
        first_token = children[0].first if children else node.last
        self.out.append(f"{indent}{node.text} {{" + self._trailing(node.head_last, first_token))
        inner = indent + INDENT
        prev = node.head_last
        for i, child in enumerate(children):
            after = children[i + 1].first if i + 1 < len(children) else node.last
            prev = self.node(child, inner, prev, i > 0, False, after)
        self.rest(node.last, inner, prev, bool(children))
        self.out.append(indent + "}" + self._trailing(node.last, next_line))
        return node.last

    def rest(self, before: int, indent: str, prev: int, first_blank: bool) -> None:
        """Print the comments left before source line `before` on lines of their own."""
        for i, c in enumerate(self._take_before(before)):
            if (i > 0 or first_blank) and self._blank_between(prev, c.line):
                self.out.append("")
            self.out.append(indent + _comment_text(c))
            prev = c.line


def _comment_text(c: t.Comment) -> str:
    return c.text.rstrip()


def format_program(program: t.Program) -> str:
    """The canonical text of a program: ends with one newline ("" for an empty file)."""
    printer = _Printer(program)
    items = program.items
    nodes = [_item(item) for item in items]
    prev = 0
    for i, node in enumerate(nodes):
        after = nodes[i + 1].first if i + 1 < len(nodes) else _END
        force = i > 0 and _separated(items[i - 1], items[i])
        prev = printer.node(node, "", prev, i > 0, force, after)
    printer.rest(_END, "", prev, bool(nodes))
    lines = printer.out
    return "\n".join(lines) + "\n" if lines else ""


def format_source(source: str, path: str = "<string>") -> str:
    """Parse `source` (raising BnnError on a syntax error) and return its canonical text."""
    from .parser import parse

    return format_program(parse(source, path))
