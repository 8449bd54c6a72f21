"""How many calls run their inference at once in the one host process.

Four RQ workers call the host at once, so on two cores four calls shared two cores: each ran slower, and
the cores went to switching between them and refilling their caches. With a call's turn held to the cores
the host may use (each call runs `MEDIALENS_FN_THREADS` threads), the image pipeline did 6-10 % more images
per hour on two cores at 4-6 % less CPU per image (issue 17). A call waits for its turn only so long: one
behind long calls (a recording's chunks run for minutes) runs beside them after the wait, as all did before,
rather than run out its own timeout in the queue.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager


def default_count(threads_per_call: int) -> int:
    """One call per group of ``threads_per_call`` of the cores this process may run on; at least one."""
    return max(1, len(os.sched_getaffinity(0)) // max(1, threads_per_call))


class Slots:
    """At most ``count`` calls hold a turn at once; a call waits at most ``wait_s`` for one."""

    def __init__(self, count: int, wait_s: float) -> None:
        self.count = count
        self.wait_s = wait_s
        self._free = threading.BoundedSemaphore(count)

    @contextmanager
    def turn(self) -> Iterator[bool]:
        """Holds a turn for the time of the block; yields False where the wait ran out and the call runs anyway."""
        taken = self._free.acquire(timeout=self.wait_s)
        try:
            yield taken
        finally:
            if taken:
                self._free.release()
