"""Networks: layer widths that fit together, and the priors on each layer's weights and biases.

A layer's prior is a distribution or a prior definition (`stdlib/priors.bnn`, or one the model writes or
imports); inside it `fan_in` and `fan_out` are the layer's widths. Prior definitions are checked once, in the
file they are written in.
"""

from __future__ import annotations

from ..errors import suggest
from ..syntax import tree as t
from .distributions import ACTIVATIONS, PRIOR_ROLES
from .env import Entry, Env, Kind, PriorSource
from .exprs import Exprs, Signature, broadcast
from .model import Activation, CheckedNetwork, Dense, PriorUse, Residual, Shape, Size, shape_str

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
            raise ex.error(f"Prior parameter '{p.name}' is defined twice.", p.span, "Rename one of them.")
        local[p.name] = Entry(Kind.LOCAL, (), p.span)
    for lp in pdef.locals:
        if lp.name in local:
            raise ex.error(f"'{lp.name}' is already defined in prior '{pdef.name}'.", lp.span)
        shape = tuple(prior_size(ex, d) for d in lp.shape)
        ex.dist(lp.dist, local, target=shape, role="param")
        local[lp.name] = Entry(Kind.LOCAL, shape, lp.span)
    ex.dist(pdef.value, local, target=None, role="value")


def prior_size(ex: Exprs, d: t.Dim) -> Size:
    if d.name is None:
        return d.offset
    if d.name not in FAN_SCOPE or d.offset:
        raise ex.error(
            f"Inside a prior, shapes use fan_in, fan_out or numbers; '{d}' is not one of them.",
            d.span,
            "A per-unit scale is `param lam[fan_out] ~ HalfCauchy(1)`.",
        )
    return d.name


def check_network(env: Env, net: t.Network) -> CheckedNetwork:
    ex = Exprs(env)
    out = tuple(env.size_of(d) for d in net.output.shape)
    if net.output.base != "real" or not out or len(out) > 2 or net.output.bound is not None:
        raise ex.error(
            "A network's output is real[rows] or real[rows, K].",
            net.output.span,
            f"Write `network {net.name}({net.input}) -> real[N]` for one output per row.",
        )
    for d in net.output.shape:
        if d.name is not None and d.name not in env.scope and d.name not in env.consts:
            raise ex.error(f"Unknown dimension '{d}' in the output of '{net.name}'.", d.span)
    fan_in = env.network_calls[net.name][0]
    defaults: dict[str, t.PriorAssign] = {}
    for d in net.defaults:
        _check_role(ex, d)
        if d.role in defaults:
            raise ex.error(f"Default {d.role} prior given twice.", d.span, "Keep one.")
        defaults[d.role] = d
    if not net.layers:
        raise ex.error(f"Network '{net.name}' has no layers.", net.span, "Add layers such as `dense(1)`.")
    layers, width = _Layers(ex, defaults).check(net.layers, fan_in, "")
    want = out[1] if len(out) == 2 else 1
    if width != want:
        hint = (
            f"End the network with `dense({want})`."
            if len(out) == 2
            else f"End with `dense(1)` for `-> {shape_str(out)[1:-1] and 'real' + shape_str(out)}`, "
            f"or declare the output as real[{out[0]}, {width}]."
        )
        raise ex.error(
            f"Network '{net.name}' ends with width {width} but its output is declared {shape_str(out)}.",
            net.output.span,
            hint,
        )
    return CheckedNetwork(net, fan_in, layers, width, squeeze=len(out) == 1)


def _check_role(ex: Exprs, pa: t.PriorAssign) -> None:
    if pa.role not in PRIOR_ROLES:
        raise ex.error(
            f"A layer has a weight and a bias; '{pa.role}' is neither.",
            pa.span,
            suggest(pa.role, PRIOR_ROLES, otherwise="Write `weight ~ ...` or `bias ~ ...`."),
        )


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
                    raise self.ex.error(
                        f"Activation layer '{layer.kind}' takes no arguments.",
                        layer.span,
                        f"Write `{layer.kind}` alone, or `dense(units, {layer.kind})`.",
                    )
                out.append(Activation(path, layer.kind))
            else:
                raise self.ex.error(
                    f"Unknown layer '{layer.kind}'.",
                    layer.span,
                    suggest(
                        layer.kind,
                        ["dense", "residual", "deterministic", *ACTIVATIONS],
                        otherwise="Layers: dense(units, activation), residual { ... }, or an activation name.",
                    ),
                )
            if layer.kind != "dense" and layer.priors:
                raise self.ex.error("Only dense layers have weight and bias priors.", layer.priors[0].span)
        return out, width

    def _deterministic(self, layer: t.Layer, width: Size, prefix: str, fixed: bool) -> tuple[list, Size]:
        """`deterministic { ... }` marks its layers as point-estimated; paths stay flat, so marking layers
        deterministic does not rename their sites."""
        if fixed or prefix:
            raise self.ex.error(
                "A deterministic block sits directly in a network, not inside another block.", layer.span
            )
        if layer.has_args or layer.priors or not layer.layers:
            raise self.ex.error(
                "A deterministic block holds layers only.",
                layer.span,
                "Write `deterministic { dense(50, tanh) dense(50, tanh) }`.",
            )
        return self.check(layer.layers, width, prefix, fixed=True)

    def _dense(self, layer: t.Layer, path: str, width: Size, fixed: bool) -> Dense:
        units, activation = self._dense_args(layer)
        priors: dict[str, t.PriorAssign] = {}
        for pa in layer.priors:
            _check_role(self.ex, pa)
            if pa.role in priors:
                raise self.ex.error(f"The {pa.role} prior is given twice.", pa.span, "Keep one.")
            priors[pa.role] = pa
        uses = {}
        for role in PRIOR_ROLES:
            pa = priors.get(role) or self.defaults.get(role)
            shape = (width, units) if role == "weight" else (units,)
            uses[role] = self._prior_use(pa, role, shape)
        return Dense(path, width, units, activation, uses["weight"], uses["bias"], fixed)

    def _residual(self, layer: t.Layer, path: str, width: Size, fixed: bool) -> Residual:
        if layer.has_args or layer.priors:
            raise self.ex.error(
                "A residual block holds layers only.", layer.span, "Write `residual { dense(50, tanh) dense(50) }`."
            )
        if not layer.layers:
            raise self.ex.error("A residual block needs at least one layer.", layer.span)
        inner, inner_width = self.check(layer.layers, width, path + ".", fixed)
        if inner_width != width:
            raise self.ex.error(
                f"A residual block must keep its width: it takes {width} and gives {inner_width}.",
                layer.span,
                f"End the block with `dense({width})`.",
            )
        return Residual(path, inner)

    def _dense_args(self, layer: t.Layer) -> tuple[Size, str]:
        ex = self.ex
        if layer.layers:
            raise ex.error("A dense layer's body holds weight and bias priors, not layers.", layer.layers[0].span)
        args = list(layer.args)
        for kw in layer.kwargs:
            if kw.name == "units" and not args:
                args.insert(0, kw.value)
            elif kw.name == "activation" and len(args) <= 1:
                args.append(kw.value)
            else:
                raise ex.error(f"dense has no argument '{kw.name}' here.", kw.span, "Write dense(units, activation).")
        if not args or len(args) > 2:
            raise ex.error(
                "dense takes the number of units and an optional activation.",
                layer.span,
                "Write `dense(50, tanh)` or `dense(1)`.",
            )
        u = args[0]
        if isinstance(u, t.Number):
            if not u.is_int or u.value < 1:
                raise ex.error(
                    "A layer's units must be a whole number of at least 1.", u.span, "Write e.g. `dense(50, tanh)`."
                )
            units: Size = int(u.value)
        elif isinstance(u, t.Name) and self.env.is_kind(u.id, Kind.DIM):
            units = self.env.consts.get(u.id, u.id)
        else:
            raise ex.error(
                "A layer's units must be a number or a dimension name.", u.span, "Write `dense(50)` or `dense(K)`."
            )
        activation = "identity"
        if len(args) == 2:
            a = args[1]
            if not isinstance(a, t.Name) or a.id not in ACTIVATIONS:
                name = a.id if isinstance(a, t.Name) else "this"
                raise ex.error(
                    f"Unknown activation '{name}'.",
                    a.span,
                    suggest(name, ACTIVATIONS, otherwise="Activations: " + ", ".join(ACTIVATIONS) + "."),
                )
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
                raise self.ex.error(
                    f"Prior arguments are scalars; '{name}' has shape {shape_str(shp)}.", bound[name].span
                )
        for lp in pdef.locals:
            lshape = tuple(_fan(d.name if d.name else d.offset, shape) for d in lp.shape)
            if role == "bias" and any(d.name == "fan_in" for d in lp.shape):
                raise self.ex.error(
                    f"Prior '{pdef.name}' has a per-input param '{lp.name}', which a bias does not have.",
                    call.span,
                    "Use this prior on weights only.",
                )
            ok, res = broadcast(lshape, shape)
            if not ok or res != shape:
                raise self.ex.error(
                    f"Prior '{pdef.name}' does not fit a {role} of shape {shape_str(shape)}.", call.span
                )
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
