"""One driver for every chunked loop: SVI's optimiser, SG-HMC's chains, ensemble members, MILE's MCLMC.

A loop of many steps runs as calls of one compiled chunk of fixed length: one compilation, and the host gets
control between chunks. The driver owns what happens there, the same way for every backend (BlackJAX keeps its
loop outside the kernel for the same reason):
- where each call stops: at the next chunk boundary, checkpoint boundary or the end, counted from step 0 so
  that a resumed run cuts its steps where an uninterrupted one does;
- the masked tail (`masked_scan`): steps at or past the stop leave the state alone, so the last call keeps the
  compiled length;
- the clock: the first call holds the compilation and is timed apart from the rest;
- the host's look at each chunk's outputs (`after`): divergence checks, kept outputs, progress statistics;
- checkpoints and progress.
Step t's randomness comes from `fold_in(key, t)` inside the chunk, so how the loop is cut never changes the
result.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from .checkpoint import NO_CHECKPOINT, Checkpoint
from .progress import Progress

# advance(state, start, stop) -> (state, outputs): steps start .. stop - 1 as one compiled call
Advance = Callable[[Any, int, int], tuple[Any, Any]]


@dataclass
class Clock:
    """Wall time of the first call (with its compilation) and of the later calls, with the steps each ran."""

    first_s: float = 0.0
    first_steps: int = 0
    later_s: float = 0.0
    later_steps: int = 0

    @property
    def steps(self) -> int:
        return self.first_steps + self.later_steps

    def add(self, seconds: float, steps: int) -> None:
        if self.first_steps == 0:
            self.first_s, self.first_steps = seconds, steps
        else:
            self.later_s += seconds
            self.later_steps += steps

    def per_step(self) -> float | None:
        """Seconds per step without compilation (None when the loop was one call)."""
        return self.later_s / self.later_steps if self.later_steps else None


def masked_scan(step: Callable, state: Any, start: jax.Array, stop: jax.Array, length: int) -> tuple[Any, Any]:
    """`length` steps of `step(state, t) -> (state, out)` from step `start`; steps at or past `stop` are computed
    and their results dropped, leaf by leaf (a select fuses into the update; a cond around the whole state would
    copy it every step)."""

    def body(state, i):
        t = start + i
        new, out = step(state, t)
        live = t < stop
        return jax.tree_util.tree_map(lambda a, b: jnp.where(live, a, b), new, state), out

    return jax.lax.scan(body, state, jnp.arange(length, dtype=jnp.int32))


def run_chunks(
    advance: Advance,
    state: Any,
    total: int,
    chunk: int,
    bar: Progress,
    start: int = 0,
    after: Callable[[Any, Any, int, int], dict[str, float]] | None = None,
    finished: Callable[[Any, int], bool] | None = None,
    checkpoint: Checkpoint = NO_CHECKPOINT,
    save: Callable[[Any], Any] | None = None,
    units: int = 1,
) -> tuple[Any, Clock, int]:
    """Advance `state` from step `start` to `total`; returns (state, clock, steps reached).

    `after(state, outputs, start, stop)` looks at each call's outputs on the host (it raises on divergence and
    returns the progress bar's statistics); `finished(state, step)` ends the loop early; a checkpoint of
    `save(state)` is written at every multiple of `checkpoint.every` and at the end; `units` progress-bar
    units per step.
    """
    clock = Clock()
    done = start
    every = checkpoint.every if checkpoint.enabled else 0
    while done < total:
        stop = min(total, (done // chunk + 1) * chunk)
        if every:
            stop = min(stop, (done // every + 1) * every)
        tick = time.perf_counter()
        state, outputs = advance(state, done, stop)
        stats = after(state, outputs, done, stop) if after is not None else {}
        clock.add(time.perf_counter() - tick, stop - done)
        bar.update(units * (stop - done), **stats)
        done = stop
        if every and (done % every == 0 or done == total):
            checkpoint.save(done, save(state) if save is not None else state)
        if finished is not None and finished(state, done):
            break
    return state, clock, done
