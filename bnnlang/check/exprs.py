"""Expressions, calls and distributions: their shapes, and arguments bound to signatures.

`Exprs` checks the expressions of one file (the model, or an imported module whose prior definitions are being
checked) against a scope; errors are located in that file. Shapes broadcast as NumPy's do, symbolically.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import BnnError, plural, suggest
from ..syntax import tree as t
from .distributions import DISTRIBUTIONS, FUNCTIONS, POSITIVE_PARAMS, DistSpec, KernelSpec
from .env import Env, Kind, Scope
from .model import DataVar, Shape, Size, shape_str


@dataclass(frozen=True)
class Signature:
    """What a call is bound against: a distribution's, a kernel's or a prior definition's parameters."""

    label: str  # how messages name the callee: "Normal", "prior 'neal'"
    params: tuple[str, ...]  # positional order
    required: frozenset[str]
    text: str  # the signature as hints show it
    alternatives: dict[str, str] = field(default_factory=dict)  # keyword-only alternative name -> the param
    defaults: dict[str, t.Expr] = field(default_factory=dict)  # filled in when not given (prior definitions)

    @property
    def title(self) -> str:
        return self.label[0].upper() + self.label[1:]

    @classmethod
    def of_spec(cls, spec: DistSpec | KernelSpec) -> Signature:
        return cls(spec.name, spec.params, frozenset(spec.params[: spec.required]), spec.signature(), spec.alternatives)

    @classmethod
    def of_prior(cls, pdef: t.PriorDef) -> Signature:
        text = f"{pdef.name}({', '.join(p.name + (' = ' + p.default.text if p.default else '') for p in pdef.params)})"
        return cls(
            f"prior '{pdef.name}'",
            tuple(p.name for p in pdef.params),
            frozenset(p.name for p in pdef.params if p.default is None),
            text,
            defaults={p.name: p.default for p in pdef.params if p.default is not None},
        )


def broadcast(a: Shape, b: Shape) -> tuple[bool, Shape]:
    out: list[Size] = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            return False, ()
    return True, tuple(reversed(out))


def number(e: t.Expr) -> float | None:
    """The value of a literal number, negated or not; None for anything else."""
    if isinstance(e, t.Number):
        return e.value
    if isinstance(e, t.Neg) and isinstance(e.operand, t.Number):
        return -e.operand.value
    return None


class Exprs:
    """Checks the expressions written in `program` (the model, or an imported module) against `env`'s names."""

    def __init__(self, env: Env, program: t.Program | None = None) -> None:
        self.env = env
        self.program = program or env.program

    def error(self, message: str, span: t.Span, hint: str | None = None) -> BnnError:
        return BnnError(message, self.program.at(span), hint or "See docs/language.md for what this construct accepts.")

    # ---------------------------------------------------------- binding
    def bind(self, call: t.Call, sig: Signature) -> dict[str, t.Expr]:
        """The call's arguments by parameter name (an alternative keyword, e.g. `logits`, keeps its own name)."""
        hint = f"Signature: {sig.text}."
        if len(call.args) > len(sig.params):
            raise self.error(
                f"{sig.title} takes at most {plural(len(sig.params), 'argument')}; got {len(call.args)}.",
                call.span,
                hint,
            )
        bound: dict[str, t.Expr] = dict(zip(sig.params, call.args))
        for kw in call.kwargs:
            pname = sig.alternatives.get(kw.name, kw.name)
            if pname not in sig.params:
                raise self.error(
                    f"{sig.title} has no argument '{kw.name}'.",
                    kw.span,
                    suggest(kw.name, list(sig.params) + list(sig.alternatives), then=hint),
                )
            if pname in bound or kw.name in bound or any(sig.alternatives.get(k) == pname for k in bound):
                raise self.error(f"Argument '{pname}' of {sig.label} is given twice.", kw.span, hint)
            bound[kw.name] = kw.value
        given = {sig.alternatives.get(k, k) for k in bound}
        missing = [p for p in sig.params if p in sig.required and p not in given]
        if missing:
            raise self.error(f"{sig.title} needs {', '.join(missing)}.", call.span, hint)
        for name, value in sig.defaults.items():
            bound.setdefault(name, value)
        return bound

    # ---------------------------------------------------------- shapes
    def shape(self, expr: t.Expr, scope: Scope, forbid_networks: bool = False) -> Shape:
        if isinstance(expr, t.Number):
            return ()
        if isinstance(expr, t.Name):
            return self._name(expr, scope, forbid_networks)
        if isinstance(expr, t.Neg):
            return self.shape(expr.operand, scope, forbid_networks)
        if isinstance(expr, t.BinOp):
            left = self.shape(expr.left, scope, forbid_networks)
            right = self.shape(expr.right, scope, forbid_networks)
            ok, result = broadcast(left, right)
            if not ok:
                raise self.error(
                    f"Shapes {shape_str(left)} and {shape_str(right)} do not broadcast in '{expr.op}'.",
                    expr.span,
                    "Element-wise arithmetic needs equal sizes or a size of 1 on each axis.",
                )
            return result
        if isinstance(expr, t.Index):
            return self._index(expr, scope, forbid_networks)
        if isinstance(expr, t.Call):
            return self._call(expr, scope, forbid_networks)
        raise AssertionError(f"unknown expression {expr!r}")

    def _name(self, expr: t.Name, scope: Scope, forbid_networks: bool) -> Shape:
        entry = scope.get(expr.id)
        if entry is None:
            raise self.error(
                f"Unknown name '{expr.id}'.",
                expr.span,
                suggest(
                    expr.id,
                    [n for n, e in scope.items() if e.kind not in (Kind.NETWORK, Kind.PRIOR)],
                    otherwise="Names must be declared as data, dimensions or params before use.",
                ),
            )
        if entry.kind in (Kind.NETWORK, Kind.PRIOR):
            network = entry.kind is Kind.NETWORK
            raise self.error(
                f"'{expr.id}' is a {'network' if network else 'prior'}; it must be called.",
                expr.span,
                f"Call it, as in `{expr.id}(x)`." if network else "Use it after '~' on a weight.",
            )
        if entry.kind is Kind.GP and forbid_networks:
            raise self.error(
                f"'{expr.id}' is a Gaussian process; only observe statements can use it.",
                expr.span,
                "Priors of params and GP settings cannot depend on a GP's values.",
            )
        if entry.kind is Kind.DATA:
            self.env.used_data.add(expr.id)
        return entry.shape

    def _index(self, expr: t.Index, scope: Scope, forbid_networks: bool) -> Shape:
        base = self.shape(expr.base, scope, forbid_networks)
        if len(expr.indices) > len(base):
            raise self.error(
                f"Too many indices: the value has shape {shape_str(base)}.",
                expr.span,
                "Index each axis at most once, e.g. out[:, 0].",
            )
        out: list[Size] = []
        for axis, idx in enumerate(expr.indices):
            if isinstance(idx, t.SliceAll):
                out.append(base[axis])
                continue
            if isinstance(idx, t.Number):
                if not idx.is_int or idx.value < 0:
                    raise self.error("An index must be a whole number from 0.", idx.span)
                if isinstance(base[axis], int) and idx.value >= base[axis]:
                    raise self.error(
                        f"Index {int(idx.value)} is out of range for an axis of size {base[axis]}.",
                        idx.span,
                        f"Indices run from 0 to {base[axis] - 1}.",
                    )
                continue
            ishape = self.shape(idx, scope, forbid_networks)
            if not (isinstance(idx, t.Name) and scope.get(idx.id) and scope[idx.id].base == "int"):
                raise self.error(
                    "An index must be a whole number, ':' or an int data variable.",
                    idx.span,
                    "Group effects look like `a[group]` with `group: int[N] in 0..G-1`.",
                )
            out.extend(ishape)
        out.extend(base[len(expr.indices) :])
        return tuple(out)

    def _call(self, call: t.Call, scope: Scope, forbid_networks: bool) -> Shape:
        entry = scope.get(call.func)
        if call.func in FUNCTIONS and entry is None:
            if len(call.args) != 1 or call.kwargs:
                raise self.error(f"{call.func} takes one argument.", call.span, f"Write `{call.func}(x)`.")
            return self.shape(call.args[0], scope, forbid_networks)
        if entry is not None and entry.kind is Kind.NETWORK:
            if forbid_networks:
                raise self.error(
                    f"Network '{call.func}' can only be used in observe statements.",
                    call.span,
                    "Priors of params cannot depend on network outputs.",
                )
            return self.network_call(call, scope)
        if call.func in DISTRIBUTIONS:
            raise self.error(
                f"Distribution '{call.func}' can only appear after '~'.",
                call.func_span,
                "Use a param: `param z ~ Normal(0, 1)`, then use z in the expression.",
            )
        if entry is not None and entry.kind is Kind.PRIOR:
            raise self.error(
                f"'{call.func}' is a prior; it can only appear after '~' on a weight or bias.",
                call.func_span,
            )
        networks = [n for n, e in scope.items() if e.kind is Kind.NETWORK]
        raise self.error(
            f"Unknown function '{call.func}'.",
            call.func_span,
            suggest(
                call.func,
                list(FUNCTIONS) + networks,
                otherwise=f"Functions: {', '.join(FUNCTIONS)}; or a network defined in this file.",
            ),
        )

    def network_call(self, call: t.Call, scope: Scope) -> Shape:
        """A network's output shape; the first call fixes its input width, later calls must agree."""
        net = self.env.network_nodes[call.func]
        if len(call.args) != 1 or call.kwargs:
            raise self.error(
                f"Network '{net.name}' takes one input; got {len(call.args) + len(call.kwargs)}.",
                call.span,
                f"Call it as `{net.name}(x)`.",
            )
        arg = self.shape(call.args[0], scope)
        if len(arg) != 2:
            raise self.error(
                f"A network's input must be a matrix [rows, features]; this one has shape {shape_str(arg)}.",
                call.args[0].span,
                "Declare the input as a matrix, e.g. `x: real[N, 1]` for one feature.",
            )
        prev = self.env.network_calls.get(net.name)
        if prev is not None and prev[0] != arg[1]:
            raise self.error(
                f"Network '{net.name}' was called with {prev[0]} features at line {prev[1].line}, here with {arg[1]}.",
                call.span,
                "A network's weights fix its input width.",
            )
        self.env.network_calls.setdefault(net.name, (arg[1], call.span))
        out = tuple(self.env.size_of(d) for d in net.output.shape)
        return (arg[0],) + out[1:]

    # ---------------------------------------------------------- distributions
    def dist(
        self,
        call: t.Call,
        scope: Scope,
        target: Shape | None,
        role: str,
        forbid_networks: bool = False,
        observed: DataVar | None = None,
    ) -> DistSpec:
        """Check a distribution: a known name, its arguments, and (given `target`) that it fits the target's
        shape. `role` names the target in messages."""
        spec = self._spec(call, scope)
        bound = self.bind(call, Signature.of_spec(spec))
        shapes: dict[str, Shape] = {}
        for pname, expr in bound.items():
            shapes[pname] = self.shape(expr, scope, forbid_networks)
            if pname in POSITIVE_PARAMS and isinstance(expr, t.Number) and expr.value <= 0:
                raise self.error(
                    f"{spec.name}'s {pname} must be positive; got {expr.text}.",
                    expr.span,
                    f"Signature: {spec.signature()}.",
                )
            if pname in POSITIVE_PARAMS and isinstance(expr, t.Neg) and isinstance(expr.operand, t.Number):
                raise self.error(
                    f"{spec.name}'s {pname} must be positive.", expr.span, f"Signature: {spec.signature()}."
                )
        if spec.name == "Uniform":
            lo, hi = number(bound["low"]), number(bound["high"])
            if isinstance(bound["low"], t.Number) and isinstance(bound["high"], t.Number) and lo >= hi:
                raise self.error(
                    "Uniform's low must be below its high.", call.span, "Write Uniform(low, high) with low < high."
                )
        batch, event = self._batch_shapes(spec, bound, shapes)
        if target is not None:
            self._fits_target(spec, call, bound, batch, event, target, role, observed)
        return spec

    def _spec(self, call: t.Call, scope: Scope) -> DistSpec:
        spec = DISTRIBUTIONS.get(call.func)
        if spec is not None:
            return spec
        entry = scope.get(call.func)
        if (entry is not None and entry.kind is Kind.NETWORK) or call.func in FUNCTIONS:
            what = "a network" if entry is not None and entry.kind is Kind.NETWORK else "a function"
            raise self.error(
                f"Expected a distribution after '~', found {what} '{call.func}'.",
                call.func_span,
                f"Wrap it in a distribution, as in `Normal({call.func}(...), sigma)`.",
            )
        raise self.error(
            f"Unknown distribution '{call.func}'.",
            call.func_span,
            suggest(call.func, DISTRIBUTIONS, otherwise="Distributions: " + ", ".join(DISTRIBUTIONS) + "."),
        )

    def _batch_shapes(
        self, spec: DistSpec, bound: dict[str, t.Expr], shapes: dict[str, Shape]
    ) -> tuple[list[tuple[str, Shape]], Shape]:
        """Each argument's batch shape (vector parameters drop their last, event axis), and the event shape."""
        batch: list[tuple[str, Shape]] = []
        event: Shape = ()
        for pname, shp in shapes.items():
            if pname in spec.vector_params:
                if not shp:
                    if spec.name == "Dirichlet":
                        continue
                    raise self.error(
                        f"{spec.name}'s {pname} must be a vector (one entry per category), got a scalar.",
                        bound[pname].span,
                        "Give it a network output with one column per class, e.g. `logits = net(x)` "
                        "with `-> real[N, K]`.",
                    )
                event = shp[-1:]
                shp = shp[:-1]
            batch.append((pname, shp))
        return batch, event

    def _fits_target(
        self,
        spec: DistSpec,
        call: t.Call,
        bound: dict[str, t.Expr],
        batch: list[tuple[str, Shape]],
        event: Shape,
        target: Shape,
        role: str,
        observed: DataVar | None,
    ) -> None:
        tgt_batch = target[: len(target) - spec.event_rank] if spec.event_rank else target
        if spec.event_rank:
            if not target:
                raise self.error(
                    f"{spec.name} draws a vector; give '{role}' a shape such as [K].",
                    call.span,
                    "Write `param p[K] ~ Dirichlet(1)`.",
                )
            if event and event[0] != target[-1]:
                raise self.error(
                    f"{spec.name}'s concentration has {event[0]} entries but the target has {target[-1]}.",
                    call.span,
                )
        for pname, shp in batch:
            ok, result = broadcast(shp, tgt_batch)
            if not ok or tuple(result) != tuple(tgt_batch):
                what = f"'{observed.name}'" if observed else f"the {role}"
                from_network = any(n in self.env.network_nodes for n in _called(bound[pname]))
                raise self.error(
                    f"{spec.name}'s {pname} has shape {shape_str(shp)}, which does not fit {what} of shape "
                    f"{shape_str(tgt_batch)}.",
                    bound[pname].span,
                    _shape_hint(shp, tgt_batch, from_network),
                )
        if observed is not None and spec.name == "Categorical" and event:
            if observed.bound is not None and observed.bound[1] != _minus_one(event[0]):
                raise self.error(
                    f"Categorical's logits have {event[0]} columns but '{observed.name}' is declared in "
                    f"{observed.bound[0]}..{observed.bound[1]}.",
                    call.span,
                    f"Declare `{observed.name}: int[...] in 0..{_minus_one(event[0])}`.",
                )


def _called(expr: t.Expr) -> list[str]:
    return [n.func for n in t.walk(expr) if isinstance(n, t.Call)]


def _minus_one(size: Size) -> Size:
    return size - 1 if isinstance(size, int) else f"{size}-1"


def _shape_hint(shape: Shape, target: Shape, from_network: bool = True) -> str:
    if from_network and len(shape) == len(target) + 1 and shape[-1] == 1:
        return "A network whose output is declared `-> real[N]` gives one value per row; check the declaration."
    if len(shape) == 2 and len(target) == 1:
        return "Pick one column, e.g. out[:, 0], or declare the network's output as real[N]."
    return "The arguments must broadcast to the observed or declared shape without growing it."
