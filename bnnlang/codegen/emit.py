"""Checked model -> the source of a standalone NumPyro program.

The program printed by `bnnc compile` is the program `bnnc run` executes (one
path). It imports only jax and numpyro (and tinygp for GP kernels). Only identifiers and numbers validated
by the grammar reach it: names are emitted as Python identifiers (a Python
keyword, or a name the program itself uses, becomes `_bnn_NAME`) or inside
string literals, numbers via repr(float()); nothing from the .bnn file is pasted
in as text.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..check.backends import DEFAULT_BACKEND
from ..check.distributions import DISTRIBUTIONS, FUNCTIONS
from ..check.model import CheckedModel, CheckedNetwork, Residual, Shape, Site, Size, flat_layers
from ..check.nn import LAYERS
from ..check.settings import defaults
from ..syntax import tree as t
from ..version import __version__
from .gp_code import GP_HELPERS, GPCode
from .names import inducing_argument, python_name

_PREC = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "^": 4, "atom": 5}


def _num(value: float) -> str:
    if not math.isfinite(value):  # repr() would give `inf`, a name (the parser refuses such numbers)
        raise ValueError(f"not a finite number: {value!r}")
    return repr(float(value))


def _size(size: Size) -> str:
    if isinstance(size, int):
        return str(int(size))
    m = re.fullmatch(r"([A-Za-z][A-Za-z0-9_]*)(?:([+-])(\d+))?", size)
    if not m:
        raise ValueError(f"bad size {size!r}")
    name = python_name(m.group(1))
    return name if not m.group(2) else f"({name} {m.group(2)} {int(m.group(3))})"


def _shape(shape: Shape) -> str:
    inner = ", ".join(_size(s) for s in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


@dataclass
class _Ctx:
    """How names in an expression map to Python: network calls are replaced by precomputed outputs."""

    network_outputs: dict[t.Call, str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # e.g. fan_in -> the layer's width


class Emitter:
    def __init__(self, model: CheckedModel) -> None:
        self.m = model
        self.lines: list[str] = []
        self.net_inputs: list[str] = []  # the network being written: its inputs' Python names
        self.gp = GPCode(model, self.emit, self.expr, python_name, _size)

    # ---------------------------------------------------------- expressions
    def expr(self, e: t.Expr, ctx: _Ctx, parent: int = 0) -> str:
        if isinstance(e, t.Number):
            return _num(e.value)
        if isinstance(e, t.Name):
            return ctx.names.get(e.id) or python_name(e.id)
        if isinstance(e, t.Neg):
            inner = self.expr(e.operand, ctx, _PREC["neg"])
            return self._paren(f"-{inner}", _PREC["neg"], parent)
        if isinstance(e, t.BinOp):
            prec = _PREC[e.op]
            op = "**" if e.op == "^" else e.op
            if e.op == "^":  # right-associative
                left = self.expr(e.left, ctx, prec + 1)
                right = self.expr(e.right, ctx, prec)
            else:
                left = self.expr(e.left, ctx, prec)
                right = self.expr(e.right, ctx, prec + 1)
            return self._paren(f"{left} {op} {right}", prec, parent)
        if isinstance(e, t.Index):
            base = self.expr(e.base, ctx, _PREC["atom"])
            parts = []
            for i in e.indices:
                if isinstance(i, t.SliceAll):
                    parts.append(":")
                elif isinstance(i, t.Number):
                    parts.append(str(int(i.value)))
                else:
                    parts.append(self.expr(i, ctx))
            return f"{base}[{', '.join(parts)}]"
        if isinstance(e, t.Call):
            if e in ctx.network_outputs:
                return ctx.network_outputs[e]
            fn = FUNCTIONS[e.func]
            return f"{fn}({self.expr(e.args[0], ctx)})"
        raise AssertionError(f"unknown expression {e!r}")

    @staticmethod
    def _paren(text: str, prec: int, parent: int) -> str:
        return f"({text})" if prec < parent else text

    @property
    def standardized(self) -> list[str]:
        return [v.name for v in self.m.data.values() if v.standardized]

    def observed_dist(self, obs: t.Observe, ctx: _Ctx) -> str:
        """The likelihood in the data's own units: a standardized target's loc and scale are mapped back."""
        if not self.m.data[obs.name].standardized:
            return self.dist(obs.dist, ctx)
        spec = DISTRIBUTIONS[obs.dist.func]
        n = obs.name  # `_shift_NAME` takes the name as written (a grammar NAME)
        args = {
            **{k: _num(v) for k, v in spec.defaults.items()},
            **dict(zip(spec.params, (self.expr(a, ctx) for a in obs.dist.args))),
        }
        args.update({kw.name: self.expr(kw.value, ctx) for kw in obs.dist.kwargs})
        args["loc"] = f"_shift_{n} + _scale_{n} * ({args['loc']})"
        args["scale"] = f"_scale_{n} * ({args['scale']})"
        return f"dist.{spec.name}({', '.join(f'{python_name(k)}={v}' for k, v in args.items())})"

    def dist(self, call: t.Call, ctx: _Ctx) -> str:
        spec = DISTRIBUTIONS[call.func]
        args = [self.expr(a, ctx) for a in call.args]
        kws = []
        for kw in call.kwargs:
            value = self.expr(kw.value, ctx)
            if kw.name == "log_rate":
                kws.append(f"rate=jnp.exp({value})")
            else:
                kws.append(f"{python_name(kw.name)}={value}")
        if spec.name == "Dirichlet":
            return f"dist.Dirichlet({', '.join(args + kws)})"
        return f"dist.{spec.name}({', '.join(args + kws)})"

    def sample_dist(self, call: t.Call, shape: Shape, ctx: _Ctx, shape_code: str | None = None) -> str:
        """A distribution over a value of the declared shape (batch axes folded into the event)."""
        d = self.dist(call, ctx)
        spec = DISTRIBUTIONS[call.func]
        shape_code = shape_code or _shape(shape)
        if spec.name == "Dirichlet":
            conc = self.expr(call.args[0] if call.args else call.kwargs[0].value, ctx)
            d = f"dist.Dirichlet(jnp.broadcast_to({conc}, {shape_code}))"
            return d + (f".to_event({len(shape) - 1})" if len(shape) > 1 else "")
        if not shape and shape_code == "()":
            return d
        if shape_code.startswith("_"):  # a shape known only at run time (prior functions)
            return f"{d}.expand({shape_code}).to_event(len({shape_code}))"
        return f"{d}.expand({shape_code}).to_event({len(shape)})"

    # ---------------------------------------------------------- program parts
    def emit(self, line: str = "", indent: int = 0) -> None:
        self.lines.append("    " * indent + line if line else "")

    def program(self) -> str:
        m = self.m
        name = m.program.path.replace("\\", "/").rsplit("/", 1)[-1]
        safe_name = re.sub(r"[^A-Za-z0-9_.\-]", "_", name)
        self.emit(f'"""NumPyro program generated by bnnc {__version__} from {safe_name}.')
        self.emit("")
        needs = "jax, numpyro and tinygp" if m.gps or m.function_priors else "jax and numpyro"
        self.emit(f"This is exactly the program `bnnc run` executes. It needs only {needs}:")
        self.emit("    python this_file.py data.npz    # NUTS with the model's infer settings")
        self.emit('"""')
        self.emit()
        self.emit("import jax")
        self.emit("import jax.numpy as jnp")
        self.emit("import numpyro")
        self.emit("import numpyro.distributions as dist")
        if m.gps or m.function_priors:
            self.emit("import tinygp")
        self.emit()
        if m.consts:
            for k, v in m.consts.items():
                self.emit(f"{python_name(k)} = {int(v)}")
            self.emit()
        self.emit()
        self.emit("def _minibatch_scale(rows, name, size):")
        self.emit(
            '"""With minibatches (`_rows` = {dim: full size}) the likelihood of `size` rows stands for all rows."""', 1
        )
        self.emit("return 1.0 if rows is None or name not in rows else rows[name] / size", 1)
        self.emit()
        if self.standardized:
            self.emit()
            for line in SCALING_HELPERS.splitlines():
                self.emit(line)
            self.emit()
        if m.gps or m.function_priors:
            for line in GP_HELPERS.splitlines():
                self.emit(line)
            self.emit()
        for module, pdef in m.prior_defs.values():
            self.prior_function(pdef, module)
        self.layer_helpers()
        for net in m.networks.values():
            self.network_function(net)
        for fp in m.function_priors:
            self.emit()
            self.gp.function_prior_def(fp, _Ctx())
        self.model_function()
        self.main_block()
        return "\n".join(self.lines).rstrip() + "\n"

    def prior_function(self, pdef: t.PriorDef, module: str) -> None:
        params = ", ".join(
            f"{python_name(p.name)}={_num(p.default.value)}" if p.default else python_name(p.name) for p in pdef.params
        )
        self.emit()
        sig = "_name, _shape, fan_in, fan_out" + (f", {params}" if params else "")
        self.emit(f"def {python_name(pdef.name)}({sig}):")
        origin = f"{module}.{pdef.name}" if module else pdef.name
        self.emit(f'"""Prior {origin}: samples the site `_name` of shape `_shape`."""', 1)
        ctx = _Ctx()
        for lp in pdef.locals:
            shape = tuple(d.name if d.name else d.offset for d in lp.shape)
            dist_code = self.sample_dist(lp.dist, shape, ctx)
            self.emit(f'{python_name(lp.name)} = numpyro.sample(_name + ".{lp.name}", {dist_code})', 1)
        value = self.sample_dist(pdef.value, (), ctx, shape_code="_shape")
        self.emit(f"return numpyro.sample(_name, {value})", 1)
        self.emit()

    def layer_helpers(self) -> None:
        """Functions that layers' code calls (attention, position codes), once each, in the order first used."""
        helpers: list[str] = []
        for net in self.m.networks.values():
            for layer in flat_layers(net.layers):
                helpers += [h for h in LAYERS[layer.kind].helpers if h not in helpers]
        for helper in helpers:
            self.emit()
            self.lines.extend(helper.rstrip("\n").split("\n"))
            self.emit()

    def network_function(self, net: CheckedNetwork) -> None:
        node = net.node
        shapes = [_shape_text(net.in_shape)] + [_shape_text(s) for s in _shapes_along(net.layers)]
        what = "shapes" if any(s.startswith("[") for s in shapes) else "widths"
        self.emit()
        self.emit(f"def {python_name(node.name)}(_p, {', '.join(python_name(n) for n in node.inputs)}):")
        self.emit(f'"""Network {node.name}: {what} {" -> ".join(shapes)}."""', 1)
        self.emit(f"_h0 = {python_name(node.input)}", 1)
        self.net_inputs = [python_name(n) for n in node.inputs]
        self.layer_code(net.layers, 0)
        self.emit("return _h0[..., 0]" if net.squeeze else "return _h0", 1)
        self.emit()

    def layer_code(self, layers: list, depth: int) -> None:
        h, inner = f"_h{depth}", f"_h{depth + 1}"
        for layer in layers:
            if not isinstance(layer, Residual):
                for line in LAYERS[layer.kind].code(layer, h):
                    self.emit(line, 1)
            elif layer.merge == "none":
                self.emit(f"# block {layer.path}", 1)
                self.layer_code(layer.layers, depth)
            else:
                start = h if layer.source is None else self.net_inputs[layer.source]
                self.emit(
                    f"{inner} = {start}  # {'residual' if layer.merge == 'add' else 'concat'} block {layer.path}", 1
                )
                self.layer_code(layer.layers, depth + 1)
                joined = f"{h} + {inner}" if layer.merge == "add" else f"jnp.concatenate([{h}, {inner}], axis=-1)"
                self.emit(f"{h} = {joined}", 1)

    def network_params(self, net: CheckedNetwork, ctx: _Ctx) -> None:
        var = f"_p_{net.name}"
        self.emit(f"# network {net.name}", 1)
        self.emit(f"{var} = {{}}", 1)
        for layer in net.param_layers():
            if layer.deterministic:
                self.emit(f"# layer {layer.path} is deterministic: `bnnc run` fixes it at its MAP value", 1)
            for site in layer.sites:
                name = f"{net.name}.{layer.path}.{site.name}"
                self.emit(f'{var}["{layer.path}.{site.name}"] = {self.prior_site(site, name, ctx)}', 1)

    def prior_site(self, s: Site, name: str, ctx: _Ctx) -> str:
        use = s.prior
        fan_in, fan_out = _size(s.fan_in), _size(s.fan_out)
        if use.prior_def is not None:
            args = "".join(f", {python_name(k)}={self.expr(v, ctx)}" for k, v in use.args.items())
            return f'{python_name(use.prior_def.name)}("{name}", {_shape(s.shape)}, {fan_in}, {fan_out}{args})'
        # fan_in / fan_out may appear in a layer's own prior expression
        local = _Ctx(ctx.network_outputs, {"fan_in": fan_in, "fan_out": fan_out})
        return f'numpyro.sample("{name}", {self.sample_dist(use.call, s.shape, local)})'

    def model_function(self) -> None:
        m = self.m
        # Callers pass data and dims by their model names; one that is not a free Python name here
        # (`class`, `jnp`) arrives in `**_kw` and is bound to its `_bnn_` spelling.
        by_kw = [n for n in [v.name for v in m.inputs + m.observed] + m.arg_dims if python_name(n) != n]
        inputs = [python_name(v.name) for v in m.inputs if v.name not in by_kw]
        observed = [f"{python_name(v.name)}=None" for v in m.observed if v.name not in by_kw]
        kwonly = [python_name(d) for d in m.arg_dims if d not in by_kw]
        kwonly += [f"{inducing_argument(g.name)}=None" for g in m.gps.values() if g.mode == "sparse"]
        kwonly += ["_train=None"] if m.gps else []
        kwonly += ["_key=None"] if any(fp.spread for fp in m.function_priors) else []
        # `_shift_NAME` with NAME as written: a valid identifier even where NAME alone is a Python keyword
        kwonly += [f"_{k}_{v}=None" for v in self.standardized for k in ("shift", "scale")]
        kwonly += ["_rows=None"]
        sig = inputs + observed + ["*"] + kwonly + (["**_kw"] if by_kw else [])
        self.emit()
        self.emit(f"def model({', '.join(sig)}):")
        self.emit('"""The joint density: priors first, then the likelihood of the observed data."""', 1)
        observed_names = {v.name for v in m.observed}
        for n in by_kw:
            self.emit(f'{python_name(n)} = _kw.pop("{n}"{", None" if n in observed_names else ""})', 1)
        if by_kw:
            self.emit("if _kw:", 1)
            self.emit('raise TypeError(f"model() got unexpected keyword arguments {sorted(_kw)}")', 2)
        for dim, (var, axis) in m.input_dims.items():
            self.emit(f"{python_name(dim)} = {python_name(var)}.shape[{axis}]", 1)
        for v in self.standardized:
            n = python_name(v)
            self.emit(f'_need_scaling("{v}", _shift_{v}, _scale_{v})', 1)
            if not m.data[v].observed:
                self.emit(f"{n} = ({n} - _shift_{v}) / _scale_{v}", 1)
            if m.gps:  # a GP predicts from its training data, which the model sees in standardized units
                self.emit("if _train is not None:", 1)
                self.emit(f'_train = {{**_train, "{v}": (_train["{v}"] - _shift_{v}) / _scale_{v}}}', 2)
        ctx = _Ctx()
        for p in m.params:
            shape = m.param_shapes[p.name]
            self.emit(f'{python_name(p.name)} = numpyro.sample("{p.name}", {self.sample_dist(p.dist, shape, ctx)})', 1)
        for net in m.networks.values():
            self.network_params(net, ctx)
        for i, fp in enumerate(m.function_priors):
            self.gp.function_prior(fp, ctx, m.networks[fp.network].fan_in, i)
        # each distinct network call is evaluated once
        uses = [g.node.input for g in m.gps.values()] + [obs.dist for obs in m.observes]
        for use in uses:
            for call in _network_calls(use, m.networks):
                if call not in ctx.network_outputs:
                    var = f"_{call.func}_out{len(ctx.network_outputs)}"
                    arg = ", ".join(self.expr(a, ctx) for a in call.args)
                    self.emit(f"{var} = {python_name(call.func)}(_p_{call.func}, {arg})", 1)
                    ctx.network_outputs[call] = var
        for g in m.gps.values():
            self.gp.gp_block(g, ctx)
        by_observed = {g.observed: g for g in m.gps.values() if g.observed}
        for obs in m.observes:
            var = m.data[obs.name]
            rows = _size(var.shape[0])
            d = self.observed_dist(obs, ctx)
            if len(var.shape) > 1:
                d = f"{d}.expand({_shape(var.shape)}).to_event({len(var.shape) - 1})"
            plate = f'numpyro.plate("{var.shape[0]}", {rows})'
            if isinstance(var.shape[0], str):
                plate += f', numpyro.handlers.scale(scale=_minibatch_scale(_rows, "{var.shape[0]}", {rows}))'
            g = by_observed.get(obs.name)
            if g is not None and g.mode == "collapsed":
                self.gp.collapsed_observe(g, ctx, rows, d, plate)
                continue
            self.emit(f"with {plate}:", 1)
            self.emit(f'numpyro.sample("{obs.name}", {d}, obs={python_name(obs.name)})', 2)
            if g is not None and g.mode == "sparse":
                self.gp.sparse_trace_term(g, ctx)
        self.emit()

    def main_block(self) -> None:
        m = self.m
        s = m.infer.values
        names = [v.name for v in m.data.values()]
        self.emit()
        if m.infer.method != DEFAULT_BACKEND:  # the standalone program is NUTS; the model asked for another
            nuts = defaults(DEFAULT_BACKEND)
            s = {**nuts.values, **{k: v for k, v in s.items() if k in nuts.values and k != "map_steps"}}
            self.emit(f"# The model asks for {m.infer.method}, which `bnnc run` provides; this standalone")
            self.emit("# program runs NUTS with its default settings on the same model.")
        self.emit(f"DATA = {names!r}")
        self.emit(f"DIM_ARGS = {[d for d in m.arg_dims]!r}")
        self.emit(f"DETERMINISTIC = {m.deterministic_sites()!r}  # point-estimated sites (partially Bayesian)")
        if m.gps:
            normal = {g.observed: g.name for g in m.gps.values() if g.observed}
            self.emit(f"GP_NORMAL = {normal!r}  # observed variable: the GP that is its Normal mean")
        if self.standardized:
            self.emit(f"STANDARDIZED = {self.standardized!r}  # centred and scaled by _scaling(training data)")
        self.emit(f"INFER = {{{', '.join(f'{k!r}: {v!r}' for k, v in s.items())}}}")
        hierarchical = m.noncentered_sites()
        if hierarchical:
            self.noncentered_function(hierarchical if s["noncentered"] else {})
        self.emit()
        self.emit()
        self.emit("def main(argv=None):")
        self.emit('"""Sample the posterior with NUTS from an NPZ file holding the data arrays."""', 1)
        self.emit("import sys", 1)
        self.emit()
        self.emit("import numpy as np", 1)
        self.emit("from numpyro.infer import MCMC, NUTS, init_to_uniform", 1)
        self.emit()
        self.emit("path = (argv if argv is not None else sys.argv[1:])[0]", 1)
        self.emit("data = np.load(path, allow_pickle=False)", 1)
        self.emit("kwargs = {k: jnp.asarray(data[k]) for k in DATA + DIM_ARGS if k in data}", 1)
        self.emit("kwargs.update({k: int(kwargs[k]) for k in DIM_ARGS if k in kwargs})", 1)
        if self.standardized:
            self.emit("kwargs.update(_scaling(kwargs))", 1)
        self.emit("kernel = NUTS(", 1)
        self.emit("noncentered(model)," if hierarchical else "model,", 2)
        self.emit("target_accept_prob=INFER['target_accept'],", 2)
        self.emit("max_tree_depth=INFER['max_tree_depth'],", 2)
        self.emit("dense_mass=INFER['dense_mass'],", 2)
        self.emit("init_strategy=init_to_uniform(radius=INFER['init_radius']),", 2)
        self.emit(")", 1)
        self.emit("mcmc = MCMC(", 1)
        self.emit("kernel,", 2)
        self.emit("num_warmup=INFER['warmup'],", 2)
        self.emit("num_samples=INFER['samples'],", 2)
        self.emit("num_chains=INFER['chains'],", 2)
        self.emit("thinning=INFER['thinning'],", 2)
        self.emit("chain_method='sequential',", 2)
        self.emit(")", 1)
        self.emit("# chain c uses fold_in(PRNGKey(seed), c), as `bnnc run` does", 1)
        self.emit("base = jax.random.PRNGKey(INFER['seed'])", 1)
        self.emit("keys = jnp.stack([jax.random.fold_in(base, c) for c in range(INFER['chains'])])", 1)
        self.emit("mcmc.run(keys if INFER['chains'] > 1 else keys[0], **kwargs)", 1)
        self.emit("mcmc.print_summary()", 1)
        self.emit()
        self.emit()
        self.emit('if __name__ == "__main__":')
        self.emit("main()", 1)

    def noncentered_function(self, sites: dict[str, tuple[str, ...]]) -> None:
        self.emit("# hierarchical sites sampled non-centred (infer setting noncentered; docs/inference.md)")
        self.emit(f"NONCENTERED = {sites!r}")
        self.emit()
        self.emit()
        self.emit("def noncentered(model, sites=NONCENTERED):")
        self.emit('"""`model` with each site in `sites` drawn as loc + scale * z, z standard (with the shape', 1)
        self.emit("parameters listed): the sampler never meets the funnel between a scale and the values it", 1)
        self.emit('scales. The posterior of the original sites is the same; `site_decentered` holds z."""', 1)
        self.emit("from numpyro.infer.reparam import LocScaleReparam", 1)
        self.emit()
        self.emit("def config(msg):", 1)
        self.emit("if msg['name'] in sites and not msg['is_observed']:  # conditioned sites keep their values", 2)
        self.emit("return LocScaleReparam(0, sites[msg['name']])", 3)
        self.emit("return None", 2)
        self.emit()
        self.emit("return numpyro.handlers.reparam(model, config=config)", 1)


SCALING_HELPERS = '''
def _scaling(data):
    """Shift and scale of each STANDARDIZED variable: its mean and sd over the rows of the training data."""
    out = {}
    for name in STANDARDIZED:
        v = jnp.asarray(data[name], dtype=jnp.result_type(float))
        sd = v.std(axis=0)
        out["_shift_" + name] = v.mean(axis=0)
        out["_scale_" + name] = jnp.where(sd > 0, sd, 1.0)  # a constant column is only centred
    return out


def _need_scaling(name, shift, scale):
    if shift is None or scale is None:
        raise ValueError(
            f"'{name}' is standardized: pass the training data's statistics, model(..., **_scaling(training_data))"
        )
'''.lstrip()


def _network_calls(node, networks: dict[str, CheckedNetwork]) -> list[t.Call]:
    return [n for n in t.walk(node) if isinstance(n, t.Call) and n.func in networks]


def generate(model: CheckedModel) -> str:
    """The NumPyro program for a checked model, as Python source."""
    return Emitter(model).program()


def _shapes_along(layers: list) -> list[Shape]:
    """The shapes a network's docstring lists: after each layer that samples or reshapes, and each join."""
    out: list[Shape] = []
    for layer in layers:
        if isinstance(layer, Residual):
            out += _shapes_along(layer.layers) + ([layer.out_shape] if layer.merge == "concat" else [])
        elif layer.sites or layer.out_shape != layer.in_shape:
            out.append(layer.out_shape)
    return out


def _shape_text(shape: Shape) -> str:
    return str(shape[0]) if len(shape) == 1 else "[" + ", ".join(str(s) for s in shape) + "]"
