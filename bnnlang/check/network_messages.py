"""The check stage's catalogue, second part: the wording of every error and warning about networks, their layers
and layer priors, prior definitions and the modules they are imported from, Gaussian processes and function-space
priors.

Modelled on stanc3's `Semantic_error`, as `messages.py` (the first part) is: one constructor per message, taking
where it is and the values it needs; the checks compute locations and values only, and wording lives here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from ..errors import BnnError, BnnWarning, Location, suggest
from .messages import error_at, must_be_positive
from .model import Shape, Size, shape_str

# ---------------------------------------------------------------- prior definitions


def prior_parameter_twice(where: Location, name: str) -> BnnError:
    return error_at(where, f"Prior parameter '{name}' is defined twice.", "Rename one of them.")


def prior_local_twice(where: Location, name: str, prior: str) -> BnnError:
    return error_at(where, f"'{name}' is already defined in prior '{prior}'.")


def prior_local_shape(where: Location, dim: str) -> BnnError:
    return error_at(
        where,
        f"Inside a prior, shapes use fan_in, fan_out or numbers; '{dim}' is not one of them.",
        "A per-unit scale is `param lam[fan_out] ~ HalfCauchy(1)`.",
    )


def prior_argument_not_scalar(where: Location, name: str, shape: Shape) -> BnnError:
    return error_at(where, f"Prior arguments are scalars; '{name}' has shape {shape_str(shape)}.")


def bias_per_input(where: Location, prior: str, local: str) -> BnnError:
    """A prior with a fan_in-shaped param, used on a bias (which has no inputs)."""
    return error_at(
        where,
        f"Prior '{prior}' has a per-input param '{local}', which a bias does not have.",
        "Use this prior on weights only.",
    )


def prior_does_not_fit(where: Location, prior: str, role: str, shape: Shape) -> BnnError:
    return error_at(where, f"Prior '{prior}' does not fit a {role} of shape {shape_str(shape)}.")


# ---------------------------------------------------------------- modules of prior definitions (imports)


def no_module(where: Location, module: str, available: Iterable[str]) -> BnnError:
    return BnnError(
        f"No module named '{module}'.",
        where,
        suggest(module, available, then="Modules are std.<name> from the stdlib or <name>.bnn beside the model."),
    )


def module_outside(where: Location, module: str, stdlib: bool) -> BnnError:
    """A module whose real path (a symbolic link followed) leaves the folder imports may read."""
    folder = "the stdlib" if stdlib else "the model's folder"
    return BnnError(
        f"Module '{module}' resolves to a file outside {folder} (through a symbolic link).",
        where,
        hint="Imports reach only the stdlib and the model's own folder; copy the module next to the model.",
    )


def module_not_only_priors(where: Location) -> BnnError:
    return BnnError(
        "A module imported by a model may only define priors.",
        where,
        hint="Move data, params, networks and observes into the model file.",
    )


def no_such_prior(where: Location, module: str, name: str, defined: Iterable[str]) -> BnnError:
    defined = list(defined)
    return BnnError(
        f"Module '{module}' has no prior named '{name}'.",
        where,
        suggest(name, defined, then=f"It defines: {', '.join(sorted(defined)) or 'nothing'}."),
    )


def unreadable_module(where: Location, module: str, filename: str, reason: str | None) -> BnnError:
    return BnnError(f"Could not read module '{module}' ({filename}): {reason}.", where, hint="Check permissions.")


def module_not_utf8(where: Location, module: str, byte: int) -> BnnError:
    """`where`: the bad byte in the module, as a model file's is located."""
    return BnnError(
        f"Module '{module}' is not UTF-8 text (byte 0x{byte:02x}).", where, hint="Save the module as UTF-8 text."
    )


# ---------------------------------------------------------------- networks


def network_output_type(where: Location, name: str, input_name: str) -> BnnError:
    return error_at(
        where,
        "A network's output is real[rows] or real[rows, K].",
        f"Write `network {name}({input_name}) -> real[N]` for one output per row.",
    )


def unknown_output_dimension(where: Location, dim: str, network: str) -> BnnError:
    return error_at(where, f"Unknown dimension '{dim}' in the output of '{network}'.")


def network_never_called(where: Location, name: str) -> BnnError:
    """Only a call fixes a network's input width."""
    return error_at(
        where,
        f"Network '{name}' is never called, so its input width is unknown.",
        f"Use it in an observe statement, as in `observe y ~ Normal({name}(x), sigma)`, or remove it.",
    )


def no_layers(where: Location, name: str) -> BnnError:
    return error_at(where, f"Network '{name}' has no layers.", "Add layers such as `dense(1)`.")


def network_end_width(where: Location, name: str, width: Size, output: Shape) -> BnnError:
    """The last layer's width is not the declared output's (`output`: [rows] or [rows, K])."""
    if len(output) == 2:
        hint = f"End the network with `dense({output[1]})`."
    else:
        declared = shape_str(output)[1:-1] and "real" + shape_str(output)
        hint = f"End with `dense(1)` for `-> {declared}`, or declare the output as real[{output[0]}, {width}]."
    return error_at(
        where, f"Network '{name}' ends with width {width} but its output is declared {shape_str(output)}.", hint
    )


def two_function_priors(where: Location, network: str) -> BnnError:
    return error_at(where, f"Network '{network}' has two function-space priors.", "Keep one.")


# ---------------------------------------------------------------- layers


def prior_given_twice(where: Location, role: str, default: bool) -> BnnError:
    """A network's default prior, or one layer's prior, for the same role twice."""
    message = f"Default {role} prior given twice." if default else f"The {role} prior is given twice."
    return error_at(where, message, "Keep one.")


def unknown_role(where: Location, role: str, roles: Iterable[str]) -> BnnError:
    return error_at(
        where,
        f"A layer has a weight and a bias; '{role}' is neither.",
        suggest(role, roles, otherwise="Write `weight ~ ...` or `bias ~ ...`."),
    )


def unknown_layer(where: Location, kind: str, activations: Iterable[str]) -> BnnError:
    return error_at(
        where,
        f"Unknown layer '{kind}'.",
        suggest(
            kind,
            ["dense", "residual", "deterministic", *activations],
            otherwise="Layers: dense(units, activation), residual { ... }, or an activation name.",
        ),
    )


def activation_with_arguments(where: Location, kind: str) -> BnnError:
    return error_at(
        where,
        f"Activation layer '{kind}' takes no arguments.",
        f"Write `{kind}` alone, or `dense(units, {kind})`.",
    )


def priors_on_non_dense(where: Location) -> BnnError:
    return error_at(where, "Only dense layers have weight and bias priors.")


_BLOCK_EXAMPLES = {
    "deterministic": "Write `deterministic { dense(50, tanh) dense(50, tanh) }`.",
    "residual": "Write `residual { dense(50, tanh) dense(50) }`.",
}


def block_holds_layers_only(where: Location, block: str) -> BnnError:
    """`block`: "deterministic" or "residual", given arguments or priors."""
    return error_at(where, f"A {block} block holds layers only.", _BLOCK_EXAMPLES[block])


def nested_deterministic(where: Location) -> BnnError:
    return error_at(where, "A deterministic block sits directly in a network, not inside another block.")


def empty_residual(where: Location) -> BnnError:
    return error_at(where, "A residual block needs at least one layer.")


def residual_width(where: Location, width: Size, inner: Size) -> BnnError:
    return error_at(
        where,
        f"A residual block must keep its width: it takes {width} and gives {inner}.",
        f"End the block with `dense({width})`.",
    )


def dense_body_layers(where: Location) -> BnnError:
    return error_at(where, "A dense layer's body holds weight and bias priors, not layers.")


def dense_no_argument(where: Location, name: str) -> BnnError:
    return error_at(where, f"dense has no argument '{name}' here.", "Write dense(units, activation).")


def dense_arity(where: Location) -> BnnError:
    return error_at(
        where, "dense takes the number of units and an optional activation.", "Write `dense(50, tanh)` or `dense(1)`."
    )


def units_not_whole(where: Location) -> BnnError:
    return error_at(where, "A layer's units must be a whole number of at least 1.", "Write e.g. `dense(50, tanh)`.")


def units_not_size(where: Location) -> BnnError:
    return error_at(where, "A layer's units must be a number or a dimension name.", "Write `dense(50)` or `dense(K)`.")


def unknown_activation(where: Location, name: str | None, activations: Collection[str]) -> BnnError:
    """`name` None: the activation is not a name at all (a number, a call)."""
    shown = "this" if name is None else name
    return error_at(
        where,
        f"Unknown activation '{shown}'.",
        suggest(shown, activations, otherwise="Activations: " + ", ".join(activations) + "."),
    )


# ---------------------------------------------------------------- GP(...) calls


def _gp_signature(options: Mapping[str, float]) -> str:
    return f"GP(mean, kernel{''.join(f', {k} = {v:g}' for k, v in options.items())})"


def gp_call_expected(where: Location, func: str, options: Mapping[str, float], function_prior: bool) -> BnnError:
    """Something other than GP(...) after '~' in a gp statement or (`function_prior`) a function-space prior."""
    what = "function-space prior" if function_prior else "gp statement"
    return error_at(
        where,
        f"A {what} needs a GP(mean, kernel) after '~'; found '{func}'.",
        suggest(func, ["GP"], otherwise=f"Write `{_gp_signature(options)}`."),
    )


def gp_arity(where: Location, got: int, options: Mapping[str, float]) -> BnnError:
    return error_at(where, f"GP takes a mean and a kernel; got {got} of them.", f"Write `{_gp_signature(options)}`.")


def gp_no_setting(where: Location, name: str, options: Mapping[str, float]) -> BnnError:
    return error_at(where, f"GP has no setting '{name}' here.", suggest(name, options, then=_gp_signature(options)))


def setting_not_number(where: Location, owner: str, name: str, example: float | None = None) -> BnnError:
    """A keyword setting of GP(...) or context(...) (`owner`) that is not a number; `example` the value the
    hint shows."""
    hint = f"Write e.g. `{name} = {example:g}`." if example is not None else None
    return error_at(where, f"{owner}'s {name} must be a number.", hint)


def gp_jitter_not_positive(where: Location) -> BnnError:
    return error_at(where, "GP's jitter must be positive.", "Write e.g. `jitter = 1e-4`.")


def gp_inducing(where: Location) -> BnnError:
    return error_at(
        where,
        "GP's inducing must be a whole number of points, 1 or more.",
        "Write e.g. `inducing = 32`, or leave it out for an exact GP.",
    )


def gp_mean_shape(where: Location, shape: Shape) -> BnnError:
    return error_at(
        where,
        f"A GP's mean is one number for every input in this version; this one has shape {shape}.",
        "Write a constant such as 0, or a scalar param.",
    )


# ---------------------------------------------------------------- kernels


def kernel_term(op: str) -> str:
    """How messages name the non-kernel side of `op` ('+' or '*') in a kernel expression."""
    return f"A kernel {'sum' if op == '+' else 'scale'}"


def kernel_argument(kernel: str, name: str) -> str:
    """How messages name a kernel's argument."""
    return f"{kernel}'s {name}"


def no_kernel(where: Location, signatures: Iterable[str]) -> BnnError:
    return error_at(
        where, "A GP's kernel must contain a kernel such as RBF(ls).", "Kernels: " + ", ".join(signatures) + "."
    )


def unknown_kernel(where: Location, name: str, kernels: Collection[str]) -> BnnError:
    return error_at(
        where,
        f"Unknown kernel '{name}'.",
        suggest(name, kernels, otherwise="Kernels: " + ", ".join(kernels) + "."),
    )


def kernel_combination(where: Location) -> BnnError:
    return error_at(
        where,
        "Kernels combine only by '+' and '*' (and scaling by a positive number or param).",
        "Write e.g. `amp^2 * RBF(ls) + Periodic(period, ls2)`.",
    )


def kernel_term_not_scalar(where: Location, what: str, shape: Shape) -> BnnError:
    """`what`: a `kernel_term`."""
    return error_at(where, f"{what} must be a scalar; this has shape {shape}.")


def kernel_term_not_positive(where: Location, what: str, got: float | None) -> BnnError:
    """`what`: a `kernel_term`; `got`: its literal value, or None for a negated expression."""
    shown = None if got is None else f"{got:g}"
    return error_at(where, must_be_positive(what, shown), "Kernels need positive variances.")


def kernel_argument_not_positive(where: Location, what: str, got: float | None) -> BnnError:
    """`what`: a `kernel_argument`; `got`: its literal value, or None for a negated expression."""
    shown = None if got is None else f"{got:g}"
    return error_at(where, must_be_positive(what, shown), "Lengthscales and periods are positive.")


def prior_allows_nonpositive(where: Location, what: str, param: str, dist: str) -> BnnError:
    """A kernel term or argument (`what`) that is a param whose prior reaches zero or below."""
    return error_at(
        where,
        f"{what} uses '{param}', whose prior {dist} allows values of zero or below.",
        f"Give '{param}' a positive prior, e.g. `param {param} ~ LogNormal(0, 1)` or HalfNormal(1).",
    )


def kernel_argument_shape(
    where: Location, what: str, name: str, shape: Shape, features: Size, per_feature: bool
) -> BnnError:
    """A kernel argument that is not a scalar, or (`per_feature`: one that may be) a vector."""
    hint = (
        f"Give one {name} per input feature (shape [{features}]) or a scalar."
        if per_feature
        else f"{what} is a scalar."
    )
    return error_at(where, f"{what} has shape {list(shape)}.", hint)


def kernel_argument_entries(where: Location, what: str, name: str, entries: Size, features: Size) -> BnnError:
    return error_at(
        where,
        f"{what} has {entries} entries but the GP's input has {features} features.",
        f"Give one {name} per input column: shape [{features}].",
    )


# ---------------------------------------------------------------- gp statements


def gp_input_kind(where: Location) -> BnnError:
    return error_at(
        where,
        "A GP's input is a data matrix or a network's output.",
        "Write `on x` with `x: real[N, D]` in the data block, or `on net(x)` for deep kernel learning.",
    )


def gp_input_not_matrix(where: Location, shape: Shape) -> BnnError:
    return error_at(
        where,
        f"A GP's input must be a matrix [rows, features]; this one has shape {list(shape)}.",
        "Declare the input as a matrix, e.g. `x: real[N, 1]` for one feature.",
    )


def gp_outputs(where: Location, name: str) -> BnnError:
    return error_at(
        where,
        "A gp statement declares one function or a vector [K] of independent ones.",
        f"Write `gp {name}[K] ~ ...`.",
    )


def sparse_deep_kernel(where: Location) -> BnnError:
    return error_at(
        where,
        "A sparse GP over a network's outputs (inducing points in feature space) is not supported yet.",
        "Drop `inducing` for an exact deep-kernel GP, or put the sparse GP on a data matrix.",
    )


def gp_never_used(where: Location, name: str) -> BnnWarning:
    return BnnWarning(
        f"GP '{name}' is never used by an observe statement, so nothing informs it.",
        where,
        f"Use it, as in `observe y ~ Normal({name}, sigma)`.",
    )


# ---------------------------------------------------------------- function-space priors


def function_prior_not_network(where: Location, name: str, networks: Iterable[str]) -> BnnError:
    return error_at(
        where,
        f"A function-space prior applies to a network; '{name}' is not one.",
        suggest(
            name,
            networks,
            otherwise="Write `prior net ~ GP(0, RBF(1)) at context(x)` after `network net(x) -> ... { ... }`.",
        ),
    )


def expected_context(where: Location, func: str) -> BnnError:
    return error_at(
        where,
        f"Expected context(...) after 'at', found '{func}'.",
        "Write `at context(x)` (the training inputs) or `at context(low = -3, high = 3, points = 50)`.",
    )


def context_no_setting(where: Location, name: str, settings: Iterable[str]) -> BnnError:
    return error_at(
        where,
        f"context has no setting '{name}'.",
        suggest(name, settings, otherwise="Settings: points, low, high, spread."),
    )


def context_points(where: Location) -> BnnError:
    return error_at(where, "context's points must be a whole number, 1 or more.")


def context_spread(where: Location) -> BnnError:
    return error_at(
        where,
        "context's spread is the sd of the offsets added to the points; it must be 0 or more.",
        "Write e.g. `spread = 0.5` (in the input's units), or leave it out to use the points themselves.",
    )


def context_arguments(where: Location) -> BnnError:
    return error_at(
        where,
        "context takes one data matrix, or low/high/points for a box of points.",
        "Write `context(x)` or `context(low = -3, high = 3, points = 50)`.",
    )


def context_not_data(where: Location) -> BnnError:
    return error_at(where, "context's points come from a data matrix.", "Write `context(x)`.")


def context_needs_points(where: Location) -> BnnError:
    return error_at(
        where, "A box of context points needs `points`.", "Write `context(low = -3, high = 3, points = 50)`."
    )


def network_unused_for_context(where: Location, name: str, input_name: str) -> BnnError:
    """A box of context points says nothing of the network's input width; only a call does."""
    return error_at(
        where,
        f"Network '{name}' is not used elsewhere, so its input width is unknown.",
        f"Use it in an observe or gp statement, or give the points as data: `at context({input_name})`.",
    )


def context_features(where: Location, got: Size, network: str, width: Size) -> BnnError:
    return error_at(
        where,
        f"The context points have {got} features but network '{network}' takes {width}.",
        "Give context points with as many columns as the network's input.",
    )


def function_prior_on_tensors(where: Location, network: str) -> BnnError:
    return error_at(
        where,
        f"A function-space prior needs a network on a matrix [rows, features]; '{network}' takes another shape.",
        "Put a weight prior on this network's layers instead.",
    )
