"""What a loop of runs reuses: the last few compiled programs, per key.

A program compiled for one model on data of one shape serves the next run of that model on data of that shape
(a new seed, other rows of the same count), if the data reach it as arguments rather than as constants. `Kept`
holds the last `size` of them (least recently used first out), so a loop of hundreds of runs neither compiles
again nor keeps every copy alive (benchmarks/results/refits.md).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

import jax
import numpy as np

T = TypeVar("T")


class Kept(Generic[T]):
    """The last `size` items made, by key; a key of None is never kept."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, T] = OrderedDict()

    def get(self, key: Hashable | None, make: Callable[[], T]) -> T:
        if key is None:
            return make()
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        item = self._items[key] = make()
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return item

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


def split_arguments(kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], tuple | None]:
    """(arrays, the rest, the rest as a hashable key or None): arrays become arguments of a compiled program;
    the rest (dimensions, scalar settings) are fixed in it and name it."""
    arrays = {k: v for k, v in kwargs.items() if isinstance(v, jax.Array | np.ndarray)}
    static = {k: v for k, v in kwargs.items() if k not in arrays}
    key: tuple | None = tuple(sorted(static.items()))
    try:
        hash(key)
    except TypeError:
        key = None
    return arrays, static, key
