"""Check a parsed program and produce the `CheckedModel` that code generation reads.

Checks, in order: definitions are unique, names resolve (with suggestions),
calls match a distribution/function/network/prior signature, shapes broadcast
to what they must be, networks' layer widths fit together, and the infer
settings are valid. Sizes are symbolic (a dimension name or a whole number);
`bind.py` later puts numbers on them from the data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BnnError, Location, did_you_mean, plural, source_line
from ..syntax import tree as t
from ..syntax.parser import RESERVED
from .distributions import (
    ACTIVATIONS,
    DISTRIBUTIONS,
    FUNCTIONS,
    LOCATION_SCALE,
    POSITIVE_PARAMS,
    PRIOR_ROLES,
    DistSpec,
    KernelSpec,
)
from .gp import GPF, CheckedFunctionPrior, CheckedGP, check_function_prior, check_gp, classify, scope_entry_shape
from .imports import resolve_imports
from .settings import BACKENDS, InferSettings, Setting, check_backend, validate_setting

_NUMERIC = Setting(float, 0.0)

Size = int | str
Shape = tuple[Size, ...]

PYTHON_RESERVED = frozenset(
    """False None True and as assert async await break class continue def del elif else except finally
    for from global if import in is lambda nonlocal not or pass raise return try while with yield
    jax jnp dist numpyro np math model main""".split()
)


# arguments of MCMC.run, log_likelihood, Trace.get_trace and Predictive.__call__, which take the data as **kwargs
NUMPYRO_ARGUMENTS = frozenset(
    {"rng_key", "self", "init_params", "extra_fields", "model", "posterior_samples", "parallel", "batch_ndims"}
)


def py_name(name: str) -> str:
    """The Python identifier used for a bnnlang name in generated code."""
    return name + "_" if name in PYTHON_RESERVED else name


# ---------------------------------------------------------------- the checked model


@dataclass
class DataVar:
    decl: t.DataDecl
    shape: Shape
    bound: tuple[Size, Size] | None
    observed: bool = False

    @property
    def name(self) -> str:
        return self.decl.name

    @property
    def base(self) -> str:
        return self.decl.type.base

    @property
    def standardized(self) -> bool:
        return self.decl.standardized


@dataclass
class PriorUse:
    """The prior of one weight or bias: a distribution, or a prior definition with its arguments."""

    role: str
    call: t.Call
    prior_def: t.PriorDef | None = None
    args: dict[str, t.Expr] = field(default_factory=dict)


@dataclass
class Dense:
    path: str
    fan_in: Size
    units: Size
    activation: str
    weight: PriorUse
    bias: PriorUse
    deterministic: bool = False  # point-estimated (MAP), then held fixed while the rest is sampled


@dataclass
class Residual:
    path: str
    layers: list


@dataclass
class Activation:
    path: str
    activation: str


@dataclass
class CheckedNetwork:
    node: t.Network
    fan_in: Size
    layers: list
    out_units: Size  # width of the last layer
    squeeze: bool  # output declared as real[rows]: drop the unit axis

    @property
    def name(self) -> str:
        return self.node.name

    def dense_layers(self) -> list[Dense]:
        """Every dense layer, residual blocks' included, in order."""
        out: list[Dense] = []
        stack = list(reversed(self.layers))
        while stack:
            layer = stack.pop()
            if isinstance(layer, Dense):
                out.append(layer)
            elif isinstance(layer, Residual):
                stack.extend(reversed(layer.layers))
        return out

    def deterministic_sites(self) -> list[str]:
        """Sample sites of the layers marked deterministic: their weights, biases and prior locals."""
        return self.sites(deterministic_only=True)

    def hidden_sites(self) -> list[str]:
        """Sites of every dense layer but the last: what a last-layer approximation holds at the MAP."""
        last = self.dense_layers()[-1].path
        return [s for s in self.sites() if not s.startswith(f"{self.name}.{last}.")]

    def sites(self, deterministic_only: bool = False) -> list[str]:
        """The network's sample sites (weights, biases, prior locals), in order."""
        sites = []
        for layer in self.dense_layers():
            if layer.deterministic or not deterministic_only:
                for use in (layer.weight, layer.bias):
                    site = f"{self.name}.{layer.path}.{use.role}"
                    sites.append(site)
                    if use.prior_def is not None:
                        sites.extend(f"{site}.{lp.name}" for lp in use.prior_def.locals)
        return sites


@dataclass
class CheckedModel:
    program: t.Program
    data: dict[str, DataVar]
    consts: dict[str, int]
    input_dims: dict[str, tuple[str, int]]  # dim -> (input variable, axis) it is read from
    arg_dims: list[str]  # dims the model takes as keyword arguments
    params: list[t.Param]  # in dependency order
    param_shapes: dict[str, Shape]
    networks: dict[str, CheckedNetwork]
    prior_defs: dict[str, tuple[str, t.PriorDef]]  # used prior name -> (module, definition)
    observes: list[t.Observe]
    infer: InferSettings
    warnings: list[BnnError] = field(default_factory=list)
    gps: dict[str, CheckedGP] = field(default_factory=dict)
    function_priors: list[CheckedFunctionPrior] = field(default_factory=list)

    @property
    def inputs(self) -> list[DataVar]:
        return [v for v in self.data.values() if not v.observed]

    @property
    def observed(self) -> list[DataVar]:
        return [v for v in self.data.values() if v.observed]

    def deterministic_sites(self) -> list[str]:
        return [site for net in self.networks.values() for site in net.deterministic_sites()]

    def sample_sites(self) -> list[str]:
        """Every latent site: params, each network's weights, biases and prior locals, then GPs' whitened values."""
        nets = [s for net in self.networks.values() for s in net.sites()]
        return [p.name for p in self.params] + nets + [s for g in self.gps.values() for s in g.sites()]

    def noncentered_sites(self) -> dict[str, tuple[str, ...]]:
        """Hierarchical sites: a location-scale prior whose loc or scale reads another latent value.

        Sampled as loc + scale * z with z standard (setting `noncentered`), so a sampler never meets the
        funnel between a scale and the values it scales. Maps each site to the shape parameters its
        standard form keeps (StudentT's df). Deterministic layers keep their values as written.
        """
        latent = {p.name for p in self.params}
        out: dict[str, tuple[str, ...]] = {}
        for p in self.params:
            _noncenter(out, p.name, p.dist, latent)
        for net in self.networks.values():
            for layer in net.dense_layers():
                if layer.deterministic:
                    continue
                for use in (layer.weight, layer.bias):
                    site = f"{net.name}.{layer.path}.{use.role}"
                    if use.prior_def is None:
                        _noncenter(out, site, use.call, latent)
                        continue
                    # inside a prior: its own params, and arguments the use site computes from latents
                    scope = {name for name, arg in use.args.items() if latent.intersection(names_in(arg))}
                    for lp in use.prior_def.locals:
                        _noncenter(out, f"{site}.{lp.name}", lp.dist, scope)
                        scope.add(lp.name)
                    _noncenter(out, site, use.prior_def.value, scope)
        return out

    @property
    def dims(self) -> list[str]:
        names: list[str] = []
        for v in self.data.values():
            for s in v.shape + (v.bound or ()):
                for sym in symbols(s):
                    if sym not in names:
                        names.append(sym)
        return names


def symbols(size: Size) -> list[str]:
    return [] if isinstance(size, int) else re.findall(r"[A-Za-z_][A-Za-z0-9_]*", size)


def shape_str(shape: Shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]" if shape else "a scalar"


# ---------------------------------------------------------------- scopes

DATA, DIM, PARAM, NETWORK, PRIOR, LOCAL, FAN = "data", "dim", "param", "network", "prior", "local", "fan"


@dataclass
class Entry:
    kind: str
    shape: Shape = ()
    span: t.Span = field(default_factory=t.Span.unknown)
    base: str = "real"


class Checker:
    def __init__(self, program: t.Program, model_dir: Path | None) -> None:
        self.program = program
        self.path = program.path
        self.source = program.source
        self.model_dir = model_dir
        self.warnings: list[BnnError] = []
        self.network_nodes: dict[str, t.Network] = {}
        self.used_data: dict[str, bool] = {}

    # ---------------------------------------------------------- errors
    def loc(self, span: t.Span, path: str | None = None, source: str | None = None) -> Location:
        src = self.source if source is None else source
        end = span.end_column if span.end_line == span.line else None
        return Location(path or self.path, span.line, span.column, end, source_line(src, span.line))

    def error(self, message: str, span: t.Span, hint: str | None = None) -> BnnError:
        hint = hint or "See docs/language.md for what this construct accepts."
        return BnnError(message, self.loc(span, self.cur_path, self.cur_source), hint=hint)

    def warn(self, message: str, span: t.Span, hint: str | None = None) -> None:
        self.warnings.append(BnnError(message, self.loc(span), hint=hint, kind="warning"))

    cur_path: str | None = None
    cur_source: str | None = None

    # ---------------------------------------------------------- driver
    def run(self) -> CheckedModel:
        items = self.program.items
        self.prior_defs: dict[str, tuple[str, t.PriorDef, str, str]] = resolve_imports(self.program, self.model_dir)

        self.scope: dict[str, Entry] = {}
        data_blocks = [i for i in items if isinstance(i, t.DataBlock)]
        if len(data_blocks) > 1:
            raise self.error("A model has one data block.", data_blocks[1].span, "Merge the two data blocks.")
        self.consts: dict[str, int] = {}
        self.data: dict[str, DataVar] = {}
        if data_blocks:
            self.check_data(data_blocks[0])

        for item in items:
            if isinstance(item, t.PriorDef):
                if item.name in self.prior_defs:
                    raise self.error(
                        f"'{item.name}' is already defined by an import.",
                        item.span,
                        "Rename this prior or drop it from the import list.",
                    )
                self.define(item.name, Entry(PRIOR, span=item.span))
                self.prior_defs[item.name] = ("", item, self.path, self.source)
            elif isinstance(item, t.Param):
                self.define(item.name, Entry(PARAM, span=item.span))
            elif isinstance(item, t.Network):
                self.define(item.name, Entry(NETWORK, span=item.span))
            elif isinstance(item, t.GPDecl):
                self.define(item.name, Entry(GPF, span=item.span))
        for name, (_, pdef, _, _) in self.prior_defs.items():
            if name not in self.scope:
                self.scope[name] = Entry(PRIOR, span=pdef.span)

        for _, pdef, ppath, psrc in self.prior_defs.values():
            self.check_prior_def(pdef, ppath, psrc)

        params = [i for i in items if isinstance(i, t.Param)]
        self.param_shapes: dict[str, Shape] = {}
        ordered = self.order_params(params)
        for p in ordered:
            shape = self.check_param(p)
            self.param_shapes[p.name] = shape
            self.scope[p.name] = Entry(PARAM, shape, p.span)

        networks = [i for i in items if isinstance(i, t.Network)]
        self.network_nodes = {n.name: n for n in networks}
        self.network_calls: dict[str, tuple[Size, t.Span]] = {}
        self.used_priors: set[str] = set()

        gps: dict[str, CheckedGP] = {}
        for node in (i for i in items if isinstance(i, t.GPDecl)):
            gps[node.name] = check_gp(self, node)
            self.scope[node.name] = Entry(GPF, scope_entry_shape(gps[node.name]), node.span)

        observes = [i for i in items if isinstance(i, t.Observe)]
        seen_obs: dict[str, t.Observe] = {}
        for obs in observes:
            self.check_observe(obs, seen_obs)
        for g in gps.values():
            classify(self, g, observes)
        function_priors: list[CheckedFunctionPrior] = []
        for node in (i for i in items if isinstance(i, t.FunctionPrior)):
            if any(fp.network == node.network for fp in function_priors):
                raise self.error(f"Network '{node.network}' has two function-space priors.", node.span, "Keep one.")
            function_priors.append(check_function_prior(self, node))
        if not observes:
            self.warn(
                "The model observes nothing, so its posterior is its prior.",
                items[0].span if items else t.Span(1, 1, 1, 1),
                "Add `observe y ~ ...` for the data the model should fit.",
            )

        checked_networks: dict[str, CheckedNetwork] = {}
        for net in networks:
            if net.name not in self.network_calls:
                raise self.error(
                    f"Network '{net.name}' is never called, so its input width is unknown.",
                    net.span,
                    f"Use it in an observe statement, as in `observe y ~ Normal({net.name}(x), sigma)`, or remove it.",
                )
            checked_networks[net.name] = self.check_network(net)

        for obs in observes:
            self.data[obs.name].observed = True
        self.check_standardized({obs.name: obs for obs in observes})
        for v in self.data.values():
            if not v.observed and not self.used_data.get(v.name):
                self.warn(f"Data variable '{v.name}' is never used.", v.decl.span, "Remove it or use it.")

        infer = self.check_infer([i for i in items if isinstance(i, t.Infer)])
        input_dims, arg_dims = self.dim_sources()
        for p in params:
            for sz in self.param_shapes[p.name]:
                for sym in symbols(sz):
                    if sym not in self.consts and sym not in input_dims and sym not in arg_dims:
                        arg_dims.append(sym)
        used_defs = {k: (m, d) for k, (m, d, _, _) in self.prior_defs.items() if k in self.used_priors}
        return CheckedModel(
            program=self.program,
            data=self.data,
            consts=self.consts,
            input_dims=input_dims,
            arg_dims=arg_dims,
            params=ordered,
            param_shapes=self.param_shapes,
            networks=checked_networks,
            prior_defs=used_defs,
            observes=observes,
            infer=infer,
            warnings=self.warnings,
            gps=gps,
            function_priors=function_priors,
        )

    def define(self, name: str, entry: Entry) -> None:
        if name in RESERVED:
            raise self.error(f"'{name}' is a reserved word.", entry.span, "Choose another name.")
        if name in self.scope:
            prev = self.scope[name]
            where = f" at line {prev.span.line}" if prev.span.line else ""
            raise self.error(
                f"'{name}' is already defined{where}.",
                entry.span,
                "Each data variable, dimension, param, network and prior needs its own name.",
            )
        if name in ("fan_in", "fan_out"):  # a model-level name would be hidden inside every layer prior
            raise self.error(
                f"Inside layer priors '{name}' is the layer's number of {name.replace('fan_', '')}puts; "
                "it cannot also name a model-level variable.",
                entry.span,
                f"Choose another name, e.g. `{name}_scale`.",
            )
        if name in DISTRIBUTIONS or name in FUNCTIONS:
            raise self.error(
                f"'{name}' is the name of a built-in {'distribution' if name in DISTRIBUTIONS else 'function'}.",
                entry.span,
                "Choose another name.",
            )
        self.scope[name] = entry

    # ---------------------------------------------------------- data
    def check_data(self, block: t.DataBlock) -> None:
        for item in block.items:
            if isinstance(item, t.DimConst):
                if not item.value.is_int or item.value.value < 1:
                    raise self.error(
                        f"Dimension '{item.name}' must be a whole number of at least 1.",
                        item.value.span,
                        f"Write it as `{item.name} = 3`.",
                    )
                self.define(item.name, Entry(DIM, (), item.span, "int"))
                self.consts[item.name] = int(item.value.value)
        for item in block.items:
            if isinstance(item, t.DataDecl):
                self.define(item.name, Entry(DATA, span=item.span))
        # dims named in shapes become scalar ints usable in expressions
        for item in block.items:
            if not isinstance(item, t.DataDecl):
                continue
            shape = tuple(self.size_of(d) for d in item.type.shape)
            bound = None
            if item.type.bound is not None:
                if item.type.base != "int":
                    raise self.error(
                        "Only int data can have a range.",
                        item.type.span,
                        f"Declare it as `{item.name}: int{shape_str(shape) if shape else ''} in 0..K-1`.",
                    )
                bound = (self.size_of(item.type.bound[0]), self.size_of(item.type.bound[1]))
            if item.columns is not None:
                if len(shape) != 2:
                    raise self.error(
                        "A column list fits a matrix variable.",
                        item.span,
                        f"Declare it as `{item.name}: real[N, {len(item.columns)}] from (...)`.",
                    )
                if isinstance(shape[1], int) and shape[1] != len(item.columns):
                    raise self.error(
                        f"'{item.name}' has {shape[1]} columns but the list names {len(item.columns)}.",
                        item.span,
                        "Make the width match the column list.",
                    )
            if item.name in NUMPYRO_ARGUMENTS:
                raise self.error(
                    f"'{item.name}' cannot name data: the data are passed to NumPyro's inference functions "
                    f"as keyword arguments, beside their own argument '{item.name}'.",
                    item.span,
                    f"Rename it, e.g. `{item.name}_x`; a matrix can take CSV columns of any name with `from (...)`.",
                )
            self.data[item.name] = DataVar(item, shape, bound)
            self.scope[item.name] = Entry(DATA, shape, item.span, item.type.base)
            self.used_data[item.name] = False
        for v in self.data.values():
            for sz in v.shape + (v.bound or ()):
                for sym in symbols(sz):
                    if sym not in self.scope:
                        self.scope[sym] = Entry(DIM, (), v.decl.span, "int")
                    elif self.scope[sym].kind != DIM:
                        raise self.error(
                            f"'{sym}' is used as a dimension but is a data variable.",
                            v.decl.type.span,
                            "Dimension names and variable names must differ.",
                        )

    def size_of(self, dim: t.Dim) -> Size:
        if dim.name is None:
            return dim.offset
        if dim.name in self.consts:
            return self.consts[dim.name] + dim.offset
        return str(dim)

    # ---------------------------------------------------------- priors defined in the language
    def check_prior_def(self, pdef: t.PriorDef, path: str, source: str) -> None:
        self.cur_path, self.cur_source = path, source
        try:
            local: dict[str, Entry] = {"fan_in": Entry(FAN, (), pdef.span, "int"), "fan_out": Entry(FAN, (), pdef.span)}
            for p in pdef.params:
                if p.name in local:
                    raise self.error(f"Prior parameter '{p.name}' is defined twice.", p.span, "Rename one of them.")
                local[p.name] = Entry(LOCAL, (), p.span)
            for lp in pdef.locals:
                if lp.name in local:
                    raise self.error(f"'{lp.name}' is already defined in prior '{pdef.name}'.", lp.span)
                shape = tuple(self.prior_size(d, pdef) for d in lp.shape)
                self.check_dist(lp.dist, local, target=shape, role="param")
                local[lp.name] = Entry(LOCAL, shape, lp.span)
            self.check_dist(lp_value := pdef.value, local, target=None, role="value")
            del lp_value
        finally:
            self.cur_path = self.cur_source = None

    def prior_size(self, d: t.Dim, pdef: t.PriorDef) -> Size:
        if d.name is None:
            return d.offset
        if d.name not in ("fan_in", "fan_out") or d.offset:
            raise self.error(
                f"Inside a prior, shapes use fan_in, fan_out or numbers; '{d}' is not one of them.",
                d.span,
                "A per-unit scale is `param lam[fan_out] ~ HalfCauchy(1)`.",
            )
        return d.name

    # ---------------------------------------------------------- params
    def order_params(self, params: list[t.Param]) -> list[t.Param]:
        """Sort params so that each comes after the params its prior uses."""
        by_name = {p.name: p for p in params}
        deps = {p.name: [n for n in names_in(p.dist) if n in by_name] for p in params}
        ordered: list[t.Param] = []
        state: dict[str, int] = {}

        def visit(name: str, chain: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = " -> ".join(chain[chain.index(name) :] + [name])
                raise self.error(
                    f"Params depend on each other in a cycle: {cycle}.",
                    by_name[name].span,
                    "A param's prior may use other params only if they do not depend on it.",
                )
            state[name] = 1
            for dep in deps[name]:
                visit(dep, chain + [name])
            state[name] = 2
            ordered.append(by_name[name])

        for p in params:
            visit(p.name, [])
        return ordered

    def check_param(self, p: t.Param) -> Shape:
        shape = tuple(self.size_of(d) for d in p.shape)
        for d, sz in zip(p.shape, shape):
            for sym in symbols(sz):
                if sym not in self.scope or self.scope[sym].kind != DIM:
                    guess = did_you_mean(sym, [k for k, e in self.scope.items() if e.kind == DIM])
                    raise self.error(
                        f"Unknown dimension '{sym}' in the shape of '{p.name}'.",
                        d.span,
                        guess or "Dimensions come from the data block, e.g. `x: real[N, D]` or `K = 3`.",
                    )
            if isinstance(sz, int) and sz < 1:
                raise self.error(
                    "Dimensions must be at least 1.", d.span, "Use a size of 1 or more, or a data dimension."
                )
        if p.dist.func in self.prior_defs:
            raise self.error(
                f"'{p.dist.func}' is a layer prior; it applies to a network's weight or bias.",
                p.dist.func_span,
                f"Use it inside a network: `dense(50, tanh) {{ weight ~ {p.dist.func}() }}`.",
            )
        self.check_dist(p.dist, self.scope, target=shape, role="param", forbid_networks=True)
        return shape

    # ---------------------------------------------------------- distributions and expressions
    def check_dist(
        self,
        call: t.Call,
        scope: dict[str, Entry],
        target: Shape | None,
        role: str,
        forbid_networks: bool = False,
        observed: DataVar | None = None,
    ) -> DistSpec:
        spec = DISTRIBUTIONS.get(call.func)
        if spec is None:
            kinds = {e.kind for n, e in scope.items() if n == call.func}
            if NETWORK in kinds or call.func in FUNCTIONS:
                what = "a network" if NETWORK in kinds else "a function"
                raise self.error(
                    f"Expected a distribution after '~', found {what} '{call.func}'.",
                    call.func_span,
                    f"Wrap it in a distribution, as in `Normal({call.func}(...), sigma)`.",
                )
            guess = did_you_mean(call.func, DISTRIBUTIONS)
            raise self.error(
                f"Unknown distribution '{call.func}'.",
                call.func_span,
                guess or "Distributions: " + ", ".join(DISTRIBUTIONS) + ".",
            )
        bound = self.bind_args(call, spec)
        shapes: dict[str, Shape] = {}
        for pname, expr in bound.items():
            shapes[pname] = self.expr_shape(expr, scope, forbid_networks)
            if isinstance(expr, t.Number) and pname in POSITIVE_PARAMS and expr.value <= 0:
                raise self.error(
                    f"{spec.name}'s {pname} must be positive; got {expr.text}.",
                    expr.span,
                    f"Signature: {spec.signature()}.",
                )
            if isinstance(expr, t.Neg) and isinstance(expr.operand, t.Number) and pname in POSITIVE_PARAMS:
                raise self.error(
                    f"{spec.name}'s {pname} must be positive.", expr.span, f"Signature: {spec.signature()}."
                )
        if spec.name == "Uniform":
            lo, hi = bound["low"], bound["high"]
            if isinstance(lo, t.Number) and isinstance(hi, t.Number) and lo.value >= hi.value:
                raise self.error(
                    "Uniform's low must be below its high.", call.span, "Write Uniform(low, high) with low < high."
                )
        # batch shape of each argument (vector params drop their last axis)
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
        if target is None:
            return spec
        tgt_batch = target[: len(target) - spec.event_rank] if spec.event_rank else target
        if spec.event_rank:
            if not target:
                raise self.error(
                    f"{spec.name} draws a vector; give '{role}' a shape such as [K].",
                    call.span,
                    "Write `param p[K] ~ Dirichlet(1)`.",
                )
            if event and not same_size(event[0], target[-1]):
                raise self.error(
                    f"{spec.name}'s concentration has {event[0]} entries but the target has {target[-1]}.",
                    call.span,
                )
        for pname, shp in batch:
            ok, result = broadcast(shp, tgt_batch)
            if not ok or tuple(result) != tuple(tgt_batch):
                what = f"'{observed.name}'" if observed else f"the {role}"
                raise self.error(
                    f"{spec.name}'s {pname} has shape {shape_str(shp)}, which does not fit {what} of shape "
                    f"{shape_str(tgt_batch)}.",
                    bound[pname].span,
                    _shape_hint(shp, tgt_batch, bool(_network_names(bound[pname], self.network_nodes))),
                )
        if observed is not None and spec.name == "Categorical" and event:
            if observed.bound is not None and not same_size(observed.bound[1], _minus_one(event[0])):
                raise self.error(
                    f"Categorical's logits have {event[0]} columns but '{observed.name}' is declared in "
                    f"{observed.bound[0]}..{observed.bound[1]}.",
                    call.span,
                    f"Declare `{observed.name}: int[...] in 0..{_minus_one(event[0])}`.",
                )
        return spec

    def bind_args(self, call: t.Call, spec: DistSpec | KernelSpec) -> dict[str, t.Expr]:
        names = list(spec.params)
        if len(call.args) > len(names):
            raise self.error(
                f"{spec.name} takes at most {plural(len(names), 'argument')}; got {len(call.args)}.",
                call.span,
                f"Signature: {spec.signature()}.",
            )
        bound: dict[str, t.Expr] = dict(zip(names, call.args))
        for kw in call.kwargs:
            pname = spec.alternatives.get(kw.name, kw.name)
            if kw.name not in spec.params and kw.name not in spec.alternatives:
                guess = did_you_mean(kw.name, list(spec.params) + list(spec.alternatives))
                raise self.error(
                    f"{spec.name} has no argument '{kw.name}'.",
                    kw.span,
                    (guess + " " if guess else "") + f"Signature: {spec.signature()}.",
                )
            if pname in bound or kw.name in bound:
                raise self.error(f"{spec.name}'s {pname} is given twice.", kw.span, f"Signature: {spec.signature()}.")
            bound[kw.name] = kw.value
        given = {spec.alternatives.get(k, k) for k in bound}
        missing = [p for p in spec.params[: spec.required] if p not in given]
        if missing:
            raise self.error(
                f"{spec.name} needs {', '.join(missing)}.",
                call.span,
                f"Signature: {spec.signature()}.",
            )
        return bound

    def expr_shape(self, expr: t.Expr, scope: dict[str, Entry], forbid_networks: bool = False) -> Shape:
        if isinstance(expr, t.Number):
            return ()
        if isinstance(expr, t.Name):
            entry = scope.get(expr.id)
            if entry is None:
                guess = did_you_mean(expr.id, [n for n, e in scope.items() if e.kind not in (NETWORK, PRIOR)])
                raise self.error(
                    f"Unknown name '{expr.id}'.",
                    expr.span,
                    guess or "Names must be declared as data, dimensions or params before use.",
                )
            if entry.kind in (NETWORK, PRIOR):
                raise self.error(
                    f"'{expr.id}' is a {'network' if entry.kind == NETWORK else 'prior'}; it must be called.",
                    expr.span,
                    f"Call it, as in `{expr.id}(x)`." if entry.kind == NETWORK else "Use it after '~' on a weight.",
                )
            if entry.kind == GPF and forbid_networks:
                raise self.error(
                    f"'{expr.id}' is a Gaussian process; only observe statements can use it.",
                    expr.span,
                    "Priors of params and GP settings cannot depend on a GP's values.",
                )
            if entry.kind == DATA:
                self.used_data[expr.id] = True
            return entry.shape
        if isinstance(expr, t.Neg):
            return self.expr_shape(expr.operand, scope, forbid_networks)
        if isinstance(expr, t.BinOp):
            left = self.expr_shape(expr.left, scope, forbid_networks)
            right = self.expr_shape(expr.right, scope, forbid_networks)
            ok, result = broadcast(left, right)
            if not ok:
                raise self.error(
                    f"Shapes {shape_str(left)} and {shape_str(right)} do not broadcast in '{expr.op}'.",
                    expr.span,
                    "Element-wise arithmetic needs equal sizes or a size of 1 on each axis.",
                )
            return result
        if isinstance(expr, t.Index):
            return self.index_shape(expr, scope, forbid_networks)
        if isinstance(expr, t.Call):
            return self.call_shape(expr, scope, forbid_networks)
        raise AssertionError(f"unknown expression {expr!r}")

    def index_shape(self, expr: t.Index, scope: dict[str, Entry], forbid_networks: bool) -> Shape:
        base = self.expr_shape(expr.base, scope, forbid_networks)
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
            ishape = self.expr_shape(idx, scope, forbid_networks)
            if not (isinstance(idx, t.Name) and scope.get(idx.id) and scope[idx.id].base == "int"):
                raise self.error(
                    "An index must be a whole number, ':' or an int data variable.",
                    idx.span,
                    "Group effects look like `a[group]` with `group: int[N] in 0..G-1`.",
                )
            out.extend(ishape)
        out.extend(base[len(expr.indices) :])
        return tuple(out)

    def call_shape(self, call: t.Call, scope: dict[str, Entry], forbid_networks: bool) -> Shape:
        entry = scope.get(call.func)
        if call.func in FUNCTIONS and entry is None:
            if len(call.args) != 1 or call.kwargs:
                raise self.error(f"{call.func} takes one argument.", call.span, f"Write `{call.func}(x)`.")
            return self.expr_shape(call.args[0], scope, forbid_networks)
        if entry is not None and entry.kind == NETWORK:
            if forbid_networks:
                raise self.error(
                    f"Network '{call.func}' can only be used in observe statements.",
                    call.span,
                    "Priors of params cannot depend on network outputs.",
                )
            return self.network_call_shape(call, scope)
        if call.func in DISTRIBUTIONS:
            raise self.error(
                f"Distribution '{call.func}' can only appear after '~'.",
                call.func_span,
                "Use a param: `param z ~ Normal(0, 1)`, then use z in the expression.",
            )
        if entry is not None and entry.kind == PRIOR:
            raise self.error(
                f"'{call.func}' is a prior; it can only appear after '~' on a weight or bias.",
                call.func_span,
            )
        candidates = list(FUNCTIONS) + [n for n, e in scope.items() if e.kind == NETWORK]
        guess = did_you_mean(call.func, candidates)
        raise self.error(
            f"Unknown function '{call.func}'.",
            call.func_span,
            guess or f"Functions: {', '.join(FUNCTIONS)}; or a network defined in this file.",
        )

    def network_call_shape(self, call: t.Call, scope: dict[str, Entry]) -> Shape:
        net = self.network_nodes[call.func]
        if len(call.args) != 1 or call.kwargs:
            raise self.error(
                f"Network '{net.name}' takes one input; got {len(call.args) + len(call.kwargs)}.",
                call.span,
                f"Call it as `{net.name}(x)`.",
            )
        arg = self.expr_shape(call.args[0], scope)
        if len(arg) != 2:
            hint = "Declare the input as a matrix, e.g. `x: real[N, 1]` for one feature."
            raise self.error(
                f"A network's input must be a matrix [rows, features]; this one has shape {shape_str(arg)}.",
                call.args[0].span,
                hint,
            )
        prev = self.network_calls.get(net.name)
        if prev is not None and not same_size(prev[0], arg[1]):
            raise self.error(
                f"Network '{net.name}' was called with {prev[0]} features at line {prev[1].line}, here with {arg[1]}.",
                call.span,
                "A network's weights fix its input width.",
            )
        self.network_calls.setdefault(net.name, (arg[1], call.span))
        out = tuple(self.size_of(d) for d in net.output.shape)
        return (arg[0],) + out[1:]

    # ---------------------------------------------------------- observe
    def check_observe(self, obs: t.Observe, seen: dict[str, t.Observe]) -> None:
        var = self.data.get(obs.name)
        if var is None:
            entry = self.scope.get(obs.name)
            if entry is not None and entry.kind == PARAM:
                raise self.error(
                    f"'{obs.name}' is a param; only data can be observed.",
                    obs.span,
                    f"Declare '{obs.name}' in the data block.",
                )
            guess = did_you_mean(obs.name, self.data)
            raise self.error(
                f"Observed variable '{obs.name}' is not declared in the data block.",
                obs.span,
                guess or f"Add `{obs.name}: real[N]` to the data block.",
            )
        if obs.name in seen:
            raise self.error(
                f"'{obs.name}' is observed twice (first at line {seen[obs.name].span.line}).",
                obs.span,
                "Each data variable has one likelihood.",
            )
        seen[obs.name] = obs
        if not var.shape:
            raise self.error(
                f"Observed '{obs.name}' must have at least one dimension (the data rows).",
                var.decl.span,
                f"Declare it as `{obs.name}: real[N]`.",
            )
        spec = self.check_dist(obs.dist, self.scope, target=var.shape, role=obs.name, observed=var)
        if spec.support in ("simplex",):
            raise self.error(f"{spec.name} cannot be observed in this version.", obs.dist.span)
        if spec.discrete and var.base != "int":
            raise self.error(
                f"{spec.name} gives whole numbers but '{obs.name}' is declared real.",
                obs.dist.func_span,
                f"Declare it as `{obs.name}: int{shape_str(var.shape)}"
                + (" in 0..1" if spec.name == "Bernoulli" else "")
                + "`.",
            )
        if not spec.discrete and var.base == "int":
            raise self.error(
                f"{spec.name} is continuous but '{obs.name}' is declared int.",
                obs.dist.func_span,
                "Use Bernoulli, Categorical or Poisson for whole-number data, or declare it real.",
            )
        if spec.name == "Bernoulli" and var.bound is not None and (var.bound != (0, 1)):
            raise self.error(
                f"Bernoulli data are 0 or 1, but '{obs.name}' is declared in {var.bound[0]}..{var.bound[1]}.",
                var.decl.span,
                "Declare it `in 0..1`.",
            )
        if spec.name == "Categorical" and var.bound is None:
            self.warn(
                f"'{obs.name}' has no declared range; labels will be checked against the logits' width.",
                var.decl.span,
                f"Declare `{obs.name}: int{shape_str(var.shape)} in 0..K-1`.",
            )

    def check_standardized(self, observes: dict[str, t.Observe]) -> None:
        """`standardized` data: real, with rows, and (when observed) a likelihood that maps back to data units."""
        for v in self.data.values():
            if not v.standardized:
                continue
            if v.base != "real" or v.bound is not None:
                raise self.error(
                    f"Only real data can be standardized; '{v.name}' is declared "
                    f"{v.base}{shape_str(v.shape) if v.shape else ''}{' with a range' if v.bound else ''}.",
                    v.decl.span,
                    "Remove `standardized`: labels and counts keep their own values.",
                )
            if not v.shape:
                raise self.error(
                    f"'{v.name}' is a scalar; standardizing needs rows to take the mean and sd over.",
                    v.decl.span,
                    f"Declare it with a row dimension, as in `{v.name}: real[N]`, or remove `standardized`.",
                )
            obs = observes.get(v.name)
            if obs is not None and obs.dist.func not in LOCATION_SCALE:
                raise self.error(
                    f"A standardized target needs a location-scale likelihood to give predictions in its own "
                    f"units; '{v.name}' is observed with {obs.dist.func}.",
                    obs.dist.func_span,
                    f"Use one of {', '.join(sorted(LOCATION_SCALE))}, or remove `standardized` from '{v.name}'.",
                )

    # ---------------------------------------------------------- networks
    def check_network(self, net: t.Network) -> CheckedNetwork:
        if net.input in self.data and len(self.data[net.input].shape) != 2:
            pass  # the call site checks the argument's shape
        out = tuple(self.size_of(d) for d in net.output.shape)
        if net.output.base != "real" or not out or len(out) > 2 or net.output.bound is not None:
            raise self.error(
                "A network's output is real[rows] or real[rows, K].",
                net.output.span,
                f"Write `network {net.name}({net.input}) -> real[N]` for one output per row.",
            )
        for d in net.output.shape:
            if d.name is not None and d.name not in self.scope and d.name not in self.consts:
                raise self.error(f"Unknown dimension '{d}' in the output of '{net.name}'.", d.span)
        fan_in = self.network_calls[net.name][0]
        defaults: dict[str, t.PriorAssign] = {}
        for d in net.defaults:
            self.check_role(d)
            if d.role in defaults:
                raise self.error(f"Default {d.role} prior given twice.", d.span, "Keep one.")
            defaults[d.role] = d
        if not net.layers:
            raise self.error(f"Network '{net.name}' has no layers.", net.span, "Add layers such as `dense(1)`.")
        layers, width = self.check_layers(net.layers, fan_in, defaults, net.name, "")
        want = out[1] if len(out) == 2 else 1
        if not same_size(width, want):
            hint = (
                f"End the network with `dense({want})`."
                if len(out) == 2
                else f"End with `dense(1)` for `-> {shape_str(out)[1:-1] and 'real' + shape_str(out)}`, "
                f"or declare the output as real[{out[0]}, {width}]."
            )
            raise self.error(
                f"Network '{net.name}' ends with width {width} but its output is declared {shape_str(out)}.",
                net.output.span,
                hint,
            )
        return CheckedNetwork(net, fan_in, layers, width, squeeze=len(out) == 1)

    def check_role(self, pa: t.PriorAssign) -> None:
        if pa.role not in PRIOR_ROLES:
            guess = did_you_mean(pa.role, PRIOR_ROLES)
            raise self.error(
                f"A layer has a weight and a bias; '{pa.role}' is neither.",
                pa.span,
                guess or "Write `weight ~ ...` or `bias ~ ...`.",
            )

    def check_layers(
        self,
        layers: tuple[t.Layer, ...],
        width: Size,
        defaults: dict[str, t.PriorAssign],
        net: str,
        prefix: str,
        fixed: bool = False,
    ) -> tuple[list, Size]:
        out: list = []
        for layer in layers:
            path = f"{prefix}{len(out)}"
            if layer.kind == "deterministic":
                # `deterministic { ... }` marks its layers as point-estimated; paths stay flat,
                # so marking layers deterministic does not rename their sites.
                if fixed or prefix:
                    raise self.error(
                        "A deterministic block sits directly in a network, not inside another block.", layer.span
                    )
                if layer.has_args or layer.priors or not layer.layers:
                    raise self.error(
                        "A deterministic block holds layers only.",
                        layer.span,
                        "Write `deterministic { dense(50, tanh) dense(50, tanh) }`.",
                    )
                inner, width = self.check_layers(layer.layers, width, defaults, net, prefix, fixed=True)
                for item in inner:
                    item.path = f"{prefix}{len(out)}"
                    if isinstance(item, Residual):
                        _repath(item)
                    out.append(item)
                continue
            if layer.kind == "dense":
                units, activation = self.dense_args(layer)
                priors = {}
                for pa in layer.priors:
                    self.check_role(pa)
                    if pa.role in priors:
                        raise self.error(f"The {pa.role} prior is given twice.", pa.span, "Keep one.")
                    priors[pa.role] = pa
                uses = {}
                for role in PRIOR_ROLES:
                    pa = priors.get(role) or defaults.get(role)
                    shape = (width, units) if role == "weight" else (units,)
                    uses[role] = self.check_prior_use(pa, role, shape)
                out.append(Dense(path, width, units, activation, uses["weight"], uses["bias"], fixed))
                width = units
            elif layer.kind == "residual":
                if layer.has_args or layer.priors:
                    raise self.error(
                        "A residual block holds layers only.",
                        layer.span,
                        "Write `residual { dense(50, tanh) dense(50) }`.",
                    )
                if not layer.layers:
                    raise self.error("A residual block needs at least one layer.", layer.span)
                inner, inner_width = self.check_layers(layer.layers, width, defaults, net, path + ".", fixed)
                if not same_size(inner_width, width):
                    raise self.error(
                        f"A residual block must keep its width: it takes {width} and gives {inner_width}.",
                        layer.span,
                        f"End the block with `dense({width})`.",
                    )
                out.append(Residual(path, inner))
            elif layer.kind in ACTIVATIONS:
                if layer.has_args or layer.has_body:
                    raise self.error(
                        f"Activation layer '{layer.kind}' takes no arguments.",
                        layer.span,
                        f"Write `{layer.kind}` alone, or `dense(units, {layer.kind})`.",
                    )
                out.append(Activation(path, layer.kind))
            else:
                guess = did_you_mean(layer.kind, ["dense", "residual", "deterministic", *ACTIVATIONS])
                raise self.error(
                    f"Unknown layer '{layer.kind}'.",
                    layer.span,
                    guess or "Layers: dense(units, activation), residual { ... }, or an activation name.",
                )
            if layer.kind != "dense" and layer.priors:
                raise self.error("Only dense layers have weight and bias priors.", layer.priors[0].span)
        return out, width

    def dense_args(self, layer: t.Layer) -> tuple[Size, str]:
        if layer.layers:
            raise self.error("A dense layer's body holds weight and bias priors, not layers.", layer.layers[0].span)
        args = list(layer.args)
        for kw in layer.kwargs:
            if kw.name == "units" and not args:
                args.insert(0, kw.value)
            elif kw.name == "activation" and len(args) <= 1:
                args.append(kw.value)
            else:
                raise self.error(f"dense has no argument '{kw.name}' here.", kw.span, "Write dense(units, activation).")
        if not args or len(args) > 2:
            raise self.error(
                "dense takes the number of units and an optional activation.",
                layer.span,
                "Write `dense(50, tanh)` or `dense(1)`.",
            )
        u = args[0]
        if isinstance(u, t.Number):
            if not u.is_int or u.value < 1:
                raise self.error(
                    "A layer's units must be a whole number of at least 1.", u.span, "Write e.g. `dense(50, tanh)`."
                )
            units: Size = int(u.value)
        elif isinstance(u, t.Name) and self.scope.get(u.id) is not None and self.scope[u.id].kind == DIM:
            units = self.consts.get(u.id, u.id)
        else:
            raise self.error(
                "A layer's units must be a number or a dimension name.", u.span, "Write `dense(50)` or `dense(K)`."
            )
        activation = "identity"
        if len(args) == 2:
            a = args[1]
            if not isinstance(a, t.Name) or a.id not in ACTIVATIONS:
                name = a.id if isinstance(a, t.Name) else "this"
                guess = did_you_mean(name, ACTIVATIONS)
                raise self.error(
                    f"Unknown activation '{name}'.",
                    a.span,
                    guess or "Activations: " + ", ".join(ACTIVATIONS) + ".",
                )
            activation = a.id
        return units, activation

    def check_prior_use(self, pa: t.PriorAssign | None, role: str, shape: Shape) -> PriorUse:
        if pa is None:
            # Built-in defaults: Neal's fan-in scaling for weights, Normal(0, 1) for biases.
            fan = t.Call("sqrt", (t.Name("fan_in"),))
            call = (
                t.Call("Normal", (t.Number(0.0, "0"), t.BinOp("/", t.Number(1.0, "1"), fan)))
                if role == "weight"
                else t.Call("Normal", (t.Number(0.0, "0"), t.Number(1.0, "1")))
            )
            return PriorUse(role, call)
        call = pa.rhs
        layer_scope = dict(self.scope)
        layer_scope["fan_in"] = Entry(FAN, ())
        layer_scope["fan_out"] = Entry(FAN, ())
        if call.func in self.prior_defs:
            module, pdef, _, _ = self.prior_defs[call.func]
            self.used_priors.add(call.func)
            args = self.bind_prior_args(call, pdef, layer_scope)
            for lp in pdef.locals:
                lshape = tuple(self.subst_fan(s, shape) for s in (self.prior_size(d, pdef) for d in lp.shape))
                if role == "bias" and any(d.name == "fan_in" for d in lp.shape):
                    raise self.error(
                        f"Prior '{pdef.name}' has a per-input param '{lp.name}', which a bias does not have.",
                        call.span,
                        "Use this prior on weights only.",
                    )
                ok, res = broadcast(lshape, shape)
                if not ok or res != shape:
                    raise self.error(
                        f"Prior '{pdef.name}' does not fit a {role} of shape {shape_str(shape)}.", call.span
                    )
            return PriorUse(role, call, pdef, args)
        self.check_dist(call, layer_scope, target=shape, role=role, forbid_networks=True)
        return PriorUse(role, call)

    @staticmethod
    def subst_fan(size: Size, shape: Shape) -> Size:
        if size == "fan_in":
            return shape[0] if len(shape) == 2 else 1
        if size == "fan_out":
            return shape[-1]
        return size

    def bind_prior_args(self, call: t.Call, pdef: t.PriorDef, scope: dict[str, Entry]) -> dict[str, t.Expr]:
        names = [p.name for p in pdef.params]
        sig = f"{pdef.name}({', '.join(p.name + (' = ' + p.default.text if p.default else '') for p in pdef.params)})"
        if len(call.args) > len(names):
            raise self.error(
                f"Prior '{pdef.name}' takes at most {plural(len(names), 'argument')}; got {len(call.args)}.",
                call.span,
                f"Signature: {sig}.",
            )
        args: dict[str, t.Expr] = dict(zip(names, call.args))
        for kw in call.kwargs:
            if kw.name not in names:
                guess = did_you_mean(kw.name, names)
                raise self.error(
                    f"Prior '{pdef.name}' has no argument '{kw.name}'.",
                    kw.span,
                    (guess + " " if guess else "") + f"Signature: {sig}.",
                )
            if kw.name in args:
                raise self.error(f"Argument '{kw.name}' is given twice.", kw.span, f"Signature: {sig}.")
            args[kw.name] = kw.value
        for p in pdef.params:
            if p.name not in args:
                if p.default is None:
                    raise self.error(f"Prior '{pdef.name}' needs '{p.name}'.", call.span, f"Signature: {sig}.")
                args[p.name] = p.default
        for name, expr in args.items():
            shp = self.expr_shape(expr, scope, forbid_networks=True)
            if shp:
                raise self.error(
                    f"Prior arguments are scalars; '{name}' has shape {shape_str(shp)}.",
                    expr.span,
                )
        return {p.name: args[p.name] for p in pdef.params}

    # ---------------------------------------------------------- infer
    def check_infer(self, infers: list[t.Infer]) -> InferSettings:
        if len(infers) > 1:
            raise self.error("A model has at most one infer statement.", infers[1].span, "Keep one.")
        if not infers:
            method, given = "nuts", {}
        else:
            inf = infers[0]
            loc = self.loc(inf.span)
            check_backend(inf.method, loc)
            method, given = inf.method, {}
            for arg in inf.args:
                if not isinstance(arg, t.KwArg):
                    raise self.error(
                        "Inference settings are named.", arg.span, f"Write `infer {inf.method}(chains = 4)`."
                    )
                value = arg.value
                number = None
                if isinstance(value, t.Number):
                    number = value.value
                elif isinstance(value, t.Neg) and isinstance(value.operand, t.Number):
                    number = -value.operand.value
                elif isinstance(value, t.Name) and value.id in ("true", "false"):
                    number = 1.0 if value.id == "true" else 0.0
                elif isinstance(value, t.Name) and BACKENDS[method].get(arg.name, _NUMERIC).kind is str:
                    number = value.id  # a word setting, e.g. guide = lowrank
                if arg.name in given:
                    raise self.error(f"Setting '{arg.name}' is given twice.", arg.span, "Keep one of them.")
                if number is None:
                    spec = BACKENDS[method].get(arg.name)
                    raise self.error(
                        f"Setting '{arg.name}' must be {spec.describe() if spec else 'a number'}.",
                        arg.value.span,
                        "Write e.g. `chains = 4`."
                        if not spec or spec.kind is not str
                        else f"Write e.g. `{arg.name} = {spec.default}`.",
                    )
                given[arg.name] = validate_setting(method, arg.name, number, self.loc(arg.span))
        table = BACKENDS[method]
        return InferSettings(method, {**{k: s.default for k, s in table.items()}, **given}, frozenset(given))

    # ---------------------------------------------------------- dimension sources
    def dim_sources(self) -> tuple[dict[str, tuple[str, int]], list[str]]:
        """Where the model function reads each dimension: an input array's axis, or a keyword argument."""
        input_dims: dict[str, tuple[str, int]] = {}
        for v in self.data.values():
            if v.observed:
                continue
            for axis, sz in enumerate(v.shape):
                if isinstance(sz, str) and re.fullmatch(r"[A-Za-z_]\w*", sz):
                    input_dims.setdefault(sz, (v.name, axis))
        arg_dims = []
        for v in self.data.values():
            for sz in v.shape + (v.bound or ()):
                for sym in symbols(sz):
                    if sym not in input_dims and sym not in self.consts and sym not in arg_dims:
                        arg_dims.append(sym)
        return input_dims, arg_dims


def _repath(block: Residual) -> None:
    """Give a residual block's layers paths under the block's (new) path."""
    for i, item in enumerate(block.layers):
        item.path = f"{block.path}.{i}"
        if isinstance(item, Residual):
            _repath(item)


def same_size(a: Size, b: Size) -> bool:
    return a == b


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


def _minus_one(size: Size) -> Size:
    return size - 1 if isinstance(size, int) else f"{size}-1"


def _shape_hint(shape: Shape, target: Shape, from_network: bool = True) -> str:
    if from_network and len(shape) == len(target) + 1 and shape[-1] == 1:
        return "A network whose output is declared `-> real[N]` gives one value per row; check the declaration."
    if len(shape) == 2 and len(target) == 1:
        return "Pick one column, e.g. out[:, 0], or declare the network's output as real[N]."
    return "The arguments must broadcast to the observed or declared shape without growing it."


def names_in(node) -> list[str]:
    """All identifiers referenced by an expression or call (not function names)."""
    return [n.id for n in t.walk(node) if isinstance(n, t.Name)]


def _noncenter(out: dict[str, tuple[str, ...]], site: str, call: t.Call, latent: set[str]) -> None:
    if call.func in LOCATION_SCALE and latent.intersection(names_in(call)):
        out[site] = ("df",) if call.func == "StudentT" else ()


def check(program: t.Program, model_dir: Path | None = None) -> CheckedModel:
    """Check a parsed program; raise BnnError on the first problem."""
    return Checker(program, model_dir).run()


def _network_names(expr, networks) -> list[str]:
    return [n.func for n in t.walk(expr) if isinstance(n, t.Call) and n.func in networks]
