"""The messages of the top layer: reading model files and run directories, the Python API's arguments and the
command line. Files and folders are located (`path: error: ...`); arguments and flags are not (`UsageError`).
Wording lives only here (stanc3's Semantic_error is the model)."""

from __future__ import annotations

from ..errors import BnnError, Location, UsageError

# -- model files ----------------------------------------------------------------------------------------------


def no_model_file(path: str) -> BnnError:
    return BnnError(f"Model file '{path}' does not exist.", Location(path, 0), "Check the path.")


def model_is_folder(path: str) -> BnnError:
    return BnnError(f"'{path}' is a folder, not a model file.", Location(path, 0), "Give a .bnn file.")


def unreadable_model(path: str, reason: str) -> BnnError:
    return BnnError(f"Could not read '{path}': {reason}.", Location(path, 0), "Check permissions.")


def model_not_utf8(where: Location, byte: int) -> BnnError:
    return BnnError(f"The file is not UTF-8 text (byte 0x{byte:02x}).", where, "Save the model as UTF-8 text.")


def model_has_nul(where: Location) -> BnnError:
    return BnnError("The file contains NUL bytes; it is not a text model.", where, "Give a .bnn text file.")


def empty_model(path: str) -> BnnError:
    return BnnError(
        "The model file is empty.",
        Location(path, 0),
        "A model needs at least a data block, a param or network, and an observe statement.",
    )


# -- run directories ------------------------------------------------------------------------------------------


def no_run(path: str, interrupted: bool) -> BnnError:
    if interrupted:
        return BnnError(
            f"Run directory '{path}' does not exist yet: its run was interrupted.",
            Location(path, 0),
            f"Finish it with: bnnc run --resume {path}",
        )
    return BnnError(
        f"Run directory '{path}' does not exist.", Location(path, 0), "Give the folder `bnnc run -o` wrote."
    )


def incomplete_run(path: str, missing: list[str]) -> BnnError:
    return BnnError(
        f"'{path}' is not a complete run directory: {', '.join(missing)} missing.",
        Location(path, 0),
        "Run the model again with `bnnc run`.",
    )


def unreadable_run(path: str, reason: object) -> BnnError:
    return BnnError(
        f"The run's settings or summary could not be read: {reason}.", Location(path, 0), "Run the model again."
    )


def other_format(path: str, found: object, expected: int) -> BnnError:
    return BnnError(
        f"'{path}' was written by another version of bnnlang (format {found}).",
        Location(path, 0),
        f"This version reads run format {expected}; run the model again.",
    )


def unreadable_posterior(path: str, reason: object) -> BnnError:
    return BnnError(
        f"The posterior in '{path}' could not be read: {reason}.", Location(path, 0), "Run the model again."
    )


def run_exists(path: str) -> BnnError:
    return BnnError(
        f"'{path}' already holds a run; a new run does not replace it unless asked.",
        Location(path, 0),
        "Choose another folder with -o (out=), or replace it with --replace (replace=True).",
    )


def interrupted_run_exists(path: str) -> BnnError:
    return BnnError(
        f"An interrupted run waits to be resumed at '{path}'; a new run would discard its checkpoint.",
        Location(path, 0),
        f"Finish it with: bnnc run --resume {path}; or choose another folder with -o, or discard it with --replace.",
    )


def not_a_run_folder(path: str) -> BnnError:
    return BnnError(
        f"'{path}' exists and is not a bnnlang run directory; a run never replaces other files.",
        Location(path, 0),
        "Choose a new or empty folder with -o (out=).",
    )


def already_complete(path: str) -> BnnError:
    return BnnError(f"The run '{path}' is already complete.", Location(path, 0), "Nothing to resume.")


def nothing_to_resume(path: str) -> BnnError:
    return BnnError(
        f"There is no interrupted run to resume at '{path}'.",
        Location(path, 0),
        "Give the -o folder of a `bnnc run` that was stopped; start a new run otherwise.",
    )


def resume_in_memory(path: str, label: str) -> BnnError:
    return BnnError(
        f"The run '{path}' was given its data in memory ({label}), so it cannot be resumed from the command line.",
        Location(path, 0),
        "Resume it from Python with the same data: model.run(data, out=..., resume=True).",
    )


# -- warm starts (init = a previous run) ------------------------------------------------------------------------


def warm_start_unsupported(method: str, supported: list[str]) -> UsageError:
    return UsageError(
        f"{method} cannot start from a previous run (init = a run, or --init-from).",
        f"Warm starts work with {' and '.join(supported)}: use --backend {supported[0]}, "
        f"or run {method} without a previous run.",
    )


def warm_start_other_model(path: str | None, label: str, differences: list[str]) -> BnnError:
    shown = "; ".join(differences[:4]) + (f"; and {len(differences) - 4} more" if len(differences) > 4 else "")
    message = f"The previous run ({label}) is of another model: {shown}."
    hint = (
        "A warm start continues a run of the same model: the same parameters with the same shapes (the data may "
        "have other rows). Start this run without a previous run (drop init= or --init-from)."
    )
    return BnnError(message, Location(path, 0), hint) if path else UsageError(message, hint)


def site_missing_there(site: str) -> str:
    return f"it has no `{site}`"


def site_missing_here(site: str) -> str:
    return f"its `{site}` is not in this model"


def site_other_shape(site: str, there: tuple[int, ...], here: tuple[int, ...]) -> str:
    return f"`{site}` has shape {list(there)} there and {list(here)} here"


def site_other_role(site: str, there: str, here: str) -> str:
    return f"`{site}` is {there} there and {here} here"


def init_twice() -> UsageError:
    return UsageError(
        "--init-from and --set init=... both say where the chains start.", "Give one of them: --init-from RUNDIR."
    )


def resume_warm_in_memory(path: str, source: str) -> BnnError:
    return BnnError(
        f"The run '{path}' started from a run held in memory ({source}), so it cannot be resumed from the command "
        "line.",
        Location(path, 0),
        "Run it again from Python with the same previous run: model.run(data, init=previous, out=...).",
    )


def compare_needs_two() -> UsageError:
    return UsageError(
        "Comparison needs at least two runs.", "Give two or more run directories: bnnc compare RUN RUN ..."
    )


def compare_other_data(path: str, first: str, what: str) -> BnnError:
    return BnnError(
        f"The run '{path}' was fit to other data than '{first}': it {what}.",
        Location(path, 0),
        "LOO compares models on the same observed data; run each model on the same data file.",
    )


def no_log_likelihood(path: str) -> BnnError:
    return BnnError(
        f"The run '{path}' saved no pointwise log-likelihood, which LOO needs.",
        Location(path, 0),
        "Run the model again with this version of bnnlang.",
    )


def no_run_folder() -> UsageError:
    return UsageError("This run has no directory.", "Give `folder`, or run with `out=` to write one.")


def output_not_writable(path: str, reason: str) -> UsageError:
    return UsageError(f"Cannot write '{path}': {reason}.", "Give a file in a folder that exists and you may write to.")


def no_prior_figure(reason: str) -> UsageError:
    return UsageError(f"No figure of the prior's functions: {reason}.", "Leave out -o; the numbers cover every model.")


# -- the command line -------------------------------------------------------------------------------------------


def which_network(asked: str | None, has_priors: bool) -> UsageError:
    what = f"'{asked}' has no function-space prior." if asked else "The model has none or several."
    return UsageError(
        "Which network's prior to fit? " + what,
        "Give --network NAME for a network with `prior NAME ~ GP(...) at context(...)`."
        if has_priors
        else "Add `prior net ~ GP(0, RBF(1)) at context(low = -3, high = 3, points = 40)` to the model.",
    )


def bad_set(item: str) -> UsageError:
    return UsageError(f"--set expects KEY=VALUE, got '{item}'.", "e.g. --set dense_mass=1")


def resume_one_process() -> UsageError:
    return UsageError("--resume runs on one process.", "Drop the multi-host flags")


def run_needs_model_and_data() -> UsageError:
    return UsageError(
        "bnnc run needs a model and --data.",
        "bnnc run model.bnn --data data.csv  (or bnnc run --resume RUN to continue a stopped run)",
    )


def resume_takes_nothing_else(run: str) -> UsageError:
    return UsageError(
        "--resume continues a run with its own model, data and settings.", f"Write just: bnnc run --resume {run}"
    )


def bad_interval() -> UsageError:
    return UsageError("--interval must be between 0 and 1.", "e.g. --interval 0.9")


def not_positive(flag: str, example: str) -> UsageError:
    return UsageError(f"{flag} must be positive.", f"e.g. {flag} {example}")


def negative_divergences() -> UsageError:
    return UsageError("--max-divergences must be 0 or more.", "e.g. 0")
