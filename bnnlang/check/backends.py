"""The backend registry: every inference backend as one table entry that the rest of bnnlang reads.

A backend is its implementation (one module in `bnnlang/infer/backends/`) plus its entry here: its settings
table (validated by the checker and the command line alike), what kind of posterior it gives, and how it
describes a run. The CLI's help, the settings docs, the memory check, multi-host runs, the report and the
verdict read these fields instead of testing a backend's name. The registry is kept free of JAX so that
`bnnc check` validates an `infer` statement without starting JAX; the implementation is imported when a run
starts (`Backend.module`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


@dataclass(frozen=True)
class Setting:
    kind: type  # int | float | bool | str (a word from `choices`)
    default: Any
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    doc: str = ""
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind is str:
            return "one of " + ", ".join(self.choices)
        if self.kind is bool:
            return "true or false (1 or 0)"
        lo = "" if self.low is None else f"{'>' if self.low_open else '>='} {_num(self.low)}"
        hi = "" if self.high is None else f"{'<' if self.high_open else '<='} {_num(self.high)}"
        kind = "a whole number" if self.kind is int else "a number"
        rng = " and ".join(x for x in (lo, hi) if x)
        return f"{kind} {rng}".strip()

    def validate(self, value: float | str) -> Any:
        if self.kind is str:
            if value not in self.choices:
                raise ValueError(self.describe())
            return value
        if isinstance(value, str):
            value = float(value)
        if not math.isfinite(value):  # inf and nan pass every range comparison below
            raise ValueError(self.describe())
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


def _common(chains: int | None = 4) -> dict[str, Setting]:
    out = {
        "seed": Setting(int, 0, 0, 2**31 - 1, doc="random seed; same seed, same draws"),
        "noncentered": Setting(
            bool,
            True,
            doc="sample hierarchical location-scale sites as loc + scale * z, z standard (no funnels)",
        ),
    }
    if chains is not None:
        out["chains"] = Setting(int, chains, 1, 1024, doc="independent chains; run in parallel over JAX devices")
    return out


def _minibatch(every: int = 1000) -> dict[str, Setting]:
    return {
        "batch_size": Setting(int, 0, 0, doc="rows per minibatch; 0 = the backend's default (see docs)"),
        "checkpoint_every": Setting(int, every, 0, doc="save resumable state every k steps; 0 = never"),
    }


def _ensemble() -> dict[str, Setting]:
    return {
        "lr": Setting(float, 0.01, 0, None, True, doc="peak learning rate of the ensemble's Adam (cosine decay)"),
        "holdout": Setting(float, 0.1, 0, 0.5, doc="share of rows held out to early-stop ensemble members; 0 = none"),
        "patience": Setting(int, 1000, 1, doc="stop a member after this many steps without a better held-out fit"),
        "start": Setting(
            str,
            "fan_in",
            choices=("fan_in", "prior"),
            doc="ensemble members start from weights ~ Normal(0, 1/sqrt(fan_in)) and zero biases, or a prior draw",
        ),
    }


_SETTINGS: dict[str, dict[str, Setting]] = {
    "nuts": {
        **_common(),
        "warmup": Setting(int, 500, 0, doc="adaptation steps per chain (discarded)"),
        "samples": Setting(int, 500, 1, doc="draws kept per chain"),
        "thinning": Setting(int, 1, 1, doc="keep every k-th draw"),
        "target_accept": Setting(float, 0.8, 0, 1, True, True, doc="step-size adaptation target"),
        "max_tree_depth": Setting(int, 10, 1, 20, doc="NUTS doubles its trajectory at most this often"),
        "dense_mass": Setting(bool, False, doc="adapt a dense mass matrix (small models only)"),
        "init_radius": Setting(float, 0.5, 0, 10, doc="initial values uniform in (-r, r) on the unconstrained scale"),
        "map_steps": Setting(
            int,
            2000,
            0,
            doc="optimiser steps of each ensemble member (init = ensemble) and of deterministic layers' MAP",
        ),
        "init": Setting(
            str,
            "uniform",
            choices=("uniform", "ensemble"),
            doc="chain starts: uniform in (-init_radius, init_radius), or one deep-ensemble member per chain",
        ),
        **_ensemble(),
    },
    "sghmc": {
        **_common(),
        "warmup": Setting(int, 1000, 0, doc="burn-in steps per chain (discarded); a step is `leapfrog` gradients"),
        "samples": Setting(int, 500, 1, doc="draws kept per chain"),
        "thinning": Setting(int, 2, 1, doc="keep every k-th step"),
        **_minibatch(),
        "step_size": Setting(
            float,
            0.0,
            0,
            doc="step relative to the curvature: learning rate = step_size / lambda_max (the potential's largest "
            "Hessian eigenvalue at the start, raised where burn-in finds more); diverges past ~3; "
            "0 = auto: min(1, sqrt(batch / N))",
        ),
        "friction": Setting(
            float,
            0.0,
            0,
            1,
            doc="momentum friction alpha; 0 = auto: 0.1 with full-data gradients, 0.5 with minibatches",
        ),
        "leapfrog": Setting(int, 20, 1, 1000, doc="gradient steps per step (momentum carries over between steps)"),
        "schedule": Setting(str, "constant", choices=("constant", "decay", "cyclical"), doc="step-size schedule"),
        "cycles": Setting(int, 4, 1, doc="cycles of the cyclical schedule"),
        "init": Setting(
            str,
            "ensemble",
            choices=("ensemble", "map", "uniform"),
            doc="start each chain at its own deep-ensemble member (early-stopped on held-out rows), at the best of "
            "map_restarts MAP fits, or at random",
        ),
        "map_steps": Setting(
            int, 10000, 0, doc="optimiser steps of each ensemble member (fewer with early stopping) or MAP fit"
        ),
        "map_restarts": Setting(int, 4, 1, 100, doc="MAP fits from prior draws per chain; the best one starts it"),
        **_ensemble(),
        "init_radius": Setting(float, 0.5, 0, 10, doc="init = uniform: values uniform in (-r, r), unconstrained"),
        "noise": Setting(
            str, "rademacher", choices=("rademacher", "gaussian"), doc="injected noise: +-1 (fast) or Gaussian"
        ),
    },
    "svi": {
        **_common(chains=None),
        "guide": Setting(
            str,
            "lastlayer",
            choices=("lastlayer", "normal", "lowrank", "map", "laplace"),
            doc="variational family: lastlayer (Laplace on each network's last layer and the scalar params, hidden "
            "layers at the MAP), normal (mean-field), lowrank, map (point estimate, one draw), laplace (all weights)",
        ),
        "steps": Setting(int, 5000, 1, doc="optimiser steps"),
        "samples": Setting(int, 1000, 1, doc="posterior draws taken from the fitted guide"),
        **_minibatch(),
        "optimizer": Setting(str, "adam", choices=("adam", "adamw", "sgd", "rmsprop"), doc="optax optimiser"),
        "lr": Setting(float, 0.01, 0, None, True, doc="peak learning rate"),
        "schedule": Setting(str, "cosine", choices=("constant", "cosine", "exponential"), doc="learning-rate schedule"),
        "rank": Setting(int, 10, 1, doc="rank of the low-rank guide's covariance"),
        "init_scale": Setting(float, 0.01, 0, None, True, doc="initial scale of the normal and low-rank guides"),
        "particles": Setting(int, 1, 1, 1000, doc="Monte Carlo draws per ELBO estimate"),
        "init": Setting(str, "map", choices=("map", "uniform"), doc="start the guide's mean at a MAP fit or at random"),
        "map_steps": Setting(int, 2000, 0, doc="optimiser steps of the MAP start (and of deterministic layers' MAP)"),
        "map_data_weight": Setting(float, 10.0, 1, doc="the MAP start counts the data this many times"),
        "init_radius": Setting(float, 0.5, 0, 10, doc="initial values uniform in (-r, r) on the unconstrained scale"),
    },
    "mile": {
        **_common(),
        "map_steps": Setting(int, 10000, 1, doc="optimiser steps of each ensemble member (fewer with early stopping)"),
        **_ensemble(),
        "batch_size": Setting(int, 0, 0, doc="rows per minibatch of the ensemble fit; 0 = full batch"),
        "warmup": Setting(int, 1000, 100, doc="MCLMC steps per member that tune its step size and L (discarded)"),
        "samples": Setting(int, 1000, 1, doc="draws kept per member"),
        "thinning": Setting(int, 10, 1, doc="MCLMC steps per kept draw"),
        "preconditioning": Setting(
            bool, False, doc="tune a diagonal preconditioner per member (off by default, as MILE's authors)"
        ),
        "desired_energy_var": Setting(
            float, 5e-4, 0, None, True, doc="target energy-error variance per dimension of the step-size tuning"
        ),
    },
}


@dataclass(frozen=True)
class Backend:
    """One inference backend, as the CLI, checker, memory check, report and verdict see it."""

    name: str
    summary: str  # what it is, in one line (help texts, docs, the report)
    settings: dict[str, Setting]
    # draws form Markov chains, judged by R-hat and ESS; otherwise independent draws from a fitted approximation,
    # judged by whether its loss stopped falling
    mcmc: bool
    checkpoints: bool  # saves resumable state (`bnnc run --resume` continues it)
    multi_process: bool  # its chains can be split over the processes of a multi-host run
    describe: Callable[[Mapping[str, Any]], str]  # the run in one line, for the CLI and logs
    draws_per_chain: Callable[[Mapping[str, Any]], int]  # what it stores, for the memory check
    # chains start in different modes by design (ensemble members): judged within each chain
    chains_in_modes: Callable[[Mapping[str, Any]], bool] = lambda s: False
    # holds the networks' hidden layers at their MAP and approximates the rest (a last-layer guide)
    fixes_hidden_layers: Callable[[Mapping[str, Any]], bool] = lambda s: False
    # can start from a previous run's posterior (`init = previous run`, `bnnc run --init-from`; docs/inference.md)
    warm_starts: bool = False

    def members(self, settings: Mapping[str, Any], chains: int) -> bool:
        """Whether a run's chains are ensemble members, each in its own mode: judged, and LOO's efficiency
        measured, within each chain."""
        return self.mcmc and chains > 1 and self.chains_in_modes(settings)

    @property
    def module(self) -> str:
        """The implementation: a module with `run(problem, settings, progress, checkpoint) -> RunResult`."""
        return f"bnnlang.infer.backends.{self.name}"


def _chains(s: Mapping[str, Any]) -> str:
    return f"{s['chains']} chains x ({s['warmup']} warmup + {s['samples']} draws), seed {s['seed']}"


# A model without an `infer` statement runs NUTS; so does the standalone program `bnnc compile` prints.
DEFAULT_BACKEND = "nuts"

BACKENDS: dict[str, Backend] = {
    b.name: b
    for b in [
        Backend(
            "nuts",
            "the No-U-Turn Sampler (NumPyro), full-batch; optionally from deep-ensemble starts",
            _SETTINGS["nuts"],
            mcmc=True,
            checkpoints=False,
            multi_process=True,
            describe=lambda s: f"nuts: {_chains(s)}",
            draws_per_chain=lambda s: math.ceil(s["samples"] / s["thinning"]),  # NumPyro keeps every thinning-th
            chains_in_modes=lambda s: s["init"] == "ensemble",
            warm_starts=True,
        ),
        Backend(
            "sghmc",
            "stochastic-gradient HMC on minibatches, from deep-ensemble starts",
            _SETTINGS["sghmc"],
            mcmc=True,
            checkpoints=True,
            multi_process=True,
            describe=lambda s: f"sghmc: {_chains(s)}",
            draws_per_chain=lambda s: s["samples"],
            chains_in_modes=lambda s: s["init"] == "ensemble",
        ),
        Backend(
            "svi",
            "stochastic variational inference: a fitted guide (last-layer Laplace by default)",
            _SETTINGS["svi"],
            mcmc=False,
            checkpoints=True,
            multi_process=False,
            describe=lambda s: f"svi ({s['guide']} guide, {s['steps']} steps, lr {s['lr']:g}), seed {s['seed']}",
            draws_per_chain=lambda s: s["samples"],
            fixes_hidden_layers=lambda s: s["guide"] == "lastlayer",
        ),
        Backend(
            "mile",
            "MILE: a deep ensemble, then microcanonical Langevin (MCLMC) around each member",
            _SETTINGS["mile"],
            mcmc=True,
            checkpoints=False,
            multi_process=True,
            describe=lambda s: f"mile: {_chains(s)}",
            draws_per_chain=lambda s: s["samples"],
            chains_in_modes=lambda s: True,
            warm_starts=True,
        ),
    ]
}


def settings_table(backend: Backend) -> str:
    """The backend's settings as the Markdown table in docs/inference.md (a test keeps the two the same)."""
    rows = ["| setting | default | allowed | meaning |", "|---|---|---|---|"]
    for key, s in backend.settings.items():
        default = str(s.default).lower() if isinstance(s.default, bool) else str(s.default)
        rows.append(f"| {key} | {default} | {s.describe()} | {s.doc} |")
    return "\n".join(rows)
