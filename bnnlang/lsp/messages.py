"""The language server's own wording: what it says when it cannot check a buffer (too large, timed out, a bug),
about the data file a model names, and when pygls is missing. The checker's messages come from its catalogues;
these only cover what an editor adds (stanc3's Semantic_error is the model, as in every other stage)."""

from __future__ import annotations

from ..errors import BnnError, BnnWarning, Location, UsageError

INSTALL = 'pip install "bnnlang[lsp]"'


def needs_pygls(missing: str) -> UsageError:
    return UsageError(
        f"`bnnc lsp` needs the packages pygls and lsprotocol; {missing} is not installed.",
        hint=f"Install the language server's extra: {INSTALL}",
    )


def too_large(path: str, size: int, limit: int) -> BnnError:
    """`size` and `limit` in characters, shown in KiB."""
    return BnnError(
        f"The file is {size // 1024} KiB; the language server checks files of at most {limit // 1024} KiB.",
        Location(path, 0),
        f"Check it from the command line: bnnc check {path}",
    )


def timed_out(path: str, seconds: float) -> BnnError:
    return BnnError(
        f"Checking took longer than {seconds:g} s; the diagnostics are shown when it finishes.",
        Location(path, 0),
        f"A very large model or data file is slow to check as you type; bnnc check {path} checks it in full.",
    )


def internal_error(path: str, error: BaseException) -> BnnError:
    return BnnError(
        f"bnnc could not check this file: {type(error).__name__}: {error} (a bug in bnnc, not in your model).",
        Location(path, 0),
        f"bnnc check {path} says the same with a crash log to report.",
    )


# -- the data file of a model (docs/editors.md) ---------------------------------------------------------------


def data_missing(where: Location, data: str, from_setting: bool) -> BnnWarning:
    source = "the setting bnnlang.data" if from_setting else "this comment"
    return BnnWarning(
        f"Data file '{data}' named by {source} does not exist; the data are not checked.",
        where,
        "A `# data: PATH` comment is relative to the model's folder; bnnlang.data paths to the workspace folder.",
    )


def data_too_large(where: Location, data: str, mib: int) -> BnnWarning:
    return BnnWarning(
        f"Data file '{data}' is over {mib} MiB; the editor does not check it as you type.",
        where,
        f"Check it from the command line: bnnc check MODEL --data {data}",
    )


def data_problem(where: Location, data: str, err: BnnError) -> BnnError:
    """A problem `load_data` found, moved into the model (a comment line or line 1) when it lies in the data
    file; its own place there leads the message."""
    loc = err.location
    inside = ""
    if loc is not None and loc.path != where.path:
        inside = f" ({loc.path}:{loc.line}:{loc.column})" if loc.line > 0 else f" ({loc.path})"
    return BnnError(f"Data '{data}'{inside}: {err.message}", where, err.hint)


def in_module(where: Location, inner: Location, message: str, hint: str | None) -> BnnError:
    """A problem inside an imported module, shown on the import that reads it."""
    place = f"{inner.path}:{inner.line}:{inner.column}" if inner.line > 0 else inner.path
    return BnnError(f"In {place}: {message}", where, hint)
