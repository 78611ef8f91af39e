"""What a layer kind is: its arguments, the rule from its input shape to its output shape and sampled sites, and
the JAX code it compiles to. Each kind is one module of this package and one entry of `LAYERS`; the network
checker, code generation, the language server and the starts read the table and never test a layer's name.

Shapes here leave out the rows axis: a layer on `img: real[N, 8, 8, 1]` sees (8, 8, 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from ...errors import Location
from ...syntax import tree as t
from .. import layer_messages as msg
from ..distributions import ACTIVATIONS
from ..model import Layer, Shape, Site, Size

REQUIRED = object()


@dataclass(frozen=True)
class Arg:
    """One argument of a layer: `count` is a whole number >= 1, `size` also takes a dimension name (a width
    the data fix), `counts` takes every positional argument as counts, `activation` an activation's name,
    `choice` one of `choices`, `flag` true or false. `shown` is the default as the signature says it."""

    name: str
    kind: str
    default: object = REQUIRED
    choices: tuple[str, ...] = ()
    shown: str | None = None


@dataclass
class Call:
    """A layer as written, with its arguments bound and the shape that reaches it; `at` locates messages."""

    node: t.Layer
    args: dict[str, object]
    in_shape: Shape
    in_base: str  # "real", or "int" for token ids (only an embedding takes them)
    tokens: Size | None  # the ids' range 0..tokens-1 when in_base is "int"
    locate: Callable[[t.Span], Location]
    spans: dict[str, t.Span] = field(default_factory=dict)

    @property
    def at(self) -> Location:
        return self.locate(self.node.span)

    def arg_at(self, name: str) -> Location:
        return self.locate(self.spans.get(name, self.node.span))


@dataclass(frozen=True)
class Built:
    out_shape: Shape
    sites: tuple[Site, ...] = ()


@dataclass(frozen=True)
class LayerKind:
    """`build` checks a call against its input shape; `code` gives the statements that map `h` (the layer's
    input, rows first) to its output in the generated program; `helpers` are functions those statements call,
    emitted once per program from the module that defines them."""

    name: str
    doc: str
    args: tuple[Arg, ...]
    build: Callable[[Call], Built]
    code: Callable[[Layer, str], list[str]]
    helpers: tuple[str, ...] = ()
    takes_priors: bool = False  # a body `{ weight ~ ... }` is allowed
    label: str = "Layer"  # how messages name it
    expand: Callable[[Call], tuple[t.Layer, ...]] | None = None  # a block of other layers (a transformer)
    offered: bool = True  # False: known only to be refused with a reason (batchnorm); editors do not offer it

    def signature(self) -> str:
        return f"{self.name}({', '.join(_shown(a) for a in self.args)})" if self.args else self.name


def _shown(arg: Arg) -> str:
    if arg.kind == "counts":
        return f"{arg.name}..."
    if arg.default is REQUIRED:
        return arg.name
    value = arg.shown or arg.default
    return f"{arg.name} = {str(value).lower() if isinstance(value, bool) else value}"


def param(layer: Layer, site: str) -> str:
    """The generated code's expression for one of the layer's sampled arrays."""
    return f'_p["{layer.path}.{site}"]'


def need_real(call: Call) -> None:
    if call.in_base != "real":
        raise msg.int_input(call.at, call.node.kind)


def need_rank(call: Call, ranks: tuple[int, ...], what: str) -> None:
    """The input's rank (rows left out) must be one of `ranks`; `what` says what those axes are."""
    need_real(call)
    if len(call.in_shape) not in ranks:
        raise msg.input_rank(call.at, call.node.kind, call.in_shape, what)


def known(call: Call, shape: Shape) -> tuple[int, ...]:
    """Sizes this layer computes with must be numbers: a dimension only the data fix would leave the output
    shape unknown until run time."""
    for s in shape:
        if not isinstance(s, int):
            raise msg.size_from_data(call.at, call.node.kind, s)
    return tuple(int(s) for s in shape)


def product(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def weight_bias(
    shape: Shape, fan_in: Size, fan_out: Size, units: Size, axes: tuple[str, ...], prefix: str = ""
) -> tuple[Site, Site]:
    """A weight of `shape` (its last axis the units) and a bias per unit."""
    return (
        Site(f"{prefix}weight", "weight", shape, fan_in, fan_out, axes),
        Site(f"{prefix}bias", "bias", (units,), fan_in, fan_out, (axes[-1],)),
    )


ACTIVATION_NAMES = tuple(ACTIVATIONS)


def activate(activation: str, expr: str) -> str:
    fn = ACTIVATIONS[activation]
    return f"{fn}({expr})" if fn else expr
