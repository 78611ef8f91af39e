"""The messages of `bnnc fit-prior` and `bnnc prior` (stanc3's Semantic_error is the model: wording lives only here)."""

from __future__ import annotations

from ..errors import BnnError, Location, UsageError


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


def prior_check_of_gp(gps: list[str]) -> UsageError:
    return UsageError(
        f"Prior predictive checks cover network models; this model has a Gaussian process ({', '.join(gps)}).",
        "A GP's prior is set by its kernel: plot draws of GP(...) at your inputs instead.",
    )


def prior_too_wide(name: str, ratio: float, scale: str) -> str:
    return (
        f"'{name}': the prior's functions spread {ratio:.3g}x the data's sd ({scale}); the weight priors are "
        "too wide for this data (scale them down, or standardize y)."
    )


def prior_too_narrow(name: str, ratio: float, scale: str) -> str:
    return (
        f"'{name}': the prior's functions spread only {ratio:.3g}x the data's sd ({scale}); the weight priors "
        "are too narrow to reach the data (scale them up, or standardize y)."
    )


def prior_saturated(name: str, share: float, confident: float) -> str:
    return (
        f"'{name}': {share:.0%} of prior predictions give one class probability above {confident:g}; the weight "
        "priors are so wide that the prior is certain before seeing data (scale them down)."
    )


def too_few_prior_draws(draws: int) -> UsageError:
    return UsageError(
        f"A prior predictive check needs at least 2 draws (got {draws}): its spread is an sd.", "e.g. --draws 200"
    )
