"""Calls of one model that arrive while it is busy run together, as one batch.

A BLIP caption costs about a third less CPU per picture in a batch of two, and half in a batch of four, than
one at a time (bfloat16, one thread, `make bench`: 1,347 and 940 ms against 1,995): a decoding step reads every
weight once, however many pictures it decodes. The functions host runs one call per upload, four at once, so
calls of the same model overlap all the time.

No call waits to make a batch: one that finds no batch running runs at once, alone. One that comes while a batch
runs waits in line, without a host turn, so that another function's call runs on that core meanwhile
(functions/common/turns.py). A batch that ends hands the next, up to ``size`` calls from the front of the line,
to the first of them; and once two calls wait while fewer than ``parallel`` batches run, they start one beside
the others. The call that leads a batch takes a turn to run it; the functions host gives a batched function's
call none as it comes in (stack.yml's `medialens.batches`), so that calls reach the line rather than wait for a
turn while the batches run. A batch that fails runs again one item at a time, so that only the item at fault
fails: another caller's picture never fails for it.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from . import turns

logger = logging.getLogger(__name__)

# A batch starts beside those running only once this many calls wait for one: batches of one beside each other
# were what two at once mostly ran, which saved little (issue 17).
BESIDE = 2

Item = TypeVar("Item")
Output = TypeVar("Output")


class Waiting(Generic[Item, Output]):
    """One call's item, in line until a batch gives it an output or an error, or hands its call a batch to lead."""

    def __init__(self, item: Item) -> None:
        self.item = item
        self.woken = threading.Event()
        self.batch: list[Waiting[Item, Output]] | None = None  # the batch this call leads, when handed one
        self.output: Output | None = None
        self.error: BaseException | None = None
        self.finished = False

    def outcome(self) -> Output:
        if self.error is not None:
            raise self.error
        assert self.finished
        return self.output  # type: ignore[return-value]


class Batches(Generic[Item, Output]):
    """Runs ``run`` on up to ``size`` items at once, at most ``parallel`` batches at a time."""

    def __init__(self, run: Callable[[Sequence[Item]], Sequence[Output]], size: int, parallel: int = 1) -> None:
        self.run = run
        self.size = max(1, size)
        self.parallel = max(1, parallel)
        self.lock = threading.Lock()
        # A batch that ends hands the next in line out at once; the line holds calls only while a batch runs.
        self.line: deque[Waiting[Item, Output]] = deque()
        self.running = 0

    def __call__(self, item: Item) -> Output:
        """The output for ``item``, computed in a batch with whatever other calls wait beside it."""
        waiting: Waiting[Item, Output] = Waiting(item)
        with self.lock:
            self.line.append(waiting)
            # While fewer than `parallel` run, the line holds less than a batch: the caller is in the batch it takes.
            starts = self.running == 0 or (self.running < self.parallel and len(self.line) >= min(BESIDE, self.size))
            batch = self.take_batch() if starts else None
            if batch is not None:
                self.running += 1
        if batch is None:
            turns.release()
            waiting.woken.wait()
            if waiting.batch is None:
                return waiting.outcome()
            batch = waiting.batch
        self.lead(batch)
        return waiting.outcome()

    def take_batch(self) -> list[Waiting[Item, Output]]:
        """The next batch from the front of the line (under the lock)."""
        return [self.line.popleft() for _ in range(min(self.size, len(self.line)))]

    def lead(self, batch: list[Waiting[Item, Output]]) -> None:
        """Runs ``batch`` on a turn of the caller's, then hands the next batch in line to the first call in it."""
        try:
            turns.take()
            self.compute(batch)
        finally:
            for waiting in batch:
                if not waiting.finished and waiting.error is None:  # the leader was interrupted (BaseException)
                    waiting.error = RuntimeError("the batch this call was in was interrupted")
                waiting.woken.set()
            with self.lock:
                if self.line:
                    following = self.take_batch()
                    following[0].batch = following
                    following[0].woken.set()
                else:
                    self.running -= 1

    def compute(self, batch: list[Waiting[Item, Output]]) -> None:
        try:
            outputs = self.run([waiting.item for waiting in batch])
            if len(outputs) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} gave {len(outputs)} outputs")
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
                return
            logger.warning("a batch of %d failed (%s); running each alone", len(batch), exc)
            for waiting in batch:
                self.compute([waiting])
            return
        for waiting, output in zip(batch, outputs, strict=True):
            waiting.output, waiting.finished = output, True
