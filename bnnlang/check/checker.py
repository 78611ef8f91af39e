"""Check a parsed program and produce the `CheckedModel` that code generation reads.

The checks run in program order and stop at the first error: imports and definitions are unique, names
resolve (with suggestions), calls match a distribution, function, network or prior signature, shapes broadcast
to what they must be, networks' layer widths fit together, and the infer settings are valid. Each kind of
statement has its module (`data_block`, `exprs`, `layers`, `gp`); this one is the order they run in.
"""

from __future__ import annotations

from pathlib import Path

from ..syntax import tree as t
from . import data_block
from . import messages as msg
from . import network_messages as net_msg
from .backends import BACKENDS, DEFAULT_BACKEND, Setting
from .env import Entry, Env, Kind, PriorSource
from .exprs import Exprs
from .gp import check_function_prior, check_gp, classify
from .imports import resolve_imports
from .model import CheckedFunctionPrior, CheckedGP, CheckedModel, CheckedNetwork, DataVar, Shape, symbols
from .network import check_network, check_prior_def
from .settings import InferSettings, check_backend, defaults, validate_setting

_NUMERIC = Setting(float, 0.0)


def check(program: t.Program, model_dir: Path | None = None) -> CheckedModel:
    """Check a parsed program; raise BnnError on the first problem."""
    env = Env(program, resolve_imports(program, model_dir))
    items = program.items
    ex = Exprs(env)
    data_blocks = [i for i in items if isinstance(i, t.DataBlock)]
    if len(data_blocks) > 1:
        raise msg.two_data_blocks(env.at(data_blocks[1].span))
    if data_blocks:
        data_block.check_data_block(env, data_blocks[0])
    _define_top_level(env)
    for source in env.prior_defs.values():
        check_prior_def(env, source)

    params = [i for i in items if isinstance(i, t.Param)]
    ordered = _order_params(env, params)
    for p in ordered:
        env.param_shapes[p.name] = _check_param(ex, p)
        env.scope[p.name] = Entry(Kind.PARAM, env.param_shapes[p.name], p.span)

    networks = [i for i in items if isinstance(i, t.Network)]
    env.network_nodes = {n.name: n for n in networks}
    gps: dict[str, CheckedGP] = {}
    for node in (i for i in items if isinstance(i, t.GPDecl)):
        gps[node.name] = check_gp(ex, node)
        env.scope[node.name] = Entry(Kind.GP, gps[node.name].scope_shape, node.span)

    observes = [i for i in items if isinstance(i, t.Observe)]
    seen: dict[str, t.Observe] = {}
    for obs in observes:
        _check_observe(ex, obs, seen)
    for g in gps.values():
        classify(ex, g, observes)
    function_priors: list[CheckedFunctionPrior] = []
    for node in (i for i in items if isinstance(i, t.FunctionPrior)):
        if any(fp.network == node.network for fp in function_priors):
            raise net_msg.two_function_priors(env.at(node.span), node.network)
        function_priors.append(check_function_prior(ex, node))
    if not observes:
        env.warn(msg.observes_nothing(env.at(items[0].span if items else t.Span(1, 1, 1, 1))))

    checked_networks: dict[str, CheckedNetwork] = {}
    for net in networks:
        if net.name not in env.network_calls:
            raise net_msg.network_never_called(env.at(net.span), net.name)
        checked_networks[net.name] = check_network(env, net)

    for obs in observes:
        env.data[obs.name].observed = True
    data_block.check_standardized(env, {obs.name: obs for obs in observes})
    for v in env.data.values():
        if not v.observed and v.name not in env.used_data:
            env.warn(msg.never_used_data(env.at(v.decl.span), v.name))

    infer = _check_infer(env, [i for i in items if isinstance(i, t.Infer)])
    input_dims, arg_dims = data_block.dim_sources(env)
    for p in params:
        for sz in env.param_shapes[p.name]:
            for sym in symbols(sz):
                if sym not in env.consts and sym not in input_dims and sym not in arg_dims:
                    arg_dims.append(sym)
    return CheckedModel(
        program=program,
        data=env.data,
        consts=env.consts,
        input_dims=input_dims,
        arg_dims=arg_dims,
        params=ordered,
        param_shapes=env.param_shapes,
        networks=checked_networks,
        prior_defs={k: (s.module, s.definition) for k, s in env.prior_defs.items() if k in env.used_priors},
        observes=observes,
        infer=infer,
        warnings=env.warnings,
        gps=gps,
        function_priors=function_priors,
    )


def _define_top_level(env: Env) -> None:
    """Every top-level name, before any is used: a param's prior may name a param defined below it."""
    for item in env.program.items:
        if isinstance(item, t.PriorDef):
            if item.name in env.prior_defs:
                raise msg.defined_by_import(env.at(item.span), item.name)
            env.define(item.name, Entry(Kind.PRIOR, span=item.span))
            env.prior_defs[item.name] = PriorSource("", item, env.program)
        elif isinstance(item, t.Param):
            env.define(item.name, Entry(Kind.PARAM, span=item.span))
        elif isinstance(item, t.Network):
            env.define(item.name, Entry(Kind.NETWORK, span=item.span))
        elif isinstance(item, t.GPDecl):
            env.define(item.name, Entry(Kind.GP, span=item.span))
    for name, source in env.prior_defs.items():
        if name not in env.scope:
            env.scope[name] = Entry(Kind.PRIOR, span=source.definition.span)


# ---------------------------------------------------------------- params


def _order_params(env: Env, params: list[t.Param]) -> list[t.Param]:
    """Sort params so that each comes after the params its prior uses."""
    by_name = {p.name: p for p in params}
    deps = {p.name: [n for n in t.names_in(p.dist) if n in by_name] for p in params}
    ordered: list[t.Param] = []
    state: dict[str, int] = {}

    def visit(name: str, chain: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            raise msg.param_cycle(env.at(by_name[name].span), chain[chain.index(name) :] + [name])
        state[name] = 1
        for dep in deps[name]:
            visit(dep, chain + [name])
        state[name] = 2
        ordered.append(by_name[name])

    for p in params:
        visit(p.name, [])
    return ordered


def _check_param(ex: Exprs, p: t.Param) -> Shape:
    env = ex.env
    shape = tuple(env.size_of(d) for d in p.shape)
    for d, sz in zip(p.shape, shape):
        for sym in symbols(sz):
            if not env.is_kind(sym, Kind.DIM):
                raise msg.unknown_dimension(env.at(d.span), sym, p.name, env.names(Kind.DIM))
        if isinstance(sz, int) and sz < 1:
            raise msg.dimension_below_one(env.at(d.span))
    if p.dist.func in env.prior_defs:
        raise msg.layer_prior_as_param_prior(env.at(p.dist.func_span), p.dist.func)
    ex.dist(p.dist, env.scope, target=shape, role="param", forbid_networks=True)
    return shape


# ---------------------------------------------------------------- observe


def _check_observe(ex: Exprs, obs: t.Observe, seen: dict[str, t.Observe]) -> None:
    env = ex.env
    var = env.data.get(obs.name)
    if var is None:
        raise data_block.not_data(env, obs)
    if obs.name in seen:
        raise msg.observed_twice(env.at(obs.span), obs.name, seen[obs.name].span.line)
    seen[obs.name] = obs
    if not var.shape:
        raise msg.observed_scalar(env.at(var.decl.span), obs.name)
    spec = ex.dist(obs.dist, env.scope, target=var.shape, role=obs.name, observed=var)
    if spec.support in ("simplex",):
        raise msg.cannot_observe(env.at(obs.dist.span), spec.name)
    _check_support(env, obs, var, spec)


def _check_support(env: Env, obs: t.Observe, var: DataVar, spec) -> None:
    """Whole-number likelihoods on int data, continuous ones on real data; ranges that fit the support."""
    if spec.discrete and var.base != "int":
        raise msg.discrete_on_real(env.at(obs.dist.func_span), spec.name, obs.name, var.shape)
    if not spec.discrete and var.base == "int":
        raise msg.continuous_on_int(env.at(obs.dist.func_span), spec.name, obs.name)
    if spec.name == "Bernoulli" and var.bound is not None and (var.bound != (0, 1)):
        raise msg.bernoulli_range(env.at(var.decl.span), obs.name, var.bound)
    if spec.name == "Categorical" and var.bound is None:
        env.warn(msg.categorical_no_range(env.at(var.decl.span), obs.name, var.shape))


# ---------------------------------------------------------------- infer


def _check_infer(env: Env, infers: list[t.Infer]) -> InferSettings:
    if len(infers) > 1:
        raise msg.two_infers(env.at(infers[1].span))
    if not infers:
        return defaults(DEFAULT_BACKEND)
    inf = infers[0]
    check_backend(inf.method, env.program.at(inf.span))
    method, given = inf.method, {}
    for arg in inf.args:
        if not isinstance(arg, t.KwArg):
            raise msg.unnamed_setting(env.at(arg.span), inf.method)
        if arg.name in given:
            raise msg.setting_twice(env.at(arg.span), arg.name)
        value = _setting_value(arg, BACKENDS[method].settings.get(arg.name, _NUMERIC))
        if value is None:
            raise msg.setting_value(env.at(arg.value.span), arg.name, BACKENDS[method].settings.get(arg.name))
        given[arg.name] = validate_setting(method, arg.name, value, env.program.at(arg.span))
    table = BACKENDS[method].settings
    return InferSettings(method, {**{k: s.default for k, s in table.items()}, **given}, frozenset(given))


def _setting_value(arg: t.KwArg, spec: Setting) -> float | str | None:
    """A setting as written: a number, true/false, or a word for word settings (e.g. guide = lowrank)."""
    value = arg.value
    if isinstance(value, t.Number):
        return value.value
    if isinstance(value, t.Neg) and isinstance(value.operand, t.Number):
        return -value.operand.value
    if isinstance(value, t.Name) and value.id in ("true", "false"):
        return 1.0 if value.id == "true" else 0.0
    if isinstance(value, t.Name) and spec.kind is str:
        return value.id
    return None
