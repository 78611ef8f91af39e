"""Inference settings: what each backend accepts, its defaults, and validation.

The same table validates the `infer` statement and the CLI's overrides, so a
bad value gets the same message from either place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import BnnError, Location, did_you_mean


@dataclass(frozen=True)
class Setting:
    kind: type  # int | float | bool
    default: Any
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    doc: str = ""

    def describe(self) -> str:
        if self.kind is bool:
            return "true or false (1 or 0)"
        lo = "" if self.low is None else f"{'>' if self.low_open else '>='} {self.low:g}"
        hi = "" if self.high is None else f"{'<' if self.high_open else '<='} {self.high:g}"
        kind = "a whole number" if self.kind is int else "a number"
        rng = " and ".join(x for x in (lo, hi) if x)
        return f"{kind} {rng}".strip()

    def validate(self, value: float) -> Any:
        if self.kind is int and value != int(value):
            raise ValueError(self.describe())
        if self.kind is bool:
            if value not in (0, 1):
                raise ValueError(self.describe())
            return bool(value)
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            raise ValueError(self.describe())
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            raise ValueError(self.describe())
        return self.kind(value)


BACKENDS: dict[str, dict[str, Setting]] = {
    "nuts": {
        "chains": Setting(int, 4, 1, 1024, doc="independent chains; run in parallel over JAX devices"),
        "warmup": Setting(int, 500, 0, doc="adaptation steps per chain (discarded)"),
        "samples": Setting(int, 500, 1, doc="draws kept per chain"),
        "thinning": Setting(int, 1, 1, doc="keep every k-th draw"),
        "seed": Setting(int, 0, 0, 2**31 - 1, doc="random seed; same seed, same draws"),
        "target_accept": Setting(float, 0.8, 0, 1, True, True, doc="step-size adaptation target"),
        "max_tree_depth": Setting(int, 10, 1, 20, doc="NUTS doubles its trajectory at most this often"),
        "dense_mass": Setting(bool, False, doc="adapt a dense mass matrix (small models only)"),
        "init_radius": Setting(float, 0.5, 0, 10, doc="initial values uniform in (-r, r) on the unconstrained scale"),
    },
}


@dataclass(frozen=True)
class InferSettings:
    method: str
    values: dict[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def with_overrides(self, overrides: dict[str, Any], path: str = "<command line>") -> InferSettings:
        method = overrides.get("backend") or self.method
        check_backend(method, Location(path, 0))
        table = BACKENDS[method]
        # Keep the model's values for settings the new backend also has.
        values = {k: v for k, v in self.values.items() if k in table}
        for key, raw in overrides.items():
            if key == "backend" or raw is None:
                continue
            values[key] = validate_setting(method, key, raw, Location(path, 0))
        return InferSettings(method, {**{k: s.default for k, s in table.items()}, **values})


def check_backend(method: str, loc: Location) -> None:
    if method not in BACKENDS:
        guess = did_you_mean(method, BACKENDS)
        available = ", ".join(sorted(BACKENDS))
        raise BnnError(
            f"Unknown inference backend '{method}'.",
            loc,
            hint=f"{guess + ' ' if guess else ''}Available in this version: {available}.",
        )


def validate_setting(method: str, key: str, value: Any, loc: Location) -> Any:
    table = BACKENDS[method]
    if key not in table:
        guess = did_you_mean(key, table)
        raise BnnError(
            f"'{method}' has no setting '{key}'.",
            loc,
            hint=(guess + " " if guess else "") + f"Settings of {method}: {', '.join(table)}.",
        )
    spec = table[key]
    try:
        number = float(value)
        return spec.validate(number)
    except (TypeError, ValueError):
        raise BnnError(
            f"Setting '{key}' of {method} must be {spec.describe()}; got {value}.",
            loc,
            hint=f"{key}: {spec.doc}; default {spec.default}.",
        ) from None


def defaults(method: str = "nuts") -> InferSettings:
    return InferSettings(method, {k: s.default for k, s in BACKENDS[method].items()})
