"""How many calls run at once in the one host process.

Four RQ workers call the host at once, so on two cores four calls shared two cores: each ran slower, and the
cores went to switching between them and refilling their caches. With turns held to the cores the host may use
(each call runs `MEDIALENS_FN_THREADS` threads), the image pipeline did about 9 % more images per hour on two
cores, at 4-6 % less CPU per image (issue 17). A turn covers the whole call, its input's fetch and its
output's write included (milliseconds against the store beside it). A function that stack.yml labels
`medialens.batches` is the exception (functions/common/batching.py): its call takes a turn only to run a batch,
so its fetch, and its wait for a batch another call runs for it, hold none.

Turns are for short calls. A function whose calls may run for minutes (stack.yml's exec_timeout past
`longest_turn_s`: a recording's extract, transcribe and summarize) takes none and runs beside the others, as
every call did before: holding a core's turn for minutes would make each short call wait. A short call waits at
most `wait_s` for its turn, then runs beside the others all the same, and is counted
(medialens_function_calls_without_turn_total).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from functions.common import turns

from . import metrics


class Slots:
    """At most ``count`` short calls hold a turn at once; one waits at most ``wait_s`` for it."""

    def __init__(self, count: int, wait_s: float, longest_turn_s: float) -> None:
        self.wait_s = wait_s
        self.longest_turn_s = longest_turn_s
        self._free = threading.BoundedSemaphore(count)

    @contextmanager
    def turn(self, function: str, timeout_s: float, at_once: bool = True) -> Iterator[None]:
        """A turn for a call of ``function`` that may run ``timeout_s``, given back when the block ends: taken as
        the block starts when ``at_once``, else by the call itself when it computes; the call may give it back and
        take it again inside (functions/common/turns.py)."""
        if timeout_s > self.longest_turn_s:
            yield
            return
        held = Held(self, function)
        if at_once:
            held.take()
        token = turns.current.set(held)
        try:
            yield
        finally:
            turns.current.reset(token)
            held.release()


class Held:
    """One call's turn, as functions/common/turns.py gives it back and takes it again."""

    def __init__(self, slots: Slots, function: str) -> None:
        self.slots = slots
        self.function = function
        self.held = False

    def take(self) -> None:
        if self.held:
            return
        self.held = self.slots._free.acquire(timeout=self.slots.wait_s)
        if not self.held:
            metrics.WITHOUT_TURN.labels(self.function).inc()

    def release(self) -> None:
        if self.held:
            self.held = False
            self.slots._free.release()
