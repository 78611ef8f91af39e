"""The checker's environment: every name in scope and what the checks have learnt so far.

One `Env` per model. The checks read and extend it in program order (data, priors, params, GPs, observes,
networks); nothing else holds state between them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from ..errors import BnnWarning, Location
from ..syntax import tree as t
from ..syntax.parser import RESERVED
from . import messages as msg
from .distributions import DISTRIBUTIONS, FUNCTIONS
from .model import DataVar, Shape, Size


class Kind(Enum):
    """What a name in scope stands for."""

    DATA = "data"
    DIM = "dim"
    PARAM = "param"
    NETWORK = "network"
    PRIOR = "prior"
    LOCAL = "local"  # a prior definition's parameter or local param
    FAN = "fan"  # fan_in, fan_out inside a layer's prior
    GP = "gp"


@dataclass
class Entry:
    kind: Kind
    shape: Shape = ()
    span: t.Span = field(default_factory=t.Span.unknown)
    base: str = "real"


Scope = dict[str, Entry]


@dataclass(frozen=True)
class PriorSource:
    """A prior definition and the file it is written in: the model (module "") or an imported module."""

    module: str
    definition: t.PriorDef
    program: t.Program


@dataclass(frozen=True)
class NetworkInput:
    """What a network's first call feeds it: each input's shape without rows, where, and the data variable each
    is (None for a computed input), whose type says whether it holds token ids."""

    shapes: tuple[Shape, ...]
    span: t.Span
    datas: tuple[str | None, ...] = ()

    @property
    def shape(self) -> Shape:
        """The first input's: what the layers start from."""
        return self.shapes[0]

    @property
    def width(self) -> Size:
        """The width of a matrix input (0 for any other rank): what function-space priors and kernels read."""
        return self.shape[0] if len(self.shape) == 1 else 0


@dataclass
class Env:
    program: t.Program
    prior_defs: dict[str, PriorSource]
    scope: Scope = field(default_factory=dict)
    consts: dict[str, int] = field(default_factory=dict)
    data: dict[str, DataVar] = field(default_factory=dict)
    param_shapes: dict[str, Shape] = field(default_factory=dict)
    network_nodes: dict[str, t.Network] = field(default_factory=dict)
    network_calls: dict[str, NetworkInput] = field(default_factory=dict)  # what the first call fed it
    used_data: set[str] = field(default_factory=set)
    used_priors: set[str] = field(default_factory=set)
    warnings: list[BnnWarning] = field(default_factory=list)

    def at(self, span: t.Span) -> Location:
        """Where `span` is in the model file: what the catalogue's constructors take."""
        return self.program.at(span)

    def warn(self, warning: BnnWarning) -> None:
        self.warnings.append(warning)

    def names(self, *kinds: Kind) -> list[str]:
        return [n for n, e in self.scope.items() if e.kind in kinds]

    def is_kind(self, name: str, kind: Kind) -> bool:
        entry = self.scope.get(name)
        return entry is not None and entry.kind is kind

    def define(self, name: str, entry: Entry) -> None:
        if name in RESERVED:
            raise msg.reserved_word(self.at(entry.span), name)
        if name in self.scope:
            raise msg.already_defined(self.at(entry.span), name, self.scope[name].span.line)
        if name in ("fan_in", "fan_out"):  # a model-level name would be hidden inside every layer prior
            raise msg.fan_name_taken(self.at(entry.span), name)
        if name in DISTRIBUTIONS or name in FUNCTIONS:
            raise msg.builtin_name(self.at(entry.span), name, distribution=name in DISTRIBUTIONS)
        self.scope[name] = entry

    def size_of(self, dim: t.Dim) -> Size:
        """A declared dimension as a size: constants become numbers, names stay symbolic."""
        if dim.name is None:
            return dim.offset
        if dim.name in self.consts:
            return self.consts[dim.name] + dim.offset
        return str(dim)
