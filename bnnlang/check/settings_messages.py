"""Messages about inference settings, from the model's `infer` statement (located) or the command line and the
API (`where` None: location-free)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import BnnError, Location, UsageError, suggest


def _error(where: Location | None, message: str, hint: str | None) -> BnnError:
    return BnnError(message, where, hint) if where is not None else UsageError(message, hint)


def unknown_backend(where: Location | None, method: str, backends: Iterable[str]) -> BnnError:
    names = sorted(backends)
    return _error(
        where,
        f"Unknown inference backend '{method}'.",
        suggest(method, names, then=f"Available in this version: {', '.join(names)}."),
    )


def unknown_setting(where: Location | None, method: str, key: str, table: Iterable[str]) -> BnnError:
    names = list(table)
    return _error(
        where,
        f"'{method}' has no setting '{key}'.",
        suggest(key, names, then=f"Settings of {method}: {', '.join(names)}."),
    )


def bad_setting_value(where: Location | None, method: str, key: str, value: Any, spec) -> BnnError:
    shown = f"'{value}'" if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else value
    then = f"{key}: {spec.doc}; default {spec.default}."
    hint = suggest(str(value), spec.choices, then=then) if spec.kind is str else then
    return _error(where, f"Setting '{key}' of {method} must be {spec.describe()}; got {shown}.", hint)
