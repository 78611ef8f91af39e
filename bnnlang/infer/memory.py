"""Refuse a run whose parameters and stored draws cannot fit in memory, before anything is allocated.

A network a few orders of magnitude too wide (a typo: `dense(3000000)`) or default draw counts on a
4M-parameter network (15-30 GiB) otherwise fail minutes later, inside JAX or NumPy, as an internal error.
The parameter count comes from shapes alone (`jax.eval_shape` of a prior draw), so the check is cheap for
any size. The estimate is a lower bound: what the sampler's state and its stored draws must hold.
"""

from __future__ import annotations

import math
import os

import jax

from ..check.settings import InferSettings
from . import messages
from .problem import Problem

BYTES = 4  # float32 (x64 runs hold twice as much; the check stays a lower bound)
WORKING_COPIES = 8  # per chain: position, momentum, gradient, optimiser moments, ensemble and MAP copies


def parameter_shapes(problem: Problem) -> dict[str, tuple[int, ...]]:
    """Each latent site's unconstrained shape, traced abstractly: nothing the size of the network is allocated."""
    shapes = jax.eval_shape(problem.prior_draw, jax.random.PRNGKey(0))
    return {k: tuple(v.shape) for k, v in shapes.items()}


def stored_draws(settings: InferSettings) -> tuple[int, int]:
    """(chains, draws kept per chain) as the backend stores them."""
    return settings.chains, settings.backend.draws_per_chain(settings.values)


def available_bytes() -> int | None:
    """Memory the OS can give this process now (Linux's MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def check_memory(problem: Problem, settings: InferSettings, available: int | None = None) -> None:
    """Raise a BnnError (exit 2) when the run's lower-bound memory exceeds what is available."""
    available = available_bytes() if available is None else available
    if available is None:
        return
    shapes = parameter_shapes(problem)
    params = sum(math.prod(s) for s in shapes.values())
    chains, per_chain = stored_draws(settings)
    draws = BYTES * params * chains * per_chain  # the stored draws, counted once (copies come on top)
    working = BYTES * params * chains * WORKING_COPIES
    if draws + working <= available:
        return
    biggest = max(shapes, key=lambda k: math.prod(shapes[k]))
    size = math.prod(shapes[biggest])
    if working > available:
        hint = messages.network_too_large(biggest, size)
    else:
        hint = messages.fewer_draws(max(1, int((available - working) // (BYTES * params * chains))), biggest, size)
    needed = gib(draws + working)
    raise messages.out_of_memory(needed, gib(available), params, chains, per_chain, BYTES, WORKING_COPIES, hint)
