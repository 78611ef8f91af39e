"""The data block: declarations, dimension constants, column lists, `standardized`, and where each dimension
is read from when the model runs."""

from __future__ import annotations

import re

from ..errors import BnnError, suggest
from ..syntax import tree as t
from .distributions import LOCATION_SCALE
from .env import Entry, Env, Kind
from .model import DataVar, shape_str, symbols

# arguments of MCMC.run, log_likelihood, Trace.get_trace and Predictive.__call__, which take the data as **kwargs
NUMPYRO_ARGUMENTS = frozenset(
    {"rng_key", "self", "init_params", "extra_fields", "model", "posterior_samples", "parallel", "batch_ndims"}
)


def check_data_block(env: Env, block: t.DataBlock) -> None:
    for item in block.items:
        if isinstance(item, t.DimConst):
            if not item.value.is_int or item.value.value < 1:
                raise env.error(
                    f"Dimension '{item.name}' must be a whole number of at least 1.",
                    item.value.span,
                    f"Write it as `{item.name} = 3`.",
                )
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
                    raise env.error(
                        f"'{sym}' is used as a dimension but is a data variable.",
                        v.decl.type.span,
                        "Dimension names and variable names must differ.",
                    )


def _declaration(env: Env, item: t.DataDecl) -> DataVar:
    shape = tuple(env.size_of(d) for d in item.type.shape)
    bound = None
    if item.type.bound is not None:
        if item.type.base != "int":
            raise env.error(
                "Only int data can have a range.",
                item.type.span,
                f"Declare it as `{item.name}: int{shape_str(shape) if shape else ''} in 0..K-1`.",
            )
        bound = (env.size_of(item.type.bound[0]), env.size_of(item.type.bound[1]))
    if item.columns is not None:
        if len(shape) != 2:
            raise env.error(
                "A column list fits a matrix variable.",
                item.span,
                f"Declare it as `{item.name}: real[N, {len(item.columns)}] from (...)`.",
            )
        if isinstance(shape[1], int) and shape[1] != len(item.columns):
            raise env.error(
                f"'{item.name}' has {shape[1]} columns but the list names {len(item.columns)}.",
                item.span,
                "Make the width match the column list.",
            )
    if item.name in NUMPYRO_ARGUMENTS:
        raise env.error(
            f"'{item.name}' cannot name data: the data are passed to NumPyro's inference functions "
            f"as keyword arguments, beside their own argument '{item.name}'.",
            item.span,
            f"Rename it, e.g. `{item.name}_x`; a matrix can take CSV columns of any name with `from (...)`.",
        )
    return DataVar(item, shape, bound)


def unknown_dimension(env: Env, name: str, span: t.Span, where: str) -> BnnError:
    return env.error(
        f"Unknown dimension '{name}' in {where}.",
        span,
        suggest(
            name, env.names(Kind.DIM), otherwise="Dimensions come from the data block, e.g. `x: real[N, D]` or `K = 3`."
        ),
    )


def not_data(env: Env, obs: t.Observe) -> BnnError:
    """The error for an observe statement whose variable is not in the data block."""
    if env.is_kind(obs.name, Kind.PARAM):
        return env.error(
            f"'{obs.name}' is a param; only data can be observed.", obs.span, f"Declare '{obs.name}' in the data block."
        )
    return env.error(
        f"Observed variable '{obs.name}' is not declared in the data block.",
        obs.span,
        suggest(obs.name, env.data, otherwise=f"Add `{obs.name}: real[N]` to the data block."),
    )


def check_standardized(env: Env, observes: dict[str, t.Observe]) -> None:
    """`standardized` data: real, with rows, and (when observed) a likelihood that maps back to data units."""
    for v in env.data.values():
        if not v.standardized:
            continue
        if v.base != "real" or v.bound is not None:
            raise env.error(
                f"Only real data can be standardized; '{v.name}' is declared "
                f"{v.base}{shape_str(v.shape) if v.shape else ''}{' with a range' if v.bound else ''}.",
                v.decl.span,
                "Remove `standardized`: labels and counts keep their own values.",
            )
        if not v.shape:
            raise env.error(
                f"'{v.name}' is a scalar; standardizing needs rows to take the mean and sd over.",
                v.decl.span,
                f"Declare it with a row dimension, as in `{v.name}: real[N]`, or remove `standardized`.",
            )
        obs = observes.get(v.name)
        if obs is not None and obs.dist.func not in LOCATION_SCALE:
            raise env.error(
                f"A standardized target needs a location-scale likelihood to give predictions in its own "
                f"units; '{v.name}' is observed with {obs.dist.func}.",
                obs.dist.func_span,
                f"Use one of {', '.join(sorted(LOCATION_SCALE))}, or remove `standardized` from '{v.name}'.",
            )


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
