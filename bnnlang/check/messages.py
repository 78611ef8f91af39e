"""The check stage's catalogue: the wording of every error and warning about names, the data block, params,
observe and infer statements, expressions, calls and distributions, and `--pedantic`.

Modelled on stanc3's `Semantic_error`: one constructor per message, named for the problem, taking where it is
and the values it needs, returning a `BnnError` to raise or a `BnnWarning` to collect. The checks compute
locations and values only; wording lives here (networks, layers, prior definitions and their imports, and GPs
are in `network_messages.py`), so a message is reworded in one place and a reviewer reads every sentence together.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING

from ..errors import BnnError, BnnWarning, Location, plural, suggest
from .model import Shape, Size, shape_str

if TYPE_CHECKING:
    from .backends import Setting

SEE_DOCS = "See docs/language.md for what this construct accepts."


def error_at(where: Location, message: str, hint: str | None = None) -> BnnError:
    """An error in a checked file; one with no hint of its own points at the language reference."""
    return BnnError(message, where, hint or SEE_DOCS)


def must_be_positive(what: str, got: str | None = None) -> str:
    """The sentence for an argument that must be positive, with the literal value when there is one."""
    return f"{what} must be positive; got {got}." if got is not None else f"{what} must be positive."


def _title(label: str) -> str:
    return label[0].upper() + label[1:]


# ---------------------------------------------------------------- names


def reserved_word(where: Location, name: str) -> BnnError:
    return error_at(where, f"'{name}' is a reserved word.", "Choose another name.")


def already_defined(where: Location, name: str, first_line: int) -> BnnError:
    """`first_line` 0: the first definition has no line (a name made up by the checker)."""
    at_line = f" at line {first_line}" if first_line else ""
    return error_at(
        where,
        f"'{name}' is already defined{at_line}.",
        "Each data variable, dimension, param, network and prior needs its own name.",
    )


def fan_name_taken(where: Location, name: str) -> BnnError:
    """`fan_in`/`fan_out` as a model-level name would be hidden inside every layer prior."""
    return error_at(
        where,
        f"Inside layer priors '{name}' is the layer's number of {name.replace('fan_', '')}puts; "
        "it cannot also name a model-level variable.",
        f"Choose another name, e.g. `{name}_scale`.",
    )


def builtin_name(where: Location, name: str, distribution: bool) -> BnnError:
    return error_at(
        where,
        f"'{name}' is the name of a built-in {'distribution' if distribution else 'function'}.",
        "Choose another name.",
    )


def defined_by_import(where: Location, name: str) -> BnnError:
    return error_at(
        where, f"'{name}' is already defined by an import.", "Rename this prior or drop it from the import list."
    )


def unknown_name(where: Location, name: str, candidates: Iterable[str]) -> BnnError:
    return error_at(
        where,
        f"Unknown name '{name}'.",
        suggest(name, candidates, otherwise="Names must be declared as data, dimensions or params before use."),
    )


def not_called(where: Location, name: str, network: bool) -> BnnError:
    """A network or prior definition named as if it were a value."""
    return error_at(
        where,
        f"'{name}' is a {'network' if network else 'prior'}; it must be called.",
        f"Call it, as in `{name}(x)`." if network else "Use it after '~' on a weight.",
    )


# ---------------------------------------------------------------- the model's statements


def two_data_blocks(where: Location) -> BnnError:
    return error_at(where, "A model has one data block.", "Merge the two data blocks.")


def two_infers(where: Location) -> BnnError:
    return error_at(where, "A model has at most one infer statement.", "Keep one.")


def observes_nothing(where: Location) -> BnnWarning:
    return BnnWarning(
        "The model observes nothing, so its posterior is its prior.",
        where,
        "Add `observe y ~ ...` for the data the model should fit.",
    )


def never_used_data(where: Location, name: str) -> BnnWarning:
    return BnnWarning(f"Data variable '{name}' is never used.", where, "Remove it or use it.")


def param_cycle(where: Location, cycle: Sequence[str]) -> BnnError:
    """`cycle` starts and ends with the same param."""
    return error_at(
        where,
        f"Params depend on each other in a cycle: {' -> '.join(cycle)}.",
        "A param's prior may use other params only if they do not depend on it.",
    )


def dimension_below_one(where: Location) -> BnnError:
    return error_at(where, "Dimensions must be at least 1.", "Use a size of 1 or more, or a data dimension.")


def layer_prior_as_param_prior(where: Location, prior: str) -> BnnError:
    return error_at(
        where,
        f"'{prior}' is a layer prior; it applies to a network's weight or bias.",
        f"Use it inside a network: `dense(50, tanh) {{ weight ~ {prior}() }}`.",
    )


# ---------------------------------------------------------------- the data block


def dimension_not_whole(where: Location, name: str) -> BnnError:
    return error_at(where, f"Dimension '{name}' must be a whole number of at least 1.", f"Write it as `{name} = 3`.")


def dimension_is_data(where: Location, name: str) -> BnnError:
    return error_at(
        where,
        f"'{name}' is used as a dimension but is a data variable.",
        "Dimension names and variable names must differ.",
    )


def unknown_dimension(where: Location, name: str, param: str, dims: Iterable[str]) -> BnnError:
    """A name in a param's shape that no data declaration or constant binds."""
    return error_at(
        where,
        f"Unknown dimension '{name}' in the shape of '{param}'.",
        suggest(name, dims, otherwise="Dimensions come from the data block, e.g. `x: real[N, D]` or `K = 3`."),
    )


def range_on_real(where: Location, name: str, shape: Shape) -> BnnError:
    return error_at(
        where,
        "Only int data can have a range.",
        f"Declare it as `{name}: int{shape_str(shape) if shape else ''} in 0..K-1`.",
    )


def levels_on_real(where: Location, name: str, shape: Shape) -> BnnError:
    return error_at(
        where,
        "Only int data can have levels: a category's names are read as the codes 0, 1, ...",
        f"Declare it as `{name}: int{shape_str(shape) if shape else ''} in (north, south)`.",
    )


def level_twice(where: Location, level: str, name: str) -> BnnError:
    return error_at(where, f"Level '{level}' of '{name}' is listed twice.", "Each level is one category name.")


def columns_need_matrix(where: Location, name: str, columns: int) -> BnnError:
    return error_at(
        where,
        "A column list fits a matrix variable.",
        f"Declare it as `{name}: real[N, {columns}] from (...)`.",
    )


def column_count(where: Location, name: str, width: int, columns: int) -> BnnError:
    return error_at(
        where, f"'{name}' has {width} columns but the list names {columns}.", "Make the width match the column list."
    )


def numpyro_argument_name(where: Location, name: str) -> BnnError:
    """Data are NumPyro keyword arguments, so a name that one of its functions takes for itself cannot be data."""
    return error_at(
        where,
        f"'{name}' cannot name data: the data are passed to NumPyro's inference functions "
        f"as keyword arguments, beside their own argument '{name}'.",
        f"Rename it, e.g. `{name}_x`; a matrix can take CSV columns of any name with `from (...)`.",
    )


def standardized_not_real(where: Location, name: str, base: str, shape: Shape, ranged: bool) -> BnnError:
    declared = f"{base}{shape_str(shape) if shape else ''}{' with a range' if ranged else ''}"
    return error_at(
        where,
        f"Only real data can be standardized; '{name}' is declared {declared}.",
        "Remove `standardized`: labels and counts keep their own values.",
    )


def standardized_scalar(where: Location, name: str) -> BnnError:
    return error_at(
        where,
        f"'{name}' is a scalar; standardizing needs rows to take the mean and sd over.",
        f"Declare it with a row dimension, as in `{name}: real[N]`, or remove `standardized`.",
    )


def standardized_likelihood(where: Location, name: str, dist: str, likelihoods: Iterable[str]) -> BnnError:
    """Predictions map back to data units only through a location-scale likelihood."""
    return error_at(
        where,
        f"A standardized target needs a location-scale likelihood to give predictions in its own "
        f"units; '{name}' is observed with {dist}.",
        f"Use one of {', '.join(sorted(likelihoods))}, or remove `standardized` from '{name}'.",
    )


# ---------------------------------------------------------------- observe statements


def observed_param(where: Location, name: str) -> BnnError:
    return error_at(where, f"'{name}' is a param; only data can be observed.", f"Declare '{name}' in the data block.")


def observed_undeclared(where: Location, name: str, data: Iterable[str]) -> BnnError:
    return error_at(
        where,
        f"Observed variable '{name}' is not declared in the data block.",
        suggest(name, data, otherwise=f"Add `{name}: real[N]` to the data block."),
    )


def observed_twice(where: Location, name: str, first_line: int) -> BnnError:
    return error_at(
        where, f"'{name}' is observed twice (first at line {first_line}).", "Each data variable has one likelihood."
    )


def observed_scalar(where: Location, name: str) -> BnnError:
    return error_at(
        where,
        f"Observed '{name}' must have at least one dimension (the data rows).",
        f"Declare it as `{name}: real[N]`.",
    )


def cannot_observe(where: Location, dist: str) -> BnnError:
    return error_at(where, f"{dist} cannot be observed in this version.")


def discrete_on_real(where: Location, dist: str, name: str, shape: Shape) -> BnnError:
    bound = " in 0..1" if dist == "Bernoulli" else ""
    return error_at(
        where,
        f"{dist} gives whole numbers but '{name}' is declared real.",
        f"Declare it as `{name}: int{shape_str(shape)}{bound}`.",
    )


def continuous_on_int(where: Location, dist: str, name: str) -> BnnError:
    return error_at(
        where,
        f"{dist} is continuous but '{name}' is declared int.",
        "Use Bernoulli, Categorical or Poisson for whole-number data, or declare it real.",
    )


def bernoulli_range(where: Location, name: str, bound: tuple[Size, Size]) -> BnnError:
    return error_at(
        where,
        f"Bernoulli data are 0 or 1, but '{name}' is declared in {bound[0]}..{bound[1]}.",
        "Declare it `in 0..1`.",
    )


def categorical_no_range(where: Location, name: str, shape: Shape) -> BnnWarning:
    return BnnWarning(
        f"'{name}' has no declared range; labels will be checked against the logits' width.",
        where,
        f"Declare `{name}: int{shape_str(shape)} in 0..K-1`.",
    )


# ---------------------------------------------------------------- infer


def unnamed_setting(where: Location, method: str) -> BnnError:
    return error_at(where, "Inference settings are named.", f"Write `infer {method}(chains = 4)`.")


def setting_twice(where: Location, name: str) -> BnnError:
    return error_at(where, f"Setting '{name}' is given twice.", "Keep one of them.")


def setting_value(where: Location, name: str, spec: Setting | None) -> BnnError:
    """A setting whose value is not a number, true/false or (for a word setting) a word. `spec` is None for a
    name the backend does not have: its value is read as a number, and the backend's check refuses the name."""
    return error_at(
        where,
        f"Setting '{name}' must be {spec.describe() if spec else 'a number'}.",
        "Write e.g. `chains = 4`." if not spec or spec.kind is not str else f"Write e.g. `{name} = {spec.default}`.",
    )


# ---------------------------------------------------------------- calls and their arguments


def prior_label(name: str) -> str:
    """How messages name a prior definition as a callee (a distribution is named by its own name)."""
    return f"prior '{name}'"


def prior_signature(name: str, params: Iterable[tuple[str, str | None]]) -> str:
    """A prior definition's signature as hints show it: parameter names with their defaults as written."""
    return f"{name}({', '.join(p + (' = ' + default if default is not None else '') for p, default in params)})"


def too_many_arguments(where: Location, callee: str, most: int, got: int, signature: str) -> BnnError:
    return error_at(
        where,
        f"{_title(callee)} takes at most {plural(most, 'argument')}; got {got}.",
        f"Signature: {signature}.",
    )


def no_such_argument(where: Location, callee: str, name: str, candidates: Iterable[str], signature: str) -> BnnError:
    return error_at(
        where,
        f"{_title(callee)} has no argument '{name}'.",
        suggest(name, candidates, then=f"Signature: {signature}."),
    )


def argument_twice(where: Location, callee: str, name: str, signature: str) -> BnnError:
    return error_at(where, f"Argument '{name}' of {callee} is given twice.", f"Signature: {signature}.")


def missing_arguments(where: Location, callee: str, missing: Iterable[str], signature: str) -> BnnError:
    return error_at(where, f"{_title(callee)} needs {', '.join(missing)}.", f"Signature: {signature}.")


def argument_not_positive(where: Location, dist: str, name: str, got: str | None, signature: str) -> BnnError:
    """`got`: the literal as written, or None for a negated expression."""
    return error_at(where, must_be_positive(f"{dist}'s {name}", got), f"Signature: {signature}.")


def low_not_below_high(where: Location, owner: str) -> BnnError:
    """`owner`: "Uniform" (its arguments) or "context" (a box of context points)."""
    hint = "Write Uniform(low, high) with low < high." if owner == "Uniform" else "Write e.g. `low = -3, high = 3`."
    return error_at(where, f"{owner}'s low must be below its high.", hint)


# ---------------------------------------------------------------- expressions


def shapes_do_not_broadcast(where: Location, left: Shape, right: Shape, op: str) -> BnnError:
    return error_at(
        where,
        f"Shapes {shape_str(left)} and {shape_str(right)} do not broadcast in '{op}'.",
        "Element-wise arithmetic needs equal sizes or a size of 1 on each axis.",
    )


def gp_outside_observe(where: Location, name: str) -> BnnError:
    return error_at(
        where,
        f"'{name}' is a Gaussian process; only observe statements can use it.",
        "Priors of params and GP settings cannot depend on a GP's values.",
    )


def too_many_indices(where: Location, shape: Shape) -> BnnError:
    return error_at(
        where,
        f"Too many indices: the value has shape {shape_str(shape)}.",
        "Index each axis at most once, e.g. out[:, 0].",
    )


def index_not_whole(where: Location) -> BnnError:
    return error_at(where, "An index must be a whole number from 0.")


def index_out_of_range(where: Location, index: int, size: int) -> BnnError:
    return error_at(
        where, f"Index {index} is out of range for an axis of size {size}.", f"Indices run from 0 to {size - 1}."
    )


def bad_index(where: Location) -> BnnError:
    return error_at(
        where,
        "An index must be a whole number, ':' or an int data variable.",
        "Group effects look like `a[group]` with `group: int[N] in 0..G-1`.",
    )


def function_arity(where: Location, func: str) -> BnnError:
    return error_at(where, f"{func} takes one argument.", f"Write `{func}(x)`.")


def network_outside_observe(where: Location, name: str) -> BnnError:
    return error_at(
        where,
        f"Network '{name}' can only be used in observe statements.",
        "Priors of params cannot depend on network outputs.",
    )


def distribution_outside_tilde(where: Location, name: str) -> BnnError:
    return error_at(
        where,
        f"Distribution '{name}' can only appear after '~'.",
        "Use a param: `param z ~ Normal(0, 1)`, then use z in the expression.",
    )


def prior_outside_tilde(where: Location, name: str) -> BnnError:
    return error_at(where, f"'{name}' is a prior; it can only appear after '~' on a weight or bias.")


def unknown_function(where: Location, name: str, functions: Collection[str], networks: Sequence[str]) -> BnnError:
    return error_at(
        where,
        f"Unknown function '{name}'.",
        suggest(
            name,
            list(functions) + list(networks),
            otherwise=f"Functions: {', '.join(functions)}; or a network defined in this file.",
        ),
    )


def network_arity(where: Location, name: str, got: int, inputs: tuple[str, ...]) -> BnnError:
    takes = "one input" if len(inputs) == 1 else f"{len(inputs)} inputs"
    return error_at(where, f"Network '{name}' takes {takes}; got {got}.", f"Call it as `{name}({', '.join(inputs)})`.")


def network_inputs_rows(where: Location, name: str, first: Size, here: Size) -> BnnError:
    return error_at(
        where,
        f"The inputs of network '{name}' must have the same rows; the first has {first}, this one {here}.",
        "A network's inputs are features of the same rows: declare them with the same first dimension.",
    )


def network_input_not_matrix(where: Location, shape: Shape) -> BnnError:
    return error_at(
        where,
        f"A network's input must be a matrix [rows, features]; this one has shape {shape_str(shape)}.",
        "Declare the input as a matrix, e.g. `x: real[N, 1]` for one feature.",
    )


def network_width_changed(where: Location, name: str, first: Size, first_line: int, here: Size) -> BnnError:
    """The first call fixed the network's input width."""
    return error_at(
        where,
        f"Network '{name}' was called with {first} features at line {first_line}, here with {here}.",
        "A network's weights fix its input width.",
    )


# ---------------------------------------------------------------- distributions


def expected_distribution(where: Location, name: str, network: bool) -> BnnError:
    """A network or function after '~', where a distribution belongs."""
    return error_at(
        where,
        f"Expected a distribution after '~', found {'a network' if network else 'a function'} '{name}'.",
        f"Wrap it in a distribution, as in `Normal({name}(...), sigma)`.",
    )


def unknown_distribution(where: Location, name: str, distributions: Collection[str]) -> BnnError:
    return error_at(
        where,
        f"Unknown distribution '{name}'.",
        suggest(name, distributions, otherwise="Distributions: " + ", ".join(distributions) + "."),
    )


def vector_argument_scalar(where: Location, dist: str, name: str) -> BnnError:
    return error_at(
        where,
        f"{dist}'s {name} must be a vector (one entry per category), got a scalar.",
        "Give it a network output with one column per class, e.g. `logits = net(x)` with `-> real[N, K]`.",
    )


def vector_target_scalar(where: Location, dist: str, role: str) -> BnnError:
    return error_at(
        where, f"{dist} draws a vector; give '{role}' a shape such as [K].", "Write `param p[K] ~ Dirichlet(1)`."
    )


def concentration_size(where: Location, dist: str, entries: Size, target: Size) -> BnnError:
    return error_at(where, f"{dist}'s concentration has {entries} entries but the target has {target}.")


def argument_shape(
    where: Location,
    dist: str,
    name: str,
    shape: Shape,
    target: Shape,
    observed: str | None,
    role: str,
    from_network: bool,
) -> BnnError:
    """An argument that does not broadcast to the target: the observed data variable `observed`, else the
    `role` being drawn (a param, a weight...); `from_network`: the argument calls a network."""
    what = f"'{observed}'" if observed else f"the {role}"
    return error_at(
        where,
        f"{dist}'s {name} has shape {shape_str(shape)}, which does not fit {what} of shape {shape_str(target)}.",
        _shape_hint(shape, target, from_network),
    )


def _shape_hint(shape: Shape, target: Shape, from_network: bool) -> str:
    if from_network and len(shape) == len(target) + 1 and shape[-1] == 1:
        return "A network whose output is declared `-> real[N]` gives one value per row; check the declaration."
    if len(shape) == 2 and len(target) == 1:
        return "Pick one column, e.g. out[:, 0], or declare the network's output as real[N]."
    return "The arguments must broadcast to the observed or declared shape without growing it."


def categorical_columns(
    where: Location, columns: Size, name: str, bound: tuple[Size, Size], last_label: Size
) -> BnnError:
    return error_at(
        where,
        f"Categorical's logits have {columns} columns but '{name}' is declared in {bound[0]}..{bound[1]}.",
        f"Declare `{name}: int[...] in 0..{last_label}`.",
    )


# ---------------------------------------------------------------- --pedantic


def uniform_prior(where: Location, param: str) -> BnnWarning:
    return BnnWarning(
        f"'{param}' has a Uniform prior with hard bounds.",
        where,
        "Hard bounds hurt sampling near the edges; a soft prior (e.g. Normal) is usually better.",
    )


def large_prior_argument(where: Location, param: str, text: str) -> BnnWarning:
    return BnnWarning(
        f"'{param}' has a prior argument of {text}.",
        where,
        "Priors work best on unit scale; standardise the data instead of widening priors.",
    )


def implicit_weight_prior(where: Location, network: str, layer: str) -> BnnWarning:
    return BnnWarning(
        f"Layer {network}.{layer} uses the built-in weight prior Normal(0, 1/sqrt(fan_in)).",
        where,
        "Say it explicitly with `default weight ~ neal()` (import std.priors (neal)).",
    )
