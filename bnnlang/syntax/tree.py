"""The typed syntax tree of a .bnn file.

Every node carries its source span; spans never take part in equality, so two
programs that differ only in layout (what `bnnc fmt` changes) compare equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from ..errors import Location, at


@dataclass(frozen=True)
class Span:
    """1-based line and column of a node's first and one-past-last character."""

    line: int
    column: int
    end_line: int
    end_column: int

    @staticmethod
    def unknown() -> Span:
        return Span(0, 0, 0, 0)


def _span() -> Span:
    return field(default_factory=Span.unknown, compare=False, repr=False)


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Number:
    value: float
    text: str
    span: Span = _span()

    @property
    def is_int(self) -> bool:
        return self.value == int(self.value) and "." not in self.text and "e" not in self.text.lower()


@dataclass(frozen=True)
class Name:
    id: str
    span: Span = _span()


@dataclass(frozen=True)
class KwArg:
    name: str
    value: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Call:
    """`f(a, b, k = c)`: a distribution, a function, a network or a stdlib prior."""

    func: str
    args: tuple[Expr, ...] = ()
    kwargs: tuple[KwArg, ...] = ()
    span: Span = _span()
    func_span: Span = _span()


@dataclass(frozen=True)
class SliceAll:
    span: Span = _span()


@dataclass(frozen=True)
class Index:
    base: Expr
    indices: tuple[Expr | SliceAll, ...]
    span: Span = _span()


@dataclass(frozen=True)
class BinOp:
    op: str  # one of + - * / ^
    left: Expr
    right: Expr
    span: Span = _span()


@dataclass(frozen=True)
class Neg:
    operand: Expr
    span: Span = _span()


Expr = Union[Number, Name, Call, Index, BinOp, Neg]


def walk(node):
    """Yield an expression and every sub-expression in it, depth first."""
    yield node
    if isinstance(node, Call):
        for child in list(node.args) + [kw.value for kw in node.kwargs]:
            yield from walk(child)
    elif isinstance(node, BinOp):
        yield from walk(node.left)
        yield from walk(node.right)
    elif isinstance(node, Neg):
        yield from walk(node.operand)
    elif isinstance(node, Index):
        yield from walk(node.base)
        for child in node.indices:
            yield from walk(child)


def names_in(node) -> list[str]:
    """Every identifier an expression or call reads (not the names of the functions it calls)."""
    return [n.id for n in walk(node) if isinstance(n, Name)]


# ---------------------------------------------------------------- dimensions and types


@dataclass(frozen=True)
class Dim:
    """A dimension: a literal size, a named size, or a named size plus or minus a literal."""

    name: str | None
    offset: int = 0
    span: Span = _span()

    def __str__(self) -> str:
        if self.name is None:
            return str(self.offset)
        if self.offset == 0:
            return self.name
        return f"{self.name}{'+' if self.offset > 0 else '-'}{abs(self.offset)}"


@dataclass(frozen=True)
class TypeExpr:
    base: str  # "real" | "int"
    shape: tuple[Dim, ...] = ()
    bound: tuple[Dim, Dim] | None = None
    span: Span = _span()
    levels: tuple[Name, ...] | None = None  # `in (north, south)`: a category's names, coded 0, 1, ...


# ---------------------------------------------------------------- statements


@dataclass(frozen=True)
class Import:
    module: tuple[str, ...]
    names: tuple[Name, ...]
    span: Span = _span()


@dataclass(frozen=True)
class DataDecl:
    name: str
    type: TypeExpr
    columns: tuple[Name, ...] | None = None
    span: Span = _span()
    standardized: bool = False  # centred and scaled with the training data's statistics (docs/language.md)


@dataclass(frozen=True)
class DimConst:
    name: str
    value: Number
    span: Span = _span()


@dataclass(frozen=True)
class DataBlock:
    items: tuple[DataDecl | DimConst, ...]
    span: Span = _span()
    end_line: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Param:
    name: str
    shape: tuple[Dim, ...]
    dist: Call
    span: Span = _span()


@dataclass(frozen=True)
class PriorAssign:
    """`weight ~ neal()` inside a layer body, or `default weight ~ ...` in a network."""

    role: str
    rhs: Call
    is_default: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class Layer:
    kind: str
    args: tuple[Expr, ...] = ()
    kwargs: tuple[KwArg, ...] = ()
    has_args: bool = False
    priors: tuple[PriorAssign, ...] = ()
    layers: tuple[Layer, ...] = ()
    has_body: bool = False
    span: Span = _span()
    end_line: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class Network:
    name: str
    inputs: tuple[str, ...]  # the first is what the layers start from; `concat(name)` brings in the others
    output: TypeExpr
    defaults: tuple[PriorAssign, ...]
    layers: tuple[Layer, ...]
    span: Span = _span()
    end_line: int = field(default=0, compare=False, repr=False)

    @property
    def input(self) -> str:
        return self.inputs[0]


@dataclass(frozen=True)
class PriorParam:
    name: str
    default: Number | None
    span: Span = _span()


@dataclass(frozen=True)
class PriorDef:
    """A reusable weight prior written in the language (see stdlib/priors.bnn)."""

    name: str
    params: tuple[PriorParam, ...]
    locals: tuple[Param, ...]
    value: Call
    span: Span = _span()
    end_line: int = field(default=0, compare=False, repr=False)
    value_span: Span = _span()


@dataclass(frozen=True)
class GPDecl:
    """`gp f[K] ~ GP(mean, kernel, ...) on input`: a Gaussian-process prior on a function of `input`'s rows."""

    name: str
    shape: tuple[Dim, ...]  # () for one function, (K,) for K independent ones
    gp: Call
    input: Expr  # a data matrix, or a network call (deep kernel learning)
    span: Span = _span()


@dataclass(frozen=True)
class FunctionPrior:
    """`prior net ~ GP(mean, kernel) at context(...)`: the GP's log density of the network's outputs at the
    context points joins the log joint, beside the network's weight priors."""

    network: str
    gp: Call
    context: Call
    span: Span = _span()


@dataclass(frozen=True)
class Observe:
    name: str
    dist: Call
    span: Span = _span()


@dataclass(frozen=True)
class Infer:
    method: str
    args: tuple[Expr | KwArg, ...]
    span: Span = _span()


Item = Union[Import, DataBlock, Param, Network, GPDecl, PriorDef, FunctionPrior, Observe, Infer]


@dataclass(frozen=True)
class Comment:
    text: str
    line: int
    column: int


@dataclass(frozen=True)
class Program:
    items: tuple[Item, ...]
    comments: tuple[Comment, ...] = field(default=(), compare=False, repr=False)
    path: str = field(default="<string>", compare=False, repr=False)
    source: str = field(default="", compare=False, repr=False)

    def at(self, span: Span) -> Location:
        """Where `span` lies in this file, with its line for the frame of a message."""
        return at(self.path, self.source, span)
