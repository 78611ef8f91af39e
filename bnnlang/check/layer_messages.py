"""The check stage's catalogue, third part: the wording of errors about layer arguments and the shapes that flow
through a network (`check/nn/`). As in `messages.py`, one constructor per message; checks compute locations and
values only."""

from __future__ import annotations

from collections.abc import Iterable

from ..errors import BnnError, Location, suggest
from .messages import error_at
from .model import Shape, Size, shape_str


def unknown_layer(where: Location, kind: str, names: Iterable[str]) -> BnnError:
    names = list(names)
    return error_at(
        where,
        f"Unknown layer '{kind}'.",
        suggest(kind, names, otherwise="Layers: " + ", ".join(names) + "."),
    )


def takes_no_arguments(where: Location, kind: str, label: str) -> BnnError:
    hint = f"Write `{kind}` alone, or `dense(units, {kind})`." if label == "Activation layer" else f"Write `{kind}`."
    return error_at(where, f"{label} '{kind}' takes no arguments.", hint)


def too_many_arguments(where: Location, kind: str, signature: str) -> BnnError:
    return error_at(where, f"{kind} takes at most the arguments of `{signature}`.", f"Write `{signature}`.")


def no_such_argument(where: Location, kind: str, name: str, names: Iterable[str], signature: str) -> BnnError:
    return error_at(where, f"{kind} has no argument '{name}'.", suggest(name, names, then=f"Write `{signature}`."))


def argument_twice(where: Location, kind: str, name: str) -> BnnError:
    return error_at(where, f"{kind}'s argument '{name}' is given twice.")


def missing_argument(where: Location, kind: str, name: str, signature: str) -> BnnError:
    return error_at(where, f"{kind} needs its argument '{name}'.", f"Write `{signature}`.")


def not_whole(where: Location, name: str) -> BnnError:
    return error_at(where, f"A layer's {name} must be a whole number of at least 1.", "Write e.g. `dense(50, tanh)`.")


def not_size(where: Location, name: str) -> BnnError:
    return error_at(
        where, f"A layer's {name} must be a number or a dimension name.", "Write `dense(50)` or `dense(K)`."
    )


def not_choice(where: Location, kind: str, name: str, choices: Iterable[str]) -> BnnError:
    choices = list(choices)
    return error_at(where, f"{kind}'s {name} is one of: {', '.join(choices)}.", f"Write `{name} = {choices[0]}`.")


def prior_without_arrays(where: Location, kind: str, role: str, roles: list[str]) -> BnnError:
    has = f"it samples only: {', '.join(roles)}" if roles else "it samples nothing"
    hint = "Remove it" + (", or write `layernorm(affine = true)`" if kind == "layernorm" else "") + "."
    return error_at(where, f"This {role} prior would do nothing: layer '{kind}' has no {role} ({has}).", hint)


def sizes_positional(where: Location, kind: str, signature: str) -> BnnError:
    return error_at(
        where, f"{kind} takes its sizes as positional arguments.", f"Write `{signature}`, e.g. `{kind}(4, 10)`."
    )


def no_priors(where: Location, kind: str) -> BnnError:
    return error_at(
        where,
        f"Layer '{kind}' has no sampled weights to put priors on.",
        "Priors go on layers with weights: dense, conv1d, conv2d, embedding, attention, layernorm(affine = true).",
    )


def body_layers(where: Location, kind: str) -> BnnError:
    return error_at(where, f"A {kind} layer's body holds weight and bias priors, not layers.")


def int_input(where: Location, kind: str) -> BnnError:
    return error_at(
        where,
        f"Layer '{kind}' needs real values, and this network's input is int token ids.",
        "Token ids enter a network through `embedding(V, D)` first.",
    )


def input_rank(where: Location, kind: str, shape: Shape, what: str) -> BnnError:
    return error_at(
        where, f"Layer '{kind}' takes {what}; what reaches it has shape {_rowless(shape)}.", _rank_hint(kind)
    )


def _rank_hint(kind: str) -> str:
    if kind.endswith("1d"):
        return "A sequence input is declared `x: real[N, T, C]` (T steps, C channels)."
    if kind.endswith("2d"):
        return "An image input is declared `img: real[N, H, W, C]` (height, width, channels)."
    return "`flatten` turns what reaches it into one vector per row; `reshape(...)` into any shape."


def _rowless(shape: Shape) -> str:
    return "[rows" + "".join(f", {s}" for s in shape) + "]"


def size_from_data(where: Location, kind: str, size: Size) -> BnnError:
    return error_at(
        where,
        f"Layer '{kind}' needs the size of what reaches it, and '{size}' is only known from the data.",
        f"Fix it in the data block, e.g. `{size} = 40`, so shapes can be checked before anything runs.",
    )


def window_too_large(where: Location, kind: str, window: int, length: int, axis: str) -> BnnError:
    return error_at(
        where,
        f"Layer '{kind}' has a window of {window} along the {axis}, which is only {length} long here.",
        "Use a smaller kernel or pool, `padding = same`, or drop a pooling layer before it.",
    )


def channels_disagree(where: Location, kind: str, channels: int, groups: int, what: str) -> BnnError:
    return error_at(
        where,
        f"Layer '{kind}' splits its channels into {groups} groups, but {what} has {channels} channels.",
        "groups must divide both the input and the output channels.",
    )


def reshape_sizes(where: Location, shape: Shape, target: tuple[int, ...]) -> BnnError:
    n = 1
    for s in target:
        n *= s
    return error_at(
        where,
        f"reshape to {list(target)} holds {n} value{'s' if n != 1 else ''} per row; what reaches it has shape "
        f"{_rowless(shape)}.",
        "The product of the new sizes must equal the product of the old ones.",
    )


def tokens_unbounded(where: Location) -> BnnError:
    return error_at(
        where,
        "An embedding's input must be token ids with their range declared.",
        "Declare them `tokens: int[N, T] in 0..V-1`.",
    )


def vocabulary_size(where: Location, declared: Size, tokens: Size) -> BnnError:
    last = tokens - 1 if isinstance(tokens, int) else f"{tokens}-1"
    return error_at(
        where,
        f"This embedding has {declared} rows, but the token ids run over 0..{last}.",
        f"Write `embedding({tokens}, D)`, or change the declared range.",
    )


def heads_divide(where: Location, heads: int, width: int) -> BnnError:
    return error_at(
        where,
        f"{heads} attention heads do not divide the width {width}.",
        "Each head takes an equal share of the width: choose heads that divide it.",
    )


def positions_length(where: Location, declared: int, length: int) -> BnnError:
    return error_at(where, f"positions are learned for {declared} steps, but the sequence has {length}.")


def input_twice(where: Location, network: str, name: str) -> BnnError:
    return error_at(where, f"Network '{network}' names its input '{name}' twice.", "Give each input its own name.")


def concat_form(where: Location) -> BnnError:
    return error_at(
        where,
        "concat joins what reaches it with a network input or with layers of itself.",
        "Write `concat(meta)`, `concat(tokens) { embedding(V, 4) flatten }`, or `concat { dense(8, tanh) }`.",
    )


def concat_not_input(where: Location, inputs: Iterable[str]) -> BnnError:
    inputs = list(inputs)
    return error_at(
        where,
        "concat's argument must be one of the network's inputs.",
        suggest("", [], otherwise="Inputs: " + ", ".join(inputs) + "."),
    )


def concat_shapes(where: Location, left: Shape, right: Shape) -> BnnError:
    return error_at(
        where,
        f"concat joins real values along the last axis, with the other axes equal and known sizes; here "
        f"{_rowless(left)} and {_rowless(right)}.",
        "Bring both to the same leading shape first (`flatten`, `globalavgpool`), and token ids through "
        "`embedding(V, D)`.",
    )


def batchnorm_refused(where: Location) -> BnnError:
    return error_at(
        where,
        "Batch normalisation is not a layer of bnnlang: it makes each row's prediction depend on the other rows "
        "of its minibatch, which has no meaning in a posterior over a fixed model.",
        "Use `layernorm` (per row, the same for training and prediction); docs/layers.md says why.",
    )


def residual_on_tokens(where: Location) -> BnnError:
    return error_at(
        where,
        "A residual block adds what reaches it to what it gives, and here that is int token ids.",
        "Put `embedding(V, D)` before the block.",
    )


def block_shape(where: Location, shape: Shape, inner: Shape) -> BnnError:
    return error_at(
        where,
        f"A residual block must keep its shape: it takes {_rowless(shape)} and gives {_rowless(inner)}.",
        f"End the block with `dense({shape[-1]})`." if shape else None,
    )


def network_end_shape(where: Location, name: str, shape: Shape, output: Shape) -> BnnError:
    return error_at(
        where,
        f"Network '{name}' ends with shape {_rowless(shape)}, but its output is declared {shape_str(output)}.",
        "End with `flatten` and a `dense` layer of the declared width, or change the declared output.",
    )
