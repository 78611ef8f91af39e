"""The messages of `bnnc fit-prior` (stanc3's Semantic_error is the model: wording lives only here)."""

from __future__ import annotations

from ..errors import BnnError, Location


def no_function_prior(where: Location, network: str) -> BnnError:
    return BnnError(
        f"Network '{network}' has no function-space prior to fit to.",
        where,
        f"Add `prior {network} ~ GP(0, RBF(1)) at context(low = -3, high = 3, points = 40)` to the model.",
    )


def width_from_data(where: Location, layer: str, network: str, size: str) -> BnnError:
    return BnnError(
        f"Layer {layer} of '{network}' has width '{size}', known only from data.",
        where,
        "fit-prior needs numeric widths; give the dimension as a constant (`K = 3`).",
    )


def gp_depends_on_params(where: Location, network: str) -> BnnError:
    return BnnError(
        f"The function-space prior of '{network}' depends on params; fit-prior needs a fixed GP.",
        where,
        "Give the GP's mean and kernel parameters as numbers, e.g. GP(0, RBF(0.7)).",
    )


def context_needs_data(where: Location, network: str, context: str) -> BnnError:
    return BnnError(f"The context of '{network}' is the data matrix '{context}'.", where, "Give the data with --data.")
