"""The time source of the GPU parts: real time, or a simulated one that tests and the benchmark drive."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Now = Callable[[], float]

_source: Now = time.time


def now() -> float:
    return _source()


@contextmanager
def simulated(source: Now) -> Iterator[None]:
    """Every part that reads `now()` (routing, node load, the manager) sees `source` meanwhile."""
    global _source
    previous, _source = _source, source
    try:
        yield
    finally:
        _source = previous


class ManualClock:
    """A clock that moves only when told: for tests and the simulated benchmark."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01 00:00 UTC
        self.time = start

    def __call__(self) -> float:
        return self.time

    def advance(self, seconds: float) -> float:
        self.time += seconds
        return self.time
