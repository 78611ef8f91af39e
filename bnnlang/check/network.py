"""Networks: shapes that flow through their layers, and the priors on each layer's sampled sites.

Each layer kind is an entry of `nn.LAYERS`, which says what arguments it takes, what shape it gives and what it
samples; this module binds arguments, threads shapes, handles the blocks (`residual`, `deterministic`) and gives
each site its prior. A site's prior is a distribution or a prior definition (`stdlib/priors.bnn`, or one the
model writes or imports); inside it `fan_in` and `fan_out` are the site's fans (`check/nn/`). Prior definitions
are checked once, in the file they are written in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..syntax import tree as t
from . import layer_messages as layer_msg
from . import network_messages as net_msg
from .distributions import ACTIVATIONS, PRIOR_ROLES
from .env import Entry, Env, Kind, PriorSource
from .exprs import Exprs, Signature, broadcast
from .model import CheckedNetwork, Layer, PriorUse, Residual, Shape, Site, Size, flat_layers
from .nn import BLOCKS, LAYERS, REQUIRED, Call, LayerKind

FAN_SCOPE = ("fan_in", "fan_out")


def check_prior_def(env: Env, source: PriorSource) -> None:
    """A prior definition, in its own file: parameters, local params with fan-in/fan-out shapes, the value."""
    pdef = source.definition
    ex = Exprs(env, source.program)
    local: dict[str, Entry] = {
        "fan_in": Entry(Kind.FAN, (), pdef.span, "int"),
        "fan_out": Entry(Kind.FAN, (), pdef.span),
    }
    for p in pdef.params:
        if p.name in local:
            raise net_msg.prior_parameter_twice(ex.at(p.span), p.name)
        local[p.name] = Entry(Kind.LOCAL, (), p.span)
    for lp in pdef.locals:
        if lp.name in local:
            raise net_msg.prior_local_twice(ex.at(lp.span), lp.name, pdef.name)
        shape = tuple(prior_size(ex, d) for d in lp.shape)
        ex.dist(lp.dist, local, target=shape, role="param")
        local[lp.name] = Entry(Kind.LOCAL, shape, lp.span)
    ex.dist(pdef.value, local, target=None, role="value")


def prior_size(ex: Exprs, d: t.Dim) -> Size:
    if d.name is None:
        return d.offset
    if d.name not in FAN_SCOPE or d.offset:
        raise net_msg.prior_local_shape(ex.at(d.span), str(d))
    return d.name


def check_network(env: Env, net: t.Network) -> CheckedNetwork:
    ex = Exprs(env)
    out = tuple(env.size_of(d) for d in net.output.shape)
    if net.output.base != "real" or not out or net.output.bound is not None:
        raise net_msg.network_output_type(ex.at(net.output.span), net.name, net.input)
    for d in net.output.shape:
        if d.name is not None and d.name not in env.scope and d.name not in env.consts:
            raise net_msg.unknown_output_dimension(ex.at(d.span), str(d), net.name)
    fed = env.network_calls[net.name]
    defaults: dict[str, t.PriorAssign] = {}
    for d in net.defaults:
        _check_role(ex, d)
        if d.role in defaults:
            raise net_msg.prior_given_twice(ex.at(d.span), d.role, default=True)
        defaults[d.role] = d
    if not net.layers:
        raise net_msg.no_layers(ex.at(net.span), net.name)
    flows = {}
    for i, (name, shape, data) in enumerate(zip(net.inputs, fed.shapes, fed.datas)):
        if name in flows:
            raise layer_msg.input_twice(ex.at(net.span), net.name, name)
        var = env.data.get(data) if data else None
        if var is not None and var.base == "int":
            flows[name] = Flow(shape, "int", _token_count(var.bound), i)
        else:
            flows[name] = Flow(shape, source=i)
    layers, shape = _Layers(ex, defaults, flows).check(net.layers, flows[net.input], "")
    want = out[1:] or (1,)
    if shape.shape != want:
        if len(shape.shape) == 1 and len(want) == 1:
            raise net_msg.network_end_width(ex.at(net.output.span), net.name, shape.shape[0], out)
        raise layer_msg.network_end_shape(ex.at(net.output.span), net.name, shape.shape, out)
    return CheckedNetwork(net, fed.shape, layers, shape.shape, squeeze=len(out) == 1)


def _token_count(bound: tuple[Size, Size] | None) -> Size | None:
    """V for ids declared `in 0..V-1` (or `in 0..9`: 10); None when the range does not start at 0."""
    if bound is None or bound[0] != 0:
        return None
    hi = bound[1]
    if isinstance(hi, int):
        return hi + 1
    name, _, offset = hi.partition("-")
    return name if offset == "1" else None


def _check_role(ex: Exprs, pa: t.PriorAssign) -> None:
    if pa.role not in PRIOR_ROLES:
        raise net_msg.unknown_role(ex.at(pa.span), pa.role, PRIOR_ROLES)


@dataclass(frozen=True)
class Flow:
    """What reaches a layer: its shape without rows, and int token ids or real values."""

    shape: Shape
    base: str = "real"
    tokens: Size | None = None
    source: int = 0  # for a network's inputs: which (what `concat(name) { ... }` reads)


class _Layers:
    """The layers of one network, with its default priors."""

    def __init__(self, ex: Exprs, defaults: dict[str, t.PriorAssign], inputs: dict[str, Flow]) -> None:
        self.ex = ex
        self.env = ex.env
        self.defaults = defaults
        self.inputs = inputs

    def check(self, layers: tuple[t.Layer, ...], flow: Flow, prefix: str, fixed: bool = False) -> tuple[list, Flow]:
        """Checked layers and what leaves them; `fixed`: inside a deterministic block."""
        out: list = []
        for layer in layers:
            path = f"{prefix}{len(out)}"
            if layer.kind == "deterministic":
                inner, flow = self._deterministic(layer, flow, prefix, fixed)
                for item in inner:  # numbered in the network's sequence, as if the block were not there
                    item.path = f"{prefix}{len(out)}"
                    if isinstance(item, Residual):
                        _repath(item)
                    out.append(item)
                continue
            if layer.kind == "residual":
                out.append(self._residual(layer, path, flow, fixed))
                continue
            if layer.kind == "concat":
                block, flow = self._concat(layer, path, flow, fixed)
                out.append(block)
                continue
            kind = LAYERS.get(layer.kind)
            if kind is None:
                raise layer_msg.unknown_layer(self.ex.at(layer.span), layer.kind, [*LAYERS, *BLOCKS])
            if layer.layers:
                raise layer_msg.body_layers(self.ex.at(layer.layers[0].span), layer.kind)
            if layer.priors and not kind.takes_priors:
                raise layer_msg.no_priors(self.ex.at(layer.priors[0].span), layer.kind)
            call = self._call(kind, layer, flow)
            built = kind.build(call)
            if kind.expand is not None:
                block = t.Layer("residual", layers=kind.expand(call), has_body=True, span=layer.span)
                out.append(self._residual(block, path, flow, fixed, skip=False))
                self._priors_fit(layer, {s.role for inner in flat_layers(out[-1].layers) for s in inner.sites})
                flow = Flow(built.out_shape)
                continue
            self._priors_fit(layer, {s.role for s in built.sites})
            priors = self._layer_priors(layer)
            sites = [replace(s, prior=self._prior_use(priors.get(s.role), s)) for s in built.sites]
            out.append(Layer(path, layer.kind, call.args, flow.shape, built.out_shape, sites, fixed))
            flow = Flow(built.out_shape)
        return out, flow

    def _priors_fit(self, layer: t.Layer, roles: set[str]) -> None:
        """A prior in a layer's body must have arrays of its role to act on: one that would do nothing is
        refused (a network's `default` priors apply where they fit and are never refused)."""
        for pa in layer.priors:
            if pa.role in PRIOR_ROLES and pa.role not in roles:
                raise layer_msg.prior_without_arrays(self.ex.at(pa.span), layer.kind, pa.role, sorted(roles))

    def _call(self, kind: LayerKind, layer: t.Layer, flow: Flow) -> Call:
        """The layer's arguments bound to the kind's, each checked for its kind of value."""
        ex, name = self.ex, layer.kind
        if not kind.args and (layer.has_args or layer.args or layer.kwargs):
            raise layer_msg.takes_no_arguments(ex.at(layer.span), name, kind.label)
        given: dict[str, t.Expr] = {}
        spans: dict[str, t.Span] = {}
        variadic = kind.args and kind.args[0].kind == "counts"
        if not variadic and len(layer.args) > len(kind.args):
            raise layer_msg.too_many_arguments(ex.at(layer.args[len(kind.args)].span), name, kind.signature())
        if variadic:
            given["shape"] = layer.args  # type: ignore[assignment]
        else:
            given.update({a.name: v for a, v in zip(kind.args, layer.args)})
        names = [a.name for a in kind.args]
        for kw in layer.kwargs:
            if variadic and kw.name == kind.args[0].name:
                raise layer_msg.sizes_positional(ex.at(kw.span), name, kind.signature())
            if kw.name not in names:
                raise layer_msg.no_such_argument(ex.at(kw.span), name, kw.name, names, kind.signature())
            if kw.name in given:
                raise layer_msg.argument_twice(ex.at(kw.span), name, kw.name)
            given[kw.name] = kw.value
        args: dict[str, object] = {}
        for arg in kind.args:
            if arg.name not in given:
                if arg.default is REQUIRED:
                    raise layer_msg.missing_argument(ex.at(layer.span), name, arg.name, kind.signature())
                args[arg.name] = arg.default
                continue
            value = given[arg.name]
            spans[arg.name] = (
                value[0].span if isinstance(value, tuple) and value else getattr(value, "span", layer.span)
            )
            args[arg.name] = self._value(name, arg.name, arg.kind, arg.choices, value, layer.span)
        return Call(layer, args, flow.shape, flow.base, flow.tokens, ex.at, spans)

    def _value(self, layer: str, name: str, kind: str, choices: tuple[str, ...], value, span: t.Span) -> object:
        ex = self.ex
        if kind == "counts":
            if not value:
                raise layer_msg.missing_argument(ex.at(span), layer, name, LAYERS[layer].signature())
            return tuple(self._value(layer, name, "count", (), v, span) for v in value)
        if kind in ("count", "size"):
            if isinstance(value, t.Number):
                if not value.is_int or value.value < 1:
                    raise layer_msg.not_whole(ex.at(value.span), name)
                return int(value.value)
            if kind == "size" and isinstance(value, t.Name) and self.env.is_kind(value.id, Kind.DIM):
                return self.env.consts.get(value.id, value.id)
            if kind == "size":
                raise layer_msg.not_size(ex.at(value.span), name)
            raise layer_msg.not_whole(ex.at(value.span), name)
        if kind == "activation":
            if not isinstance(value, t.Name) or value.id not in ACTIVATIONS:
                shown = value.id if isinstance(value, t.Name) else None
                raise net_msg.unknown_activation(ex.at(value.span), shown, ACTIVATIONS)
            return value.id
        options = ("true", "false") if kind == "flag" else choices
        if not isinstance(value, t.Name) or value.id not in options:
            raise layer_msg.not_choice(ex.at(value.span), layer, name, options)
        return value.id == "true" if kind == "flag" else value.id

    def _layer_priors(self, layer: t.Layer) -> dict[str, t.PriorAssign]:
        priors: dict[str, t.PriorAssign] = {}
        for pa in layer.priors:
            _check_role(self.ex, pa)
            if pa.role in priors:
                raise net_msg.prior_given_twice(self.ex.at(pa.span), pa.role, default=False)
            priors[pa.role] = pa
        return {role: priors.get(role) or self.defaults.get(role) for role in PRIOR_ROLES}

    def _deterministic(self, layer: t.Layer, flow: Flow, prefix: str, fixed: bool) -> tuple[list, Flow]:
        """`deterministic { ... }` marks its layers as point-estimated; paths stay flat, so marking layers
        deterministic does not rename their sites."""
        if fixed or prefix:
            raise net_msg.nested_deterministic(self.ex.at(layer.span))
        if layer.has_args or layer.priors or not layer.layers:
            raise net_msg.block_holds_layers_only(self.ex.at(layer.span), "deterministic")
        return self.check(layer.layers, flow, prefix, fixed=True)

    def _concat(self, layer: t.Layer, path: str, flow: Flow, fixed: bool) -> tuple[Residual, Flow]:
        """`concat { layers }` joins what reaches it with `layers` of it; `concat(name) { layers }` with `layers` of
        the network's input `name` (no layers: the input itself), along the last axis."""
        ex = self.ex
        if layer.priors or layer.kwargs or len(layer.args) > 1:
            raise layer_msg.concat_form(ex.at(layer.span))
        source, where = flow, None
        if layer.args:
            arg = layer.args[0]
            if not isinstance(arg, t.Name) or arg.id not in self.inputs:
                raise layer_msg.concat_not_input(ex.at(arg.span), list(self.inputs))
            source, where = self.inputs[arg.id], self.inputs[arg.id].source
        elif not layer.layers:
            raise layer_msg.concat_form(ex.at(layer.span))
        inner, joined = self.check(layer.layers, source, path + ".", fixed) if layer.layers else ([], source)
        for f in (flow, joined):
            if f.base != "real" or not f.shape:
                raise layer_msg.concat_shapes(ex.at(layer.span), flow.shape, joined.shape)
        a, b = flow.shape, joined.shape
        if a[:-1] != b[:-1] or not all(isinstance(s, int) for s in (a[-1], b[-1])):
            raise layer_msg.concat_shapes(ex.at(layer.span), a, b)
        joined_shape = a[:-1] + (a[-1] + b[-1],)
        return Residual(path, inner, "concat", where, joined_shape), Flow(joined_shape)

    def _residual(self, layer: t.Layer, path: str, flow: Flow, fixed: bool, skip: bool = True) -> Residual:
        if layer.has_args or layer.priors:
            raise net_msg.block_holds_layers_only(self.ex.at(layer.span), "residual")
        if not layer.layers:
            raise net_msg.empty_residual(self.ex.at(layer.span))
        if skip and flow.base != "real":  # the sum would add token ids to values (and the block ends real)
            raise layer_msg.residual_on_tokens(self.ex.at(layer.span))
        inner, inner_flow = self.check(layer.layers, flow, path + ".", fixed)
        if skip and inner_flow.shape != flow.shape:
            if len(flow.shape) == 1 and len(inner_flow.shape) == 1:
                raise net_msg.residual_width(self.ex.at(layer.span), flow.shape[0], inner_flow.shape[0])
            raise layer_msg.block_shape(self.ex.at(layer.span), flow.shape, inner_flow.shape)
        return Residual(path, inner, "add" if skip else "none")

    def _prior_use(self, pa: t.PriorAssign | None, site: Site) -> PriorUse:
        role, shape = site.role, site.shape
        if pa is None:
            return default_prior(role)
        call = pa.rhs
        scope = {**self.env.scope, "fan_in": Entry(Kind.FAN, ()), "fan_out": Entry(Kind.FAN, ())}
        source = self.env.prior_defs.get(call.func)
        if source is None:
            self.ex.dist(call, scope, target=shape, role=role, forbid_networks=True)
            return PriorUse(role, call)
        pdef = source.definition
        self.env.used_priors.add(call.func)
        sig = Signature.of_prior(pdef)
        bound = self.ex.bind(call, sig)
        for name in sig.params:
            shp = self.ex.shape(bound[name], scope, forbid_networks=True)
            if shp:
                raise net_msg.prior_argument_not_scalar(self.ex.at(bound[name].span), name, shp)
        for lp in pdef.locals:
            lshape = tuple(_fan(d.name if d.name else d.offset, site) for d in lp.shape)
            if role == "bias" and any(d.name == "fan_in" for d in lp.shape):
                raise net_msg.bias_per_input(self.ex.at(call.span), pdef.name, lp.name)
            ok, res = broadcast(lshape, shape)
            if not ok or res != shape:
                raise net_msg.prior_does_not_fit(self.ex.at(call.span), pdef.name, role, shape)
        return PriorUse(role, call, pdef, {name: bound[name] for name in sig.params})


def default_prior(role: str) -> PriorUse:
    """Without a written prior: Neal's fan-in scaling for weights, Normal(0, 1) for biases, Normal(1, 0.1) for
    a normalisation's scale (near the identity it starts from)."""
    fan = t.Call("sqrt", (t.Name("fan_in"),))
    if role == "weight":
        return PriorUse(role, t.Call("Normal", (t.Number(0.0, "0"), t.BinOp("/", t.Number(1.0, "1"), fan))))
    if role == "scale":
        return PriorUse(role, t.Call("Normal", (t.Number(1.0, "1"), t.Number(0.1, "0.1"))))
    return PriorUse(role, t.Call("Normal", (t.Number(0.0, "0"), t.Number(1.0, "1"))))


def _repath(block: Residual) -> None:
    """Give a residual block's layers paths under the block's (new) path."""
    for i, item in enumerate(block.layers):
        item.path = f"{block.path}.{i}"
        if isinstance(item, Residual):
            _repath(item)


def _fan(size: Size, site: Site) -> Size:
    """A prior local's size on this site: its fans, or a number."""
    if size == "fan_in":
        return site.fan_in if site.role == "weight" else 1
    if size == "fan_out":
        return site.fan_out
    return size
