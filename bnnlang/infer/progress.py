"""Progress bars shared by the backends: steps, a live statistic (loss, acceptance), ETA."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


class Progress:
    """A tqdm bar that updates per chunk of jitted steps; silent when disabled (`--quiet`)."""

    def __init__(self, total: int, desc: str, enabled: bool = True, initial: int = 0) -> None:
        self.bar = (
            tqdm(total=total, desc=desc, initial=initial, file=sys.stderr, dynamic_ncols=True, leave=True)
            if enabled
            else None
        )

    def update(self, steps: int, **stats: float) -> None:
        if self.bar is None:
            return
        if stats:
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in stats.items()}, refresh=False)
        self.bar.update(steps)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
