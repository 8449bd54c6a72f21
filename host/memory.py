"""A memory bound per call in the one host process, enforced by the kernel (RLIMIT_DATA).

A process per function would cost 2.5 times the memory of one process serving them all (measured:
1.94 GB against 0.79 GB PSS for the nine functions), so the host stays one process and bounds its
calls instead: while calls run, the process may hold what it held idle plus each running call's
`limits.memory` from stack.yml. An allocation past that fails inside the call that makes it
(MemoryError, or the engine's own allocation error), which answers with a plain reason, and the host
lives on. The bound is on the process, not per thread: a call beside a runaway one may see its
allocation refused too; it answers 500 like the runaway one, and the scheduler tries it again. A call counts from
its start, also while it waits in line for a batch that another call runs (functions/common/batching.py): the
bound is then looser by that call's limit.
"""

from __future__ import annotations

import logging
import os
import resource
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)

MIB = 1024**2
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
# Room beside the calls' limits: thread stacks of the async pool, the server's buffers.
SLACK_BYTES = 256 * MIB


def data_size(statm: int) -> int:
    """What RLIMIT_DATA counts now, the process's private writable memory (VmData), in bytes, and the
    main thread's stack (VmStk: 132 KiB here, 8 MiB at most), which is beside the point of a bound.
    ``statm``: a descriptor open on /proc/self/statm, seven numbers in under 128 bytes however large the process."""
    # Read on every call that finds the host idle: /proc/self/statm is one line, where /proc/self/status
    # (VmData alone) is fifty the kernel must write out first, at 1.7 times the cost. Reading the open file
    # again from its start costs a seventh of opening, reading and closing it on each call (issue 17).
    return int(os.pread(statm, 128, 0).split()[5]) * PAGE_BYTES


def set_data_limit(limit: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY and (limit == resource.RLIM_INFINITY or limit > hard):
        limit = hard
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


class MemoryBound:
    """Counts the calls in flight and keeps the process's data limit at idle size plus their limits.

    No bound holds until `loaded()` is true: models load beside the first calls after a start, and
    a model's load must never be refused."""

    def __init__(self, loaded: Callable[[], bool], slack: int = SLACK_BYTES) -> None:
        self.loaded = loaded
        self.slack = slack
        self.lock = threading.Lock()
        self.in_flight: dict[int, int] = {}
        self.idle_size: int | None = None
        self.limit: int | None = None
        # /proc/self is resolved when opened: a child forked later would read this process's figures, not its own.
        self.statm = os.open("/proc/self/statm", os.O_RDONLY)

    @contextmanager
    def call(self, limit: int) -> Iterator[None]:
        """Lets one call of a function whose stack.yml limit is ``limit`` bytes run under the bound."""
        token = object()
        with self.lock:
            if not self.in_flight:
                # Measured with no call running: what earlier calls left behind (a grown heap) is idle size.
                self.idle_size = data_size(self.statm)
            self.in_flight[id(token)] = limit
            self._apply()
        try:
            yield
        finally:
            with self.lock:
                del self.in_flight[id(token)]
                self._apply()

    def _apply(self) -> None:
        limit = None
        if self.in_flight and self.idle_size is not None and self.loaded():
            limit = self.idle_size + self.slack + sum(self.in_flight.values())
        if limit != self.limit:
            set_data_limit(resource.RLIM_INFINITY if limit is None else limit)
            self.limit = limit
