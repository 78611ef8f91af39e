"""The data block: declarations, dimension constants, column lists, `standardized`, and where each dimension
is read from when the model runs."""

from __future__ import annotations

import re

from ..errors import BnnError
from ..syntax import tree as t
from . import messages as msg
from .distributions import LOCATION_SCALE
from .env import Entry, Env, Kind
from .model import DataVar, symbols

# arguments of MCMC.run, log_likelihood, Trace.get_trace and Predictive.__call__, which take the data as **kwargs
NUMPYRO_ARGUMENTS = frozenset(
    {"rng_key", "self", "init_params", "extra_fields", "model", "posterior_samples", "parallel", "batch_ndims"}
)


def check_data_block(env: Env, block: t.DataBlock) -> None:
    for item in block.items:
        if isinstance(item, t.DimConst):
            if not item.value.is_int or item.value.value < 1:
                raise msg.dimension_not_whole(env.at(item.value.span), item.name)
            env.define(item.name, Entry(Kind.DIM, (), item.span, "int"))
            env.consts[item.name] = int(item.value.value)
    for item in block.items:
        if isinstance(item, t.DataDecl):
            env.define(item.name, Entry(Kind.DATA, span=item.span))
    for item in block.items:
        if isinstance(item, t.DataDecl):
            var = _declaration(env, item)
            env.data[item.name] = var
            env.scope[item.name] = Entry(Kind.DATA, var.shape, item.span, item.type.base)
    # dims named in shapes become scalar ints usable in expressions
    for v in env.data.values():
        for sz in v.shape + (v.bound or ()):
            for sym in symbols(sz):
                if sym not in env.scope:
                    env.scope[sym] = Entry(Kind.DIM, (), v.decl.span, "int")
                elif env.scope[sym].kind is not Kind.DIM:
                    raise msg.dimension_is_data(env.at(v.decl.type.span), sym)


def _declaration(env: Env, item: t.DataDecl) -> DataVar:
    shape = tuple(env.size_of(d) for d in item.type.shape)
    bound = None
    if item.type.bound is not None:
        if item.type.base != "int":
            raise msg.range_on_real(env.at(item.type.span), item.name, shape)
        bound = (env.size_of(item.type.bound[0]), env.size_of(item.type.bound[1]))
    if item.type.levels is not None:
        if item.type.base != "int":
            raise msg.levels_on_real(env.at(item.type.span), item.name, shape)
        seen: set[str] = set()
        for level in item.type.levels:
            if level.id in seen:
                raise msg.level_twice(env.at(level.span), level.id, item.name)
            seen.add(level.id)
        bound = (0, len(item.type.levels) - 1)
    if item.columns is not None:
        if len(shape) != 2:
            raise msg.columns_need_matrix(env.at(item.span), item.name, len(item.columns))
        if isinstance(shape[1], int) and shape[1] != len(item.columns):
            raise msg.column_count(env.at(item.span), item.name, shape[1], len(item.columns))
    if item.name in NUMPYRO_ARGUMENTS:
        raise msg.numpyro_argument_name(env.at(item.span), item.name)
    return DataVar(item, shape, bound)


def not_data(env: Env, obs: t.Observe) -> BnnError:
    """The error for an observe statement whose variable is not in the data block."""
    if env.is_kind(obs.name, Kind.PARAM):
        return msg.observed_param(env.at(obs.span), obs.name)
    return msg.observed_undeclared(env.at(obs.span), obs.name, env.data)


def check_standardized(env: Env, observes: dict[str, t.Observe]) -> None:
    """`standardized` data: real, with rows, and (when observed) a likelihood that maps back to data units."""
    for v in env.data.values():
        if not v.standardized:
            continue
        if v.base != "real" or v.bound is not None:
            raise msg.standardized_not_real(env.at(v.decl.span), v.name, v.base, v.shape, ranged=bool(v.bound))
        if not v.shape:
            raise msg.standardized_scalar(env.at(v.decl.span), v.name)
        obs = observes.get(v.name)
        if obs is not None and obs.dist.func not in LOCATION_SCALE:
            raise msg.standardized_likelihood(env.at(obs.dist.func_span), v.name, obs.dist.func, LOCATION_SCALE)


def dim_sources(env: Env) -> tuple[dict[str, tuple[str, int]], list[str]]:
    """Where the model function reads each dimension: an input array's axis, or a keyword argument."""
    input_dims: dict[str, tuple[str, int]] = {}
    for v in env.data.values():
        if v.observed:
            continue
        for axis, sz in enumerate(v.shape):
            if isinstance(sz, str) and re.fullmatch(r"[A-Za-z_]\w*", sz):
                input_dims.setdefault(sz, (v.name, axis))
    arg_dims: list[str] = []
    for v in env.data.values():
        for sz in v.shape + (v.bound or ()):
            for sym in symbols(sz):
                if sym not in input_dims and sym not in env.consts and sym not in arg_dims:
                    arg_dims.append(sym)
    return input_dims, arg_dims
