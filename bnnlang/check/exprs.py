"""Expressions, calls and distributions: their shapes, and arguments bound to signatures.

`Exprs` checks the expressions of one file (the model, or an imported module whose prior definitions are being
checked) against a scope; errors are located in that file. Shapes broadcast as NumPy's do, symbolically.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import Location
from ..syntax import tree as t
from . import messages as msg
from .distributions import DISTRIBUTIONS, FUNCTIONS, POSITIVE_PARAMS, DistSpec, KernelSpec
from .env import Env, Kind, NetworkInput, Scope
from .model import DataVar, Shape, Size


@dataclass(frozen=True)
class Signature:
    """What a call is bound against: a distribution's, a kernel's or a prior definition's parameters."""

    label: str  # how messages name the callee: "Normal", "prior 'neal'" (messages.prior_label)
    params: tuple[str, ...]  # positional order
    required: frozenset[str]
    text: str  # the signature as hints show it
    alternatives: dict[str, str] = field(default_factory=dict)  # keyword-only alternative name -> the param
    defaults: dict[str, t.Expr] = field(default_factory=dict)  # filled in when not given (prior definitions)

    @classmethod
    def of_spec(cls, spec: DistSpec | KernelSpec) -> Signature:
        return cls(spec.name, spec.params, frozenset(spec.params[: spec.required]), spec.signature(), spec.alternatives)

    @classmethod
    def of_prior(cls, pdef: t.PriorDef) -> Signature:
        params = [(p.name, p.default.text if p.default is not None else None) for p in pdef.params]
        return cls(
            msg.prior_label(pdef.name),
            tuple(p.name for p in pdef.params),
            frozenset(p.name for p in pdef.params if p.default is None),
            msg.prior_signature(pdef.name, params),
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

    def at(self, span: t.Span) -> Location:
        """Where `span` is in the file being checked: what the catalogue's constructors take."""
        return self.program.at(span)

    # ---------------------------------------------------------- binding
    def bind(self, call: t.Call, sig: Signature) -> dict[str, t.Expr]:
        """The call's arguments by parameter name (an alternative keyword, e.g. `logits`, keeps its own name)."""
        if len(call.args) > len(sig.params):
            raise msg.too_many_arguments(self.at(call.span), sig.label, len(sig.params), len(call.args), sig.text)
        bound: dict[str, t.Expr] = dict(zip(sig.params, call.args))
        for kw in call.kwargs:
            pname = sig.alternatives.get(kw.name, kw.name)
            if pname not in sig.params:
                candidates = list(sig.params) + list(sig.alternatives)
                raise msg.no_such_argument(self.at(kw.span), sig.label, kw.name, candidates, sig.text)
            if pname in bound or kw.name in bound or any(sig.alternatives.get(k) == pname for k in bound):
                raise msg.argument_twice(self.at(kw.span), sig.label, pname, sig.text)
            bound[kw.name] = kw.value
        given = {sig.alternatives.get(k, k) for k in bound}
        missing = [p for p in sig.params if p in sig.required and p not in given]
        if missing:
            raise msg.missing_arguments(self.at(call.span), sig.label, missing, sig.text)
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
                raise msg.shapes_do_not_broadcast(self.at(expr.span), left, right, expr.op)
            return result
        if isinstance(expr, t.Index):
            return self._index(expr, scope, forbid_networks)
        if isinstance(expr, t.Call):
            return self._call(expr, scope, forbid_networks)
        raise AssertionError(f"unknown expression {expr!r}")

    def _name(self, expr: t.Name, scope: Scope, forbid_networks: bool) -> Shape:
        entry = scope.get(expr.id)
        if entry is None:
            values = [n for n, e in scope.items() if e.kind not in (Kind.NETWORK, Kind.PRIOR)]
            raise msg.unknown_name(self.at(expr.span), expr.id, values)
        if entry.kind in (Kind.NETWORK, Kind.PRIOR):
            raise msg.not_called(self.at(expr.span), expr.id, network=entry.kind is Kind.NETWORK)
        if entry.kind is Kind.GP and forbid_networks:
            raise msg.gp_outside_observe(self.at(expr.span), expr.id)
        if entry.kind is Kind.DATA:
            self.env.used_data.add(expr.id)
        return entry.shape

    def _index(self, expr: t.Index, scope: Scope, forbid_networks: bool) -> Shape:
        base = self.shape(expr.base, scope, forbid_networks)
        if len(expr.indices) > len(base):
            raise msg.too_many_indices(self.at(expr.span), base)
        out: list[Size] = []
        for axis, idx in enumerate(expr.indices):
            if isinstance(idx, t.SliceAll):
                out.append(base[axis])
                continue
            if isinstance(idx, t.Number):
                if not idx.is_int or idx.value < 0:
                    raise msg.index_not_whole(self.at(idx.span))
                if isinstance(base[axis], int) and idx.value >= base[axis]:
                    raise msg.index_out_of_range(self.at(idx.span), int(idx.value), base[axis])
                continue
            ishape = self.shape(idx, scope, forbid_networks)
            if not (isinstance(idx, t.Name) and scope.get(idx.id) and scope[idx.id].base == "int"):
                raise msg.bad_index(self.at(idx.span))
            out.extend(ishape)
        out.extend(base[len(expr.indices) :])
        return tuple(out)

    def _call(self, call: t.Call, scope: Scope, forbid_networks: bool) -> Shape:
        entry = scope.get(call.func)
        if call.func in FUNCTIONS and entry is None:
            if len(call.args) != 1 or call.kwargs:
                raise msg.function_arity(self.at(call.span), call.func)
            return self.shape(call.args[0], scope, forbid_networks)
        if entry is not None and entry.kind is Kind.NETWORK:
            if forbid_networks:
                raise msg.network_outside_observe(self.at(call.span), call.func)
            return self.network_call(call, scope)
        if call.func in DISTRIBUTIONS:
            raise msg.distribution_outside_tilde(self.at(call.func_span), call.func)
        if entry is not None and entry.kind is Kind.PRIOR:
            raise msg.prior_outside_tilde(self.at(call.func_span), call.func)
        networks = [n for n, e in scope.items() if e.kind is Kind.NETWORK]
        raise msg.unknown_function(self.at(call.func_span), call.func, FUNCTIONS, networks)

    def network_call(self, call: t.Call, scope: Scope) -> Shape:
        """A network's output shape; the first call fixes its input width, later calls must agree."""
        net = self.env.network_nodes[call.func]
        if len(call.args) != len(net.inputs) or call.kwargs:
            got = len(call.args) + len(call.kwargs)
            raise msg.network_arity(self.at(call.span), net.name, got, net.inputs)
        shapes, datas = [], []
        for expr in call.args:
            arg = self.shape(expr, scope)
            data = expr.id if isinstance(expr, t.Name) and expr.id in self.env.data else None
            tokens = data is not None and self.env.data[data].base == "int"
            if len(arg) < (1 if tokens else 2):
                raise msg.network_input_not_matrix(self.at(expr.span), arg)
            if shapes and arg[0] != shapes[0][0]:
                raise msg.network_inputs_rows(self.at(expr.span), net.name, shapes[0][0], arg[0])
            shapes.append(arg)
            datas.append(data)
        fed = NetworkInput(tuple(s[1:] for s in shapes), call.span, tuple(datas))
        prev = self.env.network_calls.get(net.name)
        if prev is not None and prev.shapes != fed.shapes:
            i = next(i for i, (a, b) in enumerate(zip(prev.shapes, fed.shapes)) if a != b)
            first, here = _features(prev.shapes[i]), _features(fed.shapes[i])
            raise msg.network_width_changed(self.at(call.span), net.name, first, prev.span.line, here)
        self.env.network_calls.setdefault(net.name, fed)
        out = tuple(self.env.size_of(d) for d in net.output.shape)
        return (shapes[0][0],) + out[1:]

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
                raise msg.argument_not_positive(self.at(expr.span), spec.name, pname, expr.text, spec.signature())
            if pname in POSITIVE_PARAMS and isinstance(expr, t.Neg) and isinstance(expr.operand, t.Number):
                raise msg.argument_not_positive(self.at(expr.span), spec.name, pname, None, spec.signature())
        if spec.name == "Uniform":
            lo, hi = number(bound["low"]), number(bound["high"])
            if isinstance(bound["low"], t.Number) and isinstance(bound["high"], t.Number) and lo >= hi:
                raise msg.low_not_below_high(self.at(call.span), "Uniform")
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
            network = entry is not None and entry.kind is Kind.NETWORK
            raise msg.expected_distribution(self.at(call.func_span), call.func, network)
        raise msg.unknown_distribution(self.at(call.func_span), call.func, DISTRIBUTIONS)

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
                    raise msg.vector_argument_scalar(self.at(bound[pname].span), spec.name, pname)
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
                raise msg.vector_target_scalar(self.at(call.span), spec.name, role)
            if event and event[0] != target[-1]:
                raise msg.concentration_size(self.at(call.span), spec.name, event[0], target[-1])
        for pname, shp in batch:
            ok, result = broadcast(shp, tgt_batch)
            if not ok or tuple(result) != tuple(tgt_batch):
                from_network = any(n in self.env.network_nodes for n in _called(bound[pname]))
                raise msg.argument_shape(
                    self.at(bound[pname].span),
                    spec.name,
                    pname,
                    shp,
                    tgt_batch,
                    observed.name if observed else None,
                    role,
                    from_network,
                )
        if observed is not None and spec.name == "Categorical" and event:
            last_label = _minus_one(event[0])
            if observed.bound is not None and observed.bound[1] != last_label:
                raise msg.categorical_columns(self.at(call.span), event[0], observed.name, observed.bound, last_label)


def _called(expr: t.Expr) -> list[str]:
    return [n.func for n in t.walk(expr) if isinstance(n, t.Call)]


def _minus_one(size: Size) -> Size:
    return size - 1 if isinstance(size, int) else f"{size}-1"


def _features(shape: Shape) -> str:
    """A network input's features in messages: a width, or a shape without rows."""
    return str(shape[0]) if len(shape) == 1 else "[rows" + "".join(f", {d}" for d in shape) + "]"
