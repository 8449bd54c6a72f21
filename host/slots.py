"""How many calls run at once in the one host process.

Four RQ workers call the host at once, so on two cores four calls shared two cores: each ran slower, and the
cores went to switching between them and refilling their caches. With turns held to the cores the host may use
(each call runs `MEDIALENS_FN_THREADS` threads), the image pipeline did about 9 % more images per hour on two
cores, at 4-6 % less CPU per image (issue 17). A turn covers the whole call, its input's fetch and its
output's write included (milliseconds against the store beside it).

Turns are for short calls. A function whose calls may run for minutes (stack.yml's exec_timeout past
`longest_turn_s`: a recording's extract, transcribe and summarize) takes none and runs beside the others, as
every call did before: holding a core's turn for minutes would make each short call wait. A short call waits at
most `wait_s` for its turn, then runs beside the others all the same, and is counted
(medialens_function_calls_without_turn_total).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from . import metrics


def default_count(threads_per_call: int) -> int:
    """One call per group of ``threads_per_call`` of the cores this process may run on (its CPU affinity, not
    a container's CPU quota); at least one."""
    return max(1, len(os.sched_getaffinity(0)) // max(1, threads_per_call))


class Slots:
    """At most ``count`` short calls hold a turn at once; one waits at most ``wait_s`` for it."""

    def __init__(self, count: int, wait_s: float, longest_turn_s: float) -> None:
        self.wait_s = wait_s
        self.longest_turn_s = longest_turn_s
        self._free = threading.BoundedSemaphore(count)

    @contextmanager
    def turn(self, function: str, timeout_s: float) -> Iterator[None]:
        """Holds a turn, for the time of the block, for a call of ``function`` that may run ``timeout_s``."""
        if timeout_s > self.longest_turn_s:
            yield
            return
        taken = self._free.acquire(timeout=self.wait_s)
        if not taken:
            metrics.WITHOUT_TURN.labels(function).inc()
        try:
            yield
        finally:
            if taken:
                self._free.release()
