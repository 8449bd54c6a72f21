"""A call's turn on the cores of the process that runs it: the functions host's turns (host/slots.py).

A call that waits for work another call does for it (a batch, functions/common/batching.py) gives its turn
back, if it holds one, so that a call of another function runs on that core meanwhile, and takes one before it
computes: a function stack.yml labels `medialens.batches` gets none from the host as its call comes in. Where
the host gives no turn at all (a function's own image, a call that may run for minutes) both are no-ops.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from typing import Protocol


class Turn(Protocol):
    def release(self) -> None:
        """Gives the turn back, if held."""

    def take(self) -> None:
        """Takes a turn again, waiting as a call waits for its first, unless held."""


# Set by the host around a call that holds a turn, in the thread that runs it.
current: ContextVar[Turn | None] = ContextVar("medialens_turn", default=None)


def release() -> None:
    """The calling thread's call gives its turn back: it waits, and computes nothing, until `take`."""
    turn = current.get()
    if turn is not None:
        turn.release()


def take() -> None:
    """The calling thread's call takes a turn again before it computes."""
    turn = current.get()
    if turn is not None:
        turn.take()


def per_core(threads_per_call: int) -> int:
    """One per group of ``threads_per_call`` of the cores this process may run on (its CPU affinity, not a
    container's CPU quota); at least one: the host's turns, and the batches a batched model runs at once."""
    return max(1, len(os.sched_getaffinity(0)) // max(1, threads_per_call))
