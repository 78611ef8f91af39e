"""Checks for `gp` statements and function-space priors (`prior net ~ GP(...) at context(...)`).

A GP's input is a data matrix or a network's output (deep kernel learning);
its kernel is an expression of kernels (sums, products, scaling by positive
numbers or params). After the observe statements are checked, each GP gets
its *mode*: `collapsed` when its only use is `observe y ~ Normal(f, sigma)`
(the latent function is integrated out exactly), `sparse` with `inducing = M`,
and `latent` (whitened) otherwise.
"""

from __future__ import annotations

from ..errors import BnnError
from ..syntax import tree as t
from . import messages as msg
from . import network_messages as net_msg
from .distributions import DISTRIBUTIONS, FUNCTIONS, GP_OPTIONS, KERNELS
from .env import Kind
from .exprs import Exprs, Signature, number
from .model import CheckedFunctionPrior, CheckedGP, Size

_FUNCTION_PRIOR_OPTIONS = {"jitter": 1e-3}
_CONTEXT_OPTIONS = ("points", "low", "high", "spread")


def split_gp_call(
    ex: Exprs, call: t.Call, options: dict[str, float], function_prior: bool
) -> tuple[t.Expr, t.Expr, dict]:
    """`GP(mean, kernel, name = number ...)` -> mean, kernel, options; in a gp statement or (`function_prior`)
    a function-space prior."""
    if call.func != "GP":
        raise net_msg.gp_call_expected(ex.at(call.func_span), call.func, options, function_prior)
    args = list(call.args)
    named = {kw.name: kw for kw in call.kwargs}
    for key in ("mean", "kernel"):
        if key in named:
            args.insert(0 if key == "mean" else len(args), named.pop(key).value)
    if len(args) != 2:
        raise net_msg.gp_arity(ex.at(call.span), len(args), options)
    values = dict(options)
    for name, kw in named.items():
        if name not in options:
            raise net_msg.gp_no_setting(ex.at(kw.span), name, options)
        num = number(kw.value)
        if num is None:
            raise net_msg.setting_not_number(ex.at(kw.value.span), "GP", name, options[name])
        values[name] = num
    if values.get("jitter", 1.0) <= 0:
        raise net_msg.gp_jitter_not_positive(ex.at(named["jitter"].span))
    if "inducing" in named and (values["inducing"] < 1 or values["inducing"] != int(values["inducing"])):
        raise net_msg.gp_inducing(ex.at(named["inducing"].span))
    return args[0], args[1], values


def check_mean(ex: Exprs, mean: t.Expr) -> None:
    shape = ex.shape(mean, ex.env.scope, forbid_networks=True)
    if shape:
        raise net_msg.gp_mean_shape(ex.at(mean.span), shape)


def check_kernel(ex: Exprs, expr: t.Expr, features: Size) -> None:
    """Refuse anything that is not a kernel expression, parameters that cannot be positive, and ARD
    lengthscales whose length is not the input's feature count."""
    for n in t.walk(expr):
        if isinstance(n, t.Call) and n.func not in KERNELS and n.func not in FUNCTIONS:
            raise _unknown_kernel(ex, n)
    if not _has_kernel(expr):
        where = ex.at(getattr(expr, "span", t.Span.unknown()))
        raise net_msg.no_kernel(where, [k.signature() for k in KERNELS.values()])
    _check_kernel_node(ex, expr, features)


def _unknown_kernel(ex: Exprs, call: t.Call) -> BnnError:
    return net_msg.unknown_kernel(ex.at(call.func_span), call.func, KERNELS)


def _has_kernel(e: t.Expr) -> bool:
    return any(isinstance(n, t.Call) and n.func in KERNELS for n in t.walk(e))


def _check_kernel_node(ex: Exprs, e: t.Expr, features: Size) -> None:
    if isinstance(e, t.Call) and e.func in KERNELS:
        _check_kernel_call(ex, e, features)
        return
    if isinstance(e, t.BinOp) and e.op in "+*":
        for side in (e.left, e.right):
            if _has_kernel(side):
                _check_kernel_node(ex, side, features)
            else:
                _check_positive_scalar(ex, side, net_msg.kernel_term(e.op))
        return
    if isinstance(e, t.Call):
        raise _unknown_kernel(ex, e)
    raise net_msg.kernel_combination(ex.at(e.span))


def _check_positive_scalar(ex: Exprs, e: t.Expr, what: str) -> None:
    """The non-kernel side of a kernel sum or scale (`what`, a `kernel_term`): a positive scalar."""
    shape = ex.shape(e, ex.env.scope, forbid_networks=True)
    if shape:
        raise net_msg.kernel_term_not_scalar(ex.at(e.span), what, shape)
    num = number(e)
    if num is not None and num <= 0:
        raise net_msg.kernel_term_not_positive(ex.at(e.span), what, num)
    if isinstance(e, t.Name) and e.id in ex.env.param_shapes:
        _param_must_be_positive(ex, e, what)
    if isinstance(e, t.Neg):
        raise net_msg.kernel_term_not_positive(ex.at(e.span), what, None)


def _param_must_be_positive(ex: Exprs, name: t.Name, what: str) -> None:
    param = next(p for p in ex.env.program.items if isinstance(p, t.Param) and p.name == name.id)
    spec = DISTRIBUTIONS.get(param.dist.func)
    if spec is not None and spec.support not in ("positive", "unit") and not _positive_interval(param.dist):
        raise net_msg.prior_allows_nonpositive(ex.at(name.span), what, name.id, param.dist.func)


def _positive_interval(call: t.Call) -> bool:
    if call.func != "Uniform" or not call.args:
        return False
    low = number(call.args[0])
    return low is not None and low >= 0


def _check_kernel_call(ex: Exprs, call: t.Call, features: Size) -> None:
    spec = KERNELS[call.func]
    bound = ex.bind(call, Signature.of_spec(spec))
    for pname, expr in bound.items():
        what = net_msg.kernel_argument(spec.name, pname)
        shape = ex.shape(expr, ex.env.scope, forbid_networks=True)
        if shape and (pname not in spec.per_feature or len(shape) != 1):
            per_feature = pname in spec.per_feature
            raise net_msg.kernel_argument_shape(ex.at(expr.span), what, pname, shape, features, per_feature)
        if shape and shape[0] != features:
            raise net_msg.kernel_argument_entries(ex.at(expr.span), what, pname, shape[0], features)
        _check_positive_scalar_values(ex, expr, what)


def _check_positive_scalar_values(ex: Exprs, e: t.Expr, what: str) -> None:
    num = number(e)
    if num is not None and num <= 0:
        raise net_msg.kernel_argument_not_positive(ex.at(e.span), what, num)
    if isinstance(e, t.Neg):
        raise net_msg.kernel_argument_not_positive(ex.at(e.span), what, None)
    if isinstance(e, t.Name) and e.id in ex.env.param_shapes:
        _param_must_be_positive(ex, e, what)


def check_gp(ex: Exprs, node: t.GPDecl) -> CheckedGP:
    mean, kernel, opts = split_gp_call(ex, node.gp, GP_OPTIONS, function_prior=False)
    in_shape = ex.shape(node.input, ex.env.scope)
    network = None
    if isinstance(node.input, t.Call) and node.input.func in ex.env.network_nodes:
        network = node.input.func
        if len(in_shape) == 1:
            in_shape = (in_shape[0], 1)
    elif not (isinstance(node.input, t.Name) and ex.env.is_kind(node.input.id, Kind.DATA)):
        raise net_msg.gp_input_kind(ex.at(node.input.span))
    if len(in_shape) != 2:
        raise net_msg.gp_input_not_matrix(ex.at(node.input.span), in_shape)
    rows, features = in_shape
    check_mean(ex, mean)
    check_kernel(ex, kernel, features)
    outputs = None
    if node.shape:
        if len(node.shape) != 1:
            raise net_msg.gp_outputs(ex.at(node.shape[0].span), node.name)
        outputs = ex.env.size_of(node.shape[0])
    inducing = int(opts["inducing"])
    if inducing and network is not None:
        raise net_msg.sparse_deep_kernel(ex.at(node.gp.span))
    return CheckedGP(node, rows, features, outputs, mean, kernel, inducing, opts["jitter"], network)


def classify(ex: Exprs, g: CheckedGP, observes: list[t.Observe]) -> None:
    """Pick how the GP is computed from how the observe statements use it."""
    users = [o for o in observes if any(isinstance(n, t.Name) and n.id == g.name for n in t.walk(o.dist))]
    if not users:
        ex.env.warn(net_msg.gp_never_used(ex.env.at(g.node.span), g.name))
    if len(users) == 1 and g.outputs is None:
        obs = users[0]
        loc, scale = _normal_args(obs.dist)
        var = ex.env.data[obs.name]
        if (
            isinstance(loc, t.Name)
            and loc.id == g.name
            and scale is not None
            and not ex.shape(scale, ex.env.scope)
            and g.name not in [n.id for n in t.walk(scale) if isinstance(n, t.Name)]
            and len(var.shape) == 1
        ):
            g.observed, g.noise = obs.name, scale
            g.mode = "sparse" if g.inducing else "collapsed"
            return
    g.mode = "sparse" if g.inducing else "latent"


def _normal_args(call: t.Call) -> tuple[t.Expr | None, t.Expr | None]:
    if call.func != "Normal":
        return None, None
    args = dict(zip(("loc", "scale"), call.args))
    for kw in call.kwargs:
        args[kw.name] = kw.value
    return args.get("loc"), args.get("scale")


def check_function_prior(ex: Exprs, node: t.FunctionPrior) -> CheckedFunctionPrior:
    if not ex.env.is_kind(node.network, Kind.NETWORK):
        raise net_msg.function_prior_not_network(ex.at(node.span), node.network, ex.env.names(Kind.NETWORK))
    mean, kernel, opts = split_gp_call(ex, node.gp, _FUNCTION_PRIOR_OPTIONS, function_prior=True)
    ctx = node.context
    if ctx.func != "context":
        raise net_msg.expected_context(ex.at(ctx.func_span), ctx.func)
    kw = {k.name: k for k in ctx.kwargs}
    for name, k in kw.items():
        if name not in _CONTEXT_OPTIONS:
            raise net_msg.context_no_setting(ex.at(k.span), name, _CONTEXT_OPTIONS)
        if number(k.value) is None:
            raise net_msg.setting_not_number(ex.at(k.value.span), "context", name)
    points = number(kw["points"].value) if "points" in kw else 0
    if points < 0 or points != int(points) or ("points" in kw and points == 0):
        raise net_msg.context_points(ex.at(kw["points"].value.span))
    spread = number(kw["spread"].value) if "spread" in kw else 0.0
    if spread < 0:
        raise net_msg.context_spread(ex.at(kw["spread"].value.span))
    net_node = ex.env.network_nodes[node.network]
    if ctx.args:
        if len(ctx.args) != 1 or "low" in kw or "high" in kw:
            raise net_msg.context_arguments(ex.at(ctx.span))
        arg = ctx.args[0]
        if not (isinstance(arg, t.Name) and ex.env.is_kind(arg.id, Kind.DATA)):
            raise net_msg.context_not_data(ex.at(arg.span))
        call = t.Call(node.network, (arg,), (), ctx.span, ctx.func_span)
        _context_features(ex, call, arg)
        ex.network_call(call, ex.env.scope)
        check_mean(ex, mean)
        check_kernel(ex, kernel, _network_width(ex, node))
        return CheckedFunctionPrior(node, mean, kernel, opts["jitter"], arg.id, int(points), spread=spread)
    if "points" not in kw:
        raise net_msg.context_needs_points(ex.at(ctx.span))
    low = number(kw["low"].value) if "low" in kw else -1.0
    high = number(kw["high"].value) if "high" in kw else 1.0
    if low >= high:
        raise msg.low_not_below_high(ex.at(ctx.span), "context")
    if node.network not in ex.env.network_calls:
        raise net_msg.network_unused_for_context(ex.at(node.span), net_node.name, net_node.input)
    check_mean(ex, mean)
    check_kernel(ex, kernel, _network_width(ex, node))
    return CheckedFunctionPrior(node, mean, kernel, opts["jitter"], None, int(points), low, high, spread)


def _context_features(ex: Exprs, call: t.Call, arg: t.Name) -> None:
    shape = ex.shape(arg, ex.env.scope)
    prev = ex.env.network_calls.get(call.func)
    if len(shape) == 2 and prev is not None and (shape[1],) != prev.shape:
        raise net_msg.context_features(ex.at(arg.span), shape[1], call.func, prev.width)


def _network_width(ex: Exprs, node: t.FunctionPrior):
    """A function-space prior compares functions at points of the input space: a matrix's rows."""
    width = ex.env.network_calls[node.network].width
    if not width:
        raise net_msg.function_prior_on_tensors(ex.at(node.span), node.network)
    return width
