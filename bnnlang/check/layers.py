"""Networks: layer widths that fit together, and the priors on each layer's weights and biases.

A layer's prior is a distribution or a prior definition (`stdlib/priors.bnn`, or one the model writes or
imports); inside it `fan_in` and `fan_out` are the layer's widths. Prior definitions are checked once, in the
file they are written in.
"""

from __future__ import annotations

from ..syntax import tree as t
from . import network_messages as net_msg
from .distributions import ACTIVATIONS, PRIOR_ROLES
from .env import Entry, Env, Kind, PriorSource
from .exprs import Exprs, Signature, broadcast
from .model import Activation, CheckedNetwork, Dense, PriorUse, Residual, Shape, Size

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
    if net.output.base != "real" or not out or len(out) > 2 or net.output.bound is not None:
        raise net_msg.network_output_type(ex.at(net.output.span), net.name, net.input)
    for d in net.output.shape:
        if d.name is not None and d.name not in env.scope and d.name not in env.consts:
            raise net_msg.unknown_output_dimension(ex.at(d.span), str(d), net.name)
    fan_in = env.network_calls[net.name][0]
    defaults: dict[str, t.PriorAssign] = {}
    for d in net.defaults:
        _check_role(ex, d)
        if d.role in defaults:
            raise net_msg.prior_given_twice(ex.at(d.span), d.role, default=True)
        defaults[d.role] = d
    if not net.layers:
        raise net_msg.no_layers(ex.at(net.span), net.name)
    layers, width = _Layers(ex, defaults).check(net.layers, fan_in, "")
    want = out[1] if len(out) == 2 else 1
    if width != want:
        raise net_msg.network_end_width(ex.at(net.output.span), net.name, width, out)
    return CheckedNetwork(net, fan_in, layers, width, squeeze=len(out) == 1)


def _check_role(ex: Exprs, pa: t.PriorAssign) -> None:
    if pa.role not in PRIOR_ROLES:
        raise net_msg.unknown_role(ex.at(pa.span), pa.role, PRIOR_ROLES)


class _Layers:
    """The layers of one network, with its default priors."""

    def __init__(self, ex: Exprs, defaults: dict[str, t.PriorAssign]) -> None:
        self.ex = ex
        self.env = ex.env
        self.defaults = defaults

    def check(self, layers: tuple[t.Layer, ...], width: Size, prefix: str, fixed: bool = False) -> tuple[list, Size]:
        """Checked layers and the width they end with; `fixed`: inside a deterministic block."""
        out: list = []
        for layer in layers:
            path = f"{prefix}{len(out)}"
            if layer.kind == "deterministic":
                inner, width = self._deterministic(layer, width, prefix, fixed)
                for item in inner:  # numbered in the network's sequence, as if the block were not there
                    item.path = f"{prefix}{len(out)}"
                    if isinstance(item, Residual):
                        _repath(item)
                    out.append(item)
                continue
            if layer.kind == "dense":
                out.append(self._dense(layer, path, width, fixed))
                width = out[-1].units
            elif layer.kind == "residual":
                out.append(self._residual(layer, path, width, fixed))
            elif layer.kind in ACTIVATIONS:
                if layer.has_args or layer.has_body:
                    raise net_msg.activation_with_arguments(self.ex.at(layer.span), layer.kind)
                out.append(Activation(path, layer.kind))
            else:
                raise net_msg.unknown_layer(self.ex.at(layer.span), layer.kind, ACTIVATIONS)
            if layer.kind != "dense" and layer.priors:
                raise net_msg.priors_on_non_dense(self.ex.at(layer.priors[0].span))
        return out, width

    def _deterministic(self, layer: t.Layer, width: Size, prefix: str, fixed: bool) -> tuple[list, Size]:
        """`deterministic { ... }` marks its layers as point-estimated; paths stay flat, so marking layers
        deterministic does not rename their sites."""
        if fixed or prefix:
            raise net_msg.nested_deterministic(self.ex.at(layer.span))
        if layer.has_args or layer.priors or not layer.layers:
            raise net_msg.block_holds_layers_only(self.ex.at(layer.span), "deterministic")
        return self.check(layer.layers, width, prefix, fixed=True)

    def _dense(self, layer: t.Layer, path: str, width: Size, fixed: bool) -> Dense:
        units, activation = self._dense_args(layer)
        priors: dict[str, t.PriorAssign] = {}
        for pa in layer.priors:
            _check_role(self.ex, pa)
            if pa.role in priors:
                raise net_msg.prior_given_twice(self.ex.at(pa.span), pa.role, default=False)
            priors[pa.role] = pa
        uses = {}
        for role in PRIOR_ROLES:
            pa = priors.get(role) or self.defaults.get(role)
            shape = (width, units) if role == "weight" else (units,)
            uses[role] = self._prior_use(pa, role, shape)
        return Dense(path, width, units, activation, uses["weight"], uses["bias"], fixed)

    def _residual(self, layer: t.Layer, path: str, width: Size, fixed: bool) -> Residual:
        if layer.has_args or layer.priors:
            raise net_msg.block_holds_layers_only(self.ex.at(layer.span), "residual")
        if not layer.layers:
            raise net_msg.empty_residual(self.ex.at(layer.span))
        inner, inner_width = self.check(layer.layers, width, path + ".", fixed)
        if inner_width != width:
            raise net_msg.residual_width(self.ex.at(layer.span), width, inner_width)
        return Residual(path, inner)

    def _dense_args(self, layer: t.Layer) -> tuple[Size, str]:
        ex = self.ex
        if layer.layers:
            raise net_msg.dense_body_layers(ex.at(layer.layers[0].span))
        args = list(layer.args)
        for kw in layer.kwargs:
            if kw.name == "units" and not args:
                args.insert(0, kw.value)
            elif kw.name == "activation" and len(args) <= 1:
                args.append(kw.value)
            else:
                raise net_msg.dense_no_argument(ex.at(kw.span), kw.name)
        if not args or len(args) > 2:
            raise net_msg.dense_arity(ex.at(layer.span))
        u = args[0]
        if isinstance(u, t.Number):
            if not u.is_int or u.value < 1:
                raise net_msg.units_not_whole(ex.at(u.span))
            units: Size = int(u.value)
        elif isinstance(u, t.Name) and self.env.is_kind(u.id, Kind.DIM):
            units = self.env.consts.get(u.id, u.id)
        else:
            raise net_msg.units_not_size(ex.at(u.span))
        activation = "identity"
        if len(args) == 2:
            a = args[1]
            if not isinstance(a, t.Name) or a.id not in ACTIVATIONS:
                raise net_msg.unknown_activation(ex.at(a.span), a.id if isinstance(a, t.Name) else None, ACTIVATIONS)
            activation = a.id
        return units, activation

    def _prior_use(self, pa: t.PriorAssign | None, role: str, shape: Shape) -> PriorUse:
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
            lshape = tuple(_fan(d.name if d.name else d.offset, shape) for d in lp.shape)
            if role == "bias" and any(d.name == "fan_in" for d in lp.shape):
                raise net_msg.bias_per_input(self.ex.at(call.span), pdef.name, lp.name)
            ok, res = broadcast(lshape, shape)
            if not ok or res != shape:
                raise net_msg.prior_does_not_fit(self.ex.at(call.span), pdef.name, role, shape)
        return PriorUse(role, call, pdef, {name: bound[name] for name in sig.params})


def default_prior(role: str) -> PriorUse:
    """Without a written prior: Neal's fan-in scaling for weights, Normal(0, 1) for biases."""
    fan = t.Call("sqrt", (t.Name("fan_in"),))
    if role == "weight":
        return PriorUse(role, t.Call("Normal", (t.Number(0.0, "0"), t.BinOp("/", t.Number(1.0, "1"), fan))))
    return PriorUse(role, t.Call("Normal", (t.Number(0.0, "0"), t.Number(1.0, "1"))))


def _repath(block: Residual) -> None:
    """Give a residual block's layers paths under the block's (new) path."""
    for i, item in enumerate(block.layers):
        item.path = f"{block.path}.{i}"
        if isinstance(item, Residual):
            _repath(item)


def _fan(size: Size, shape: Shape) -> Size:
    if size == "fan_in":
        return shape[0] if len(shape) == 2 else 1
    if size == "fan_out":
        return shape[-1]
    return size
