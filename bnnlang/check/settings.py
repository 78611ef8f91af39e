"""Inference settings: a backend's values, resolved from its table, the model's `infer` statement and overrides.

The same table (`check/backends.py`) validates the `infer` statement and the command line's or the API's
overrides, so a bad value gets the same message from either place; only the location differs (the model file,
or none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import Location
from . import settings_messages as msg
from .backends import BACKENDS, DEFAULT_BACKEND, Backend, Setting

# Written settings that keep their meaning when the backend changes; the rest are the new backend's defaults
# (a NUTS warmup is not an SG-HMC burn-in).
CARRIED = frozenset({"seed", "noncentered", "chains", "samples", "batch_size", "checkpoint_every"})
# A warm-started run's warmup, unless the run is given one: this share of the backend's default warmup. Its chains
# start where the previous posterior's ended, with its tuning; what is left to adapt is the step to the new data
# (docs/inference.md, "Warm starts", has the measurements).
WARM_WARMUP_SHARE = 0.25


@dataclass(frozen=True)
class InferSettings:
    method: str
    values: dict[str, Any]
    explicit: frozenset[str] = frozenset()  # settings the user wrote (the rest are the backend's defaults)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def backend(self) -> Backend:
        return BACKENDS[self.method]

    @property
    def chains(self) -> int:
        return int(self.values.get("chains", 1))

    def with_overrides(self, overrides: dict[str, Any]) -> InferSettings:
        """These settings with the command line's or the API's overrides (`backend` switches backend)."""
        method = overrides.get("backend") or self.method
        check_backend(method)
        table = BACKENDS[method].settings
        if method == self.method:
            values = dict(self.values)
            given = set(self.explicit)
        else:
            given = {k for k in self.explicit if k in table and k in CARRIED}
            values = {k: self.values[k] for k in given}
        for key, raw in overrides.items():
            if key == "backend" or raw is None:
                continue
            values[key] = validate_setting(method, key, raw)
            given.add(key)
        return InferSettings(method, {**_defaults(table), **values}, frozenset(given))


def warm_warmup(method: str) -> int:
    """The warmup of a warm-started run that was given none: a share of the backend's default, within its range."""
    spec = BACKENDS[method].settings["warmup"]
    return max(int(spec.low or 0), round(spec.default * WARM_WARMUP_SHARE))


def check_backend(method: str, where: Location | None = None) -> None:
    if method not in BACKENDS:
        raise msg.unknown_backend(where, method, BACKENDS)


def validate_setting(method: str, key: str, value: Any, where: Location | None = None) -> Any:
    """The setting's value in its type, or a located error (`where` None: the command line or the API)."""
    table = BACKENDS[method].settings
    if key not in table:
        raise msg.unknown_setting(where, method, key, table)
    spec = table[key]
    try:
        return spec.validate(value)
    except (TypeError, ValueError, OverflowError):
        raise msg.bad_setting_value(where, method, key, value, spec) from None


def _defaults(table: dict[str, Setting]) -> dict[str, Any]:
    return {k: s.default for k, s in table.items()}


def defaults(method: str = DEFAULT_BACKEND) -> InferSettings:
    return InferSettings(method, _defaults(BACKENDS[method].settings))
