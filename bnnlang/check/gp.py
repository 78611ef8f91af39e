"""Checks for `gp` statements and function-space priors (`prior net ~ GP(...) at context(...)`).

A GP's input is a data matrix or a network's output (deep kernel learning);
its kernel is an expression of kernels (sums, products, scaling by positive
numbers or params). After the observe statements are checked, each GP gets
its *mode*: `collapsed` when its only use is `observe y ~ Normal(f, sigma)`
(the latent function is integrated out exactly), `sparse` with `inducing = M`,
and `latent` (whitened) otherwise.
"""

from __future__ import annotations

from ..errors import suggest
from ..syntax import tree as t
from .distributions import DISTRIBUTIONS, FUNCTIONS, GP_OPTIONS, KERNELS
from .env import Kind
from .exprs import Exprs, Signature, number
from .model import CheckedFunctionPrior, CheckedGP, Size

_FUNCTION_PRIOR_OPTIONS = {"jitter": 1e-3}
_CONTEXT_OPTIONS = ("points", "low", "high", "spread")


def split_gp_call(ex: Exprs, call: t.Call, options: dict[str, float], what: str) -> tuple[t.Expr, t.Expr, dict]:
    """`GP(mean, kernel, name = number ...)` -> mean, kernel, options."""
    sig = f"GP(mean, kernel{''.join(f', {k} = {v:g}' for k, v in options.items())})"
    if call.func != "GP":
        raise ex.error(
            f"A {what} needs a GP(mean, kernel) after '~'; found '{call.func}'.",
            call.func_span,
            suggest(call.func, ["GP"], otherwise=f"Write `{sig}`."),
        )
    args = list(call.args)
    named = {kw.name: kw for kw in call.kwargs}
    for key in ("mean", "kernel"):
        if key in named:
            args.insert(0 if key == "mean" else len(args), named.pop(key).value)
    if len(args) != 2:
        raise ex.error(f"GP takes a mean and a kernel; got {len(args)} of them.", call.span, f"Write `{sig}`.")
    values = dict(options)
    for name, kw in named.items():
        if name not in options:
            raise ex.error(f"GP has no setting '{name}' here.", kw.span, suggest(name, options, then=sig))
        num = number(kw.value)
        if num is None:
            raise ex.error(f"GP's {name} must be a number.", kw.value.span, f"Write e.g. `{name} = {options[name]:g}`.")
        values[name] = num
    if values.get("jitter", 1.0) <= 0:
        raise ex.error("GP's jitter must be positive.", named["jitter"].span, "Write e.g. `jitter = 1e-4`.")
    if "inducing" in named and (values["inducing"] < 1 or values["inducing"] != int(values["inducing"])):
        raise ex.error(
            "GP's inducing must be a whole number of points, 1 or more.",
            named["inducing"].span,
            "Write e.g. `inducing = 32`, or leave it out for an exact GP.",
        )
    return args[0], args[1], values


def check_mean(ex: Exprs, mean: t.Expr) -> None:
    shape = ex.shape(mean, ex.env.scope, forbid_networks=True)
    if shape:
        raise ex.error(
            f"A GP's mean is one number for every input in this version; this one has shape {shape}.",
            mean.span,
            "Write a constant such as 0, or a scalar param.",
        )


def check_kernel(ex: Exprs, expr: t.Expr, features: Size) -> None:
    """Refuse anything that is not a kernel expression, parameters that cannot be positive, and ARD
    lengthscales whose length is not the input's feature count."""
    for n in t.walk(expr):
        if isinstance(n, t.Call) and n.func not in KERNELS and n.func not in FUNCTIONS:
            raise _unknown_kernel(ex, n)
    if not _has_kernel(expr):
        raise ex.error(
            "A GP's kernel must contain a kernel such as RBF(ls).",
            getattr(expr, "span", t.Span.unknown()),
            "Kernels: " + ", ".join(k.signature() for k in KERNELS.values()) + ".",
        )
    _check_kernel_node(ex, expr, features)


def _unknown_kernel(ex: Exprs, call: t.Call):
    kernels = "Kernels: " + ", ".join(KERNELS) + "."
    return ex.error(f"Unknown kernel '{call.func}'.", call.func_span, suggest(call.func, KERNELS, otherwise=kernels))


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
                _check_positive_scalar(ex, side, f"A kernel {'sum' if e.op == '+' else 'scale'}")
        return
    if isinstance(e, t.Call):
        raise _unknown_kernel(ex, e)
    raise ex.error(
        "Kernels combine only by '+' and '*' (and scaling by a positive number or param).",
        e.span,
        "Write e.g. `amp^2 * RBF(ls) + Periodic(period, ls2)`.",
    )


def _check_positive_scalar(ex: Exprs, e: t.Expr, what: str) -> None:
    shape = ex.shape(e, ex.env.scope, forbid_networks=True)
    if shape:
        raise ex.error(f"{what} must be a scalar; this has shape {shape}.", e.span)
    num = number(e)
    if num is not None and num <= 0:
        raise ex.error(f"{what} must be positive; got {num:g}.", e.span, "Kernels need positive variances.")
    if isinstance(e, t.Name) and e.id in ex.env.param_shapes:
        _param_must_be_positive(ex, e, what)
    if isinstance(e, t.Neg):
        raise ex.error(f"{what} must be positive.", e.span, "Kernels need positive variances.")


def _param_must_be_positive(ex: Exprs, name: t.Name, what: str) -> None:
    param = next(p for p in ex.env.program.items if isinstance(p, t.Param) and p.name == name.id)
    spec = DISTRIBUTIONS.get(param.dist.func)
    if spec is not None and spec.support not in ("positive", "unit") and not _positive_interval(param.dist):
        raise ex.error(
            f"{what} uses '{name.id}', whose prior {param.dist.func} allows values of zero or below.",
            name.span,
            f"Give '{name.id}' a positive prior, e.g. `param {name.id} ~ LogNormal(0, 1)` or HalfNormal(1).",
        )


def _positive_interval(call: t.Call) -> bool:
    if call.func != "Uniform" or not call.args:
        return False
    low = number(call.args[0])
    return low is not None and low >= 0


def _check_kernel_call(ex: Exprs, call: t.Call, features: Size) -> None:
    spec = KERNELS[call.func]
    bound = ex.bind(call, Signature.of_spec(spec))
    for pname, expr in bound.items():
        what = f"{spec.name}'s {pname}"
        shape = ex.shape(expr, ex.env.scope, forbid_networks=True)
        if shape and (pname not in spec.per_feature or len(shape) != 1):
            hint = (
                f"Give one {pname} per input feature (shape [{features}]) or a scalar."
                if pname in spec.per_feature
                else f"{what} is a scalar."
            )
            raise ex.error(f"{what} has shape {list(shape)}.", expr.span, hint)
        if shape and shape[0] != features:
            raise ex.error(
                f"{what} has {shape[0]} entries but the GP's input has {features} features.",
                expr.span,
                f"Give one {pname} per input column: shape [{features}].",
            )
        _check_positive_scalar_values(ex, expr, what)


def _check_positive_scalar_values(ex: Exprs, e: t.Expr, what: str) -> None:
    num = number(e)
    if num is not None and num <= 0:
        raise ex.error(f"{what} must be positive; got {num:g}.", e.span, "Lengthscales and periods are positive.")
    if isinstance(e, t.Neg):
        raise ex.error(f"{what} must be positive.", e.span, "Lengthscales and periods are positive.")
    if isinstance(e, t.Name) and e.id in ex.env.param_shapes:
        _param_must_be_positive(ex, e, what)


def check_gp(ex: Exprs, node: t.GPDecl) -> CheckedGP:
    mean, kernel, opts = split_gp_call(ex, node.gp, GP_OPTIONS, "gp statement")
    in_shape = ex.shape(node.input, ex.env.scope)
    network = None
    if isinstance(node.input, t.Call) and node.input.func in ex.env.network_nodes:
        network = node.input.func
        if len(in_shape) == 1:
            in_shape = (in_shape[0], 1)
    elif not (isinstance(node.input, t.Name) and ex.env.is_kind(node.input.id, Kind.DATA)):
        raise ex.error(
            "A GP's input is a data matrix or a network's output.",
            node.input.span,
            "Write `on x` with `x: real[N, D]` in the data block, or `on net(x)` for deep kernel learning.",
        )
    if len(in_shape) != 2:
        raise ex.error(
            f"A GP's input must be a matrix [rows, features]; this one has shape {list(in_shape)}.",
            node.input.span,
            "Declare the input as a matrix, e.g. `x: real[N, 1]` for one feature.",
        )
    rows, features = in_shape
    check_mean(ex, mean)
    check_kernel(ex, kernel, features)
    outputs = None
    if node.shape:
        if len(node.shape) != 1:
            raise ex.error(
                "A gp statement declares one function or a vector [K] of independent ones.",
                node.shape[0].span,
                f"Write `gp {node.name}[K] ~ ...`.",
            )
        outputs = ex.env.size_of(node.shape[0])
    inducing = int(opts["inducing"])
    if inducing and network is not None:
        raise ex.error(
            "A sparse GP over a network's outputs (inducing points in feature space) is not supported yet.",
            node.gp.span,
            "Drop `inducing` for an exact deep-kernel GP, or put the sparse GP on a data matrix.",
        )
    return CheckedGP(node, rows, features, outputs, mean, kernel, inducing, opts["jitter"], network)


def classify(ex: Exprs, g: CheckedGP, observes: list[t.Observe]) -> None:
    """Pick how the GP is computed from how the observe statements use it."""
    users = [o for o in observes if any(isinstance(n, t.Name) and n.id == g.name for n in t.walk(o.dist))]
    if not users:
        ex.env.warn(
            f"GP '{g.name}' is never used by an observe statement, so nothing informs it.",
            g.node.span,
            f"Use it, as in `observe y ~ Normal({g.name}, sigma)`.",
        )
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
        raise ex.error(
            f"A function-space prior applies to a network; '{node.network}' is not one.",
            node.span,
            suggest(
                node.network,
                ex.env.names(Kind.NETWORK),
                otherwise="Write `prior net ~ GP(0, RBF(1)) at context(x)` after `network net(x) -> ... { ... }`.",
            ),
        )
    mean, kernel, opts = split_gp_call(ex, node.gp, _FUNCTION_PRIOR_OPTIONS, "function-space prior")
    ctx = node.context
    if ctx.func != "context":
        raise ex.error(
            f"Expected context(...) after 'at', found '{ctx.func}'.",
            ctx.func_span,
            "Write `at context(x)` (the training inputs) or `at context(low = -3, high = 3, points = 50)`.",
        )
    kw = {k.name: k for k in ctx.kwargs}
    for name, k in kw.items():
        if name not in _CONTEXT_OPTIONS:
            raise ex.error(
                f"context has no setting '{name}'.",
                k.span,
                suggest(name, _CONTEXT_OPTIONS, otherwise="Settings: points, low, high, spread."),
            )
        if number(k.value) is None:
            raise ex.error(f"context's {name} must be a number.", k.value.span)
    points = number(kw["points"].value) if "points" in kw else 0
    if points < 0 or points != int(points) or ("points" in kw and points == 0):
        raise ex.error("context's points must be a whole number, 1 or more.", kw["points"].value.span)
    spread = number(kw["spread"].value) if "spread" in kw else 0.0
    if spread < 0:
        raise ex.error(
            "context's spread is the sd of the offsets added to the points; it must be 0 or more.",
            kw["spread"].value.span,
            "Write e.g. `spread = 0.5` (in the input's units), or leave it out to use the points themselves.",
        )
    net_node = ex.env.network_nodes[node.network]
    if ctx.args:
        if len(ctx.args) != 1 or "low" in kw or "high" in kw:
            raise ex.error(
                "context takes one data matrix, or low/high/points for a box of points.",
                ctx.span,
                "Write `context(x)` or `context(low = -3, high = 3, points = 50)`.",
            )
        arg = ctx.args[0]
        if not (isinstance(arg, t.Name) and ex.env.is_kind(arg.id, Kind.DATA)):
            raise ex.error("context's points come from a data matrix.", arg.span, "Write `context(x)`.")
        call = t.Call(node.network, (arg,), (), ctx.span, ctx.func_span)
        _context_features(ex, call, arg)
        ex.network_call(call, ex.env.scope)
        check_mean(ex, mean)
        features = ex.env.network_calls[node.network][0]
        check_kernel(ex, kernel, features)
        return CheckedFunctionPrior(node, mean, kernel, opts["jitter"], arg.id, int(points), spread=spread)
    if "points" not in kw:
        raise ex.error(
            "A box of context points needs `points`.", ctx.span, "Write `context(low = -3, high = 3, points = 50)`."
        )
    low = number(kw["low"].value) if "low" in kw else -1.0
    high = number(kw["high"].value) if "high" in kw else 1.0
    if low >= high:
        raise ex.error("context's low must be below its high.", ctx.span, "Write e.g. `low = -3, high = 3`.")
    if node.network not in ex.env.network_calls:
        raise ex.error(
            f"Network '{net_node.name}' is not used elsewhere, so its input width is unknown.",
            node.span,
            f"Use it in an observe or gp statement, or give the points as data: `at context({net_node.input})`.",
        )
    check_mean(ex, mean)
    check_kernel(ex, kernel, ex.env.network_calls[node.network][0])
    return CheckedFunctionPrior(node, mean, kernel, opts["jitter"], None, int(points), low, high, spread)


def _context_features(ex: Exprs, call: t.Call, arg: t.Name) -> None:
    shape = ex.shape(arg, ex.env.scope)
    prev = ex.env.network_calls.get(call.func)
    if len(shape) == 2 and prev is not None and shape[1] != prev[0]:
        raise ex.error(
            f"The context points have {shape[1]} features but network '{call.func}' takes {prev[0]}.",
            arg.span,
            "Give context points with as many columns as the network's input.",
        )
