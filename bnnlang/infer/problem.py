"""What every backend receives: the model, its data, and how to cut the data into minibatches.

Backends work on NumPyro's unconstrained space through `potential` (the
negative log joint, with the likelihood of a minibatch scaled by N / batch
through the generated program's plates) and turn positions back into
constrained draws with `constrain`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers
from numpyro.infer import init_to_sample, init_to_uniform
from numpyro.infer.util import constrain_fn, initialize_model, potential_energy, unconstrain_fn
from numpyro.primitives import Messenger

from ..check.model import CheckedModel
from .rows import RowPlan, row_plan


@dataclass(frozen=True)
class WarmStart:
    """What a new run takes from a previous run (`infer.warm`): its draws, and the tuning its sampler ended with."""

    draws: dict[str, np.ndarray]  # each sampled site's constrained draws [chain, draw, ...], as posterior.nc holds
    backend: str  # the previous run's backend: tuned values carry over only to the same backend
    source: str  # the previous run's directory, or a digest of its draws (an in-memory run)
    step_size: np.ndarray | None = None  # per previous chain: NUTS's adapted step size, or MCLMC's tuned one
    L: np.ndarray | None = None  # per previous member: MCLMC's tuned L (MILE runs)
    fixed: dict[str, np.ndarray] = field(default_factory=dict)  # a partially Bayesian run's point-estimated layers

    @property
    def chains(self) -> int:
        return int(next(iter(self.draws.values())).shape[0])

    def source_chain(self, chain: int) -> int:
        """The previous chain that new chain (or member) `chain` continues."""
        return chain % self.chains

    def tuned_by(self, backend: str) -> bool:
        """Whether the previous run's step sizes (and L) were tuned by `backend`'s sampler, so they mean the same."""
        return self.backend == backend and self.step_size is not None


@dataclass(frozen=True)
class Problem:
    model: Callable  # the generated model; conditioned on `fixed` when partially Bayesian
    data: dict[str, Any]  # full-data keyword arguments (jax arrays; ints for dimensions)
    observed: tuple[str, ...]  # names of the observed variables
    site_dims: dict[str, list[str]] = field(default_factory=dict)
    rows: str | None = None  # the dimension minibatches cut (the observation plate); None: not batchable
    n_rows: int = 0
    batched: tuple[str, ...] = ()  # data keys whose first axis runs over `rows`
    fixed: dict[str, np.ndarray] = field(default_factory=dict)  # deterministic sites at their MAP
    deterministic: tuple[str, ...] = ()  # sites to point-estimate before sampling
    hidden: tuple[str, ...] = ()  # networks' sites except their last layer's (for last-layer approximations)
    base_model: Callable | None = None  # the model before conditioning on `fixed`
    chain_subset: tuple[int, ...] | None = None  # global chain indices this process runs (multi-host)
    keyed: bool = False  # the model takes `_key` (function-space priors whose context points have a spread)
    # wraps the model so the `noncentered` sites are sampled as loc + scale * z (the generated program's
    # `noncentered`); each site's standard draw z is then a latent site of its own, `decentered(site)`
    reparam: Callable[[Callable], Callable] | None = None
    noncentered: tuple[str, ...] = ()
    program: str = ""  # digest of the generated program: runs of one program on data of one shape share samplers
    # each layer site's prior role and fan-in (a number, or the dimension a dense layer's width is), for starts
    layer_sites: dict[str, tuple[str, int | str]] = field(default_factory=dict)
    warm: WarmStart | None = None  # a previous run's posterior to start from (`infer.warm`); None: a cold start

    @property
    def row_plan(self) -> RowPlan:
        return RowPlan(self.rows, self.n_rows, self.batched)

    def chain_ids(self, chains: int) -> list[int]:
        """The chains this process runs; chain c always uses the key fold_in(PRNGKey(seed), c)."""
        return list(self.chain_subset) if self.chain_subset is not None else list(range(chains))

    # -- minibatches ---------------------------------------------------------
    def take(self, idx: jnp.ndarray) -> dict[str, Any]:
        """The rows `idx` of the arrays minibatches are cut from."""
        return {k: self.data[k][idx] for k in self.batched}

    def batch_data(self) -> dict[str, Any]:
        """The arrays minibatches are cut from (for sharding over devices)."""
        return {k: self.data[k] for k in self.batched}

    def kwargs_for(self, batch: dict[str, Any] | None) -> dict[str, Any]:
        """Model kwargs with `batch` (arrays already cut to the minibatch) in place of the full data."""
        if batch is None:
            return self.data
        size = next(iter(batch.values())).shape[0]
        kwargs = {**self.data, **batch}
        if self.rows in kwargs and not hasattr(kwargs[self.rows], "shape"):
            kwargs[self.rows] = int(size)
        kwargs["_rows"] = {self.rows: self.n_rows}
        return kwargs

    # -- unconstrained space -------------------------------------------------
    def potential(
        self,
        params: dict[str, jnp.ndarray],
        batch: dict[str, Any] | None = None,
        data_weight: float = 1.0,
        key: jax.Array | None = None,
    ) -> jnp.ndarray:
        """Negative log joint at unconstrained `params`; with `batch`, a minibatch estimate of it.

        `data_weight` > 1 counts the likelihood that many times (tempered MAP starts), through the same
        plate scale as minibatches; it needs a batchable model and is ignored otherwise. `key` redraws
        what a stochastic-gradient step may redraw (context points with a spread); without it the
        potential is a fixed function, as NUTS and MCLMC need. A model with nothing to redraw ignores
        it (under jit, the key's computation is then dropped).
        """
        if data_weight == 1.0 or self.rows is None:
            kwargs = self.kwargs_for(batch)
        else:
            kwargs = self.kwargs_for(batch if batch is not None else self.batch_data())
            kwargs["_rows"] = {self.rows: self.n_rows * data_weight}
        if key is not None and self.keyed:
            kwargs = {**kwargs, "_key": key}
        return potential_energy(self.model, (), kwargs, params)

    def init(self, key: jax.Array, radius: float | None = None) -> dict[str, jnp.ndarray]:
        """A random unconstrained starting point.

        radius None: a draw from the prior, clipped to (-3, 3) on the unconstrained scale. For a
        network this is the usual fan-in scaled initialisation; small uniform starts put every
        weight near zero, a saddle a MAP fit of a tanh network can stay in (sigma stuck at the
        data's spread). radius r: uniform in (-r, r), NUTS's convention.
        """
        strategy = init_to_sample if radius is None else init_to_uniform(radius=radius)
        info = initialize_model(key, self.model, init_strategy=strategy, model_kwargs=self.data)
        z = info.param_info.z
        return z if radius is not None else jax.tree_util.tree_map(lambda v: jnp.clip(v, -3.0, 3.0), z)

    def prior_draw(self, key: jax.Array) -> dict[str, jnp.ndarray]:
        """`init(key, None)`'s kind of start, a prior draw clipped to (-3, 3) unconstrained, from one traced model
        call: cheaper to compile than `initialize_model`, which matters when every ensemble member needs one."""
        tr = handlers.trace(handlers.seed(self.model, key)).get_trace(**self.data)
        values = {k: v["value"] for k, v in tr.items() if v["type"] == "sample" and not v["is_observed"]}
        z = unconstrain_fn(self.model, (), self.data, values)
        return jax.tree_util.tree_map(lambda v: jnp.clip(v, -3.0, 3.0), z)

    def constrain(self, params: dict[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
        """Unconstrained position -> the sample sites' values, and those of non-centred sites.

        A non-centred site is a deterministic function of its `_decentered` standard draw; both come back,
        so the result can be substituted into `model`. `public` keeps what ArviZ stores.
        """
        return constrain_fn(self.model, (), self.data, params, return_deterministic=self.reparam is not None)

    def unconstrain(self, values: dict[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
        """The model's own sites' values (as `public` keeps them, e.g. a stored draw) -> an unconstrained position.

        The inverse of `constrain` then `public`: a non-centred site becomes its standard draw
        z = (value - loc) / scale at the hyperparameters in `values`, so draws stored as written serve a program
        that samples them centred or not.
        """
        located = self.loc_scale(values)
        params = {k: v for k, v in values.items() if k not in located}
        params.update({decentered(k): (values[k] - loc) / scale for k, (loc, scale) in located.items()})
        return unconstrain_fn(self.model, (), self.data, params)

    def loc_scale(self, values: dict[str, jnp.ndarray]) -> dict[str, tuple[jnp.ndarray, jnp.ndarray]]:
        """Each sampled non-centred site's loc and scale at the model's own sites' `values` (constrained)."""
        sites = [site for site in self.noncentered if site not in self.fixed]  # held fixed: not sampled
        if not sites:
            return {}
        tr = handlers.trace(handlers.substitute(self.plain_model, data=values)).get_trace(**self.data)
        out = {}
        for site in sites:
            fn = base_distribution(tr[site]["fn"])
            shape = jnp.shape(tr[site]["value"])
            out[site] = (jnp.broadcast_to(fn.loc, shape), jnp.broadcast_to(fn.scale, shape))
        return out

    def public(self, draws: dict[str, Any]) -> dict[str, Any]:
        """The draws of the model's own sites: without the fixed ones and non-centred sites' standard draws."""
        hide = set(self.fixed) | {decentered(site) for site in self.noncentered}
        return {k: v for k, v in draws.items() if k not in hide}

    @property
    def plain_model(self) -> Callable:
        """The model as written (conditioned on `fixed`), not reparameterised: for scoring draws of its sites."""
        base = self.base_model or self.model
        return held_at(base, self.fixed) if self.fixed else base

    def with_fixed(self, fixed: dict[str, np.ndarray]) -> Problem:
        base = self.base_model or self.model
        return replace(self, model=self._wrap(held_at(base, fixed)), fixed=fixed, base_model=base)

    def without_fixed(self) -> Problem:
        """The full model, every site free (for the MAP fit of deterministic layers)."""
        return replace(self, model=self._wrap(self.base_model or self.model), fixed={})

    def _wrap(self, model: Callable) -> Callable:
        # outside the conditioning: conditioned sites reach the reparameterisation already observed and keep
        # their values (it skips them)
        return self.reparam(model) if self.reparam is not None else model


class unscored(Messenger):
    """The named sample sites keep their values but add nothing to the log density."""

    def __init__(self, fn: Callable | None = None, names: frozenset[str] = frozenset()):
        self.names = names
        super().__init__(fn)

    def process_message(self, msg: dict) -> None:
        if msg["type"] == "sample" and msg["name"] in self.names:
            msg["fn"] = msg["fn"].mask(False)


def held_at(model: Callable, fixed: dict[str, np.ndarray]) -> Callable:
    """`model` with the `fixed` sites held at their point estimates (MAP values) and their prior density left out:
    a point estimate is not a draw from its prior, and scored as one it would act as data for the
    hyperparameters above it (shrunk MAP weights pinned a shared weight scale: docs/inference.md, "Partially
    Bayesian networks")."""
    return handlers.condition(unscored(model, frozenset(fixed)), data=fixed)


def base_distribution(d):
    """The distribution inside NumPyro's Independent / Expanded / masked wrappers (its loc, scale, probs)."""
    while hasattr(d, "base_dist"):
        d = d.base_dist
    return d


def decentered(site: str) -> str:
    """The name NumPyro's LocScaleReparam gives a non-centred site's standard draw."""
    return f"{site}_decentered"


def make_problem(
    model_fn: Callable,
    checked: CheckedModel,
    kwargs: dict[str, Any],
    site_dims: dict[str, list[str]],
    reparam: Callable[[Callable], Callable] | None = None,
    noncentered: tuple[str, ...] = (),
    rows: RowPlan | None = None,
    program: str = "",
) -> Problem:
    """`reparam` wraps `model_fn` so the `noncentered` sites are sampled as loc + scale * z; `rows`, the
    minibatch plan when the caller has made it already (`api.Model.plan`)."""
    data = {k: (jnp.asarray(v) if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}
    rows = rows if rows is not None else row_plan(checked, data)
    return Problem(
        model=reparam(model_fn) if reparam is not None else model_fn,
        data=data,
        observed=tuple(v.name for v in checked.observed),
        site_dims=site_dims,
        rows=rows.dim,
        n_rows=rows.size,
        batched=rows.batched,
        deterministic=tuple(checked.deterministic_sites()),
        hidden=tuple(checked.hidden_sites()),
        base_model=model_fn,
        keyed=any(fp.spread for fp in checked.function_priors),
        layer_sites={
            name: (site.role, site.fan_in) for net in checked.networks.values() for name, _, site in net.layer_sites()
        },
        reparam=reparam,
        noncentered=noncentered if reparam is not None else (),
        program=program,
    )
