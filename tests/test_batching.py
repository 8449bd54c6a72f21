"""Calls of one model that overlap run as one batch (functions/common/batching.py): each call gets its own
output, a batch that fails fails only the item at fault, and a call waiting for a batch gives its host turn
back (host/slots.py) so that another function's call runs meanwhile."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from functions.common import turns
from functions.common.batching import Batches
from host.slots import Held, Slots


class Doubler:
    """Doubles numbers, batch by batch, recording each batch; the first batch waits until ``go`` is set, so
    that the calls made meanwhile line up behind it. A negative number is a bad input: its batch raises."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.started = threading.Event()
        self.go = threading.Event()

    def __call__(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        self.started.set()
        assert self.go.wait(30)
        if any(item < 0 for item in items):
            raise ValueError(f"cannot double {min(items)}")
        return [2 * item for item in items]


def lined_up(batches: Batches[int, int], doubler: Doubler, pool: ThreadPoolExecutor, items: list[int]
             ) -> list[Future[int]]:
    """Calls for ``items``, the first leading a batch that waits, the rest in line behind it."""
    first = pool.submit(batches, items[0])
    assert doubler.started.wait(30)
    calls = [first]
    for item in items[1:]:  # one by one, so that they line up in this order
        calls.append(pool.submit(batches, item))
        assert wait_for(lambda: len(batches.line) == len(calls) - 1)
    return calls


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(8) as executor:
        yield executor


def test_calls_that_wait_run_together_and_each_gets_its_own_output(pool: ThreadPoolExecutor) -> None:
    doubler = Doubler()
    batches = Batches(doubler, size=4)
    calls = lined_up(batches, doubler, pool, [1, 2, 3, 4])
    doubler.go.set()
    assert [call.result(30) for call in calls] == [2, 4, 6, 8]
    assert doubler.batches == [[1], [2, 3, 4]], "the first call runs at once, alone; the rest wait and run together"
    assert batches.running == 0 and not batches.line, "no batch runs and no call waits once all are answered"


def test_a_batch_holds_at_most_its_size_and_the_rest_runs_next(pool: ThreadPoolExecutor) -> None:
    doubler = Doubler()
    batches = Batches(doubler, size=2)
    calls = lined_up(batches, doubler, pool, [1, 2, 3, 4, 5])
    doubler.go.set()
    assert [call.result(30) for call in calls] == [2, 4, 6, 8, 10]
    assert doubler.batches == [[1], [2, 3], [4, 5]]


@pytest.mark.parametrize(("size", "after_second", "after_third", "every_batch"), [
    (4, ([[1]], 1), ([[1], [2, 3]], 0), [[1], [2, 3]]),
    (1, ([[1], [2]], 0), ([[1], [2]], 1), [[1], [2], [3]]),
], ids=["a batch of two starts once two wait", "batches of one start at once"])
def test_a_second_batch_starts_beside_the_first_once_a_batch_waits(
    pool: ThreadPoolExecutor, size: int, after_second: tuple[list[list[int]], int],
    after_third: tuple[list[list[int]], int], every_batch: list[list[int]],
) -> None:
    """One call alone waits rather than start a batch of one beside another, which saves nothing; once as many
    wait as make a batch (two, or a batch's size if smaller), they start one; each call is in the batch it starts."""
    doubler = Doubler()
    batches = Batches(doubler, size=size, parallel=2)
    calls = [pool.submit(batches, 1)]
    assert doubler.started.wait(30)
    for item, (started, waiting) in ((2, after_second), (3, after_third)):
        calls.append(pool.submit(batches, item))
        assert wait_for(lambda: len(batches.line) + sum(map(len, doubler.batches)) == len(calls))
        assert (doubler.batches, len(batches.line)) == (started, waiting)
    doubler.go.set()
    assert [call.result(30) for call in calls] == [2, 4, 6]
    assert doubler.batches == every_batch and batches.running == 0 and not batches.line


def test_a_bad_item_fails_alone_and_its_batch_mates_get_their_outputs(pool: ThreadPoolExecutor) -> None:
    doubler = Doubler()
    batches = Batches(doubler, size=4)
    calls = lined_up(batches, doubler, pool, [1, 2, -3, 4])
    doubler.go.set()
    assert [calls[i].result(30) for i in (0, 1, 3)] == [2, 4, 8]
    with pytest.raises(ValueError, match="cannot double -3"):
        calls[2].result(30)
    assert doubler.batches == [[1], [2, -3, 4], [2], [-3], [4]], "the failed batch ran again one item at a time"


def test_a_batched_call_lines_up_without_a_turn_and_takes_one_to_lead(pool: ThreadPoolExecutor) -> None:
    """As the functions host calls a function stack.yml labels `medialens.batches`: no turn as the call comes in."""
    slots = Slots(1, wait_s=30, longest_turn_s=60)
    doubler = Doubler()
    batches = Batches(doubler, size=4)

    def caption(item: int) -> tuple[int, bool]:
        with slots.turn("caption", 60, at_once=False):
            return batches(item), held()

    calls = [pool.submit(caption, 1)]
    assert doubler.started.wait(30)
    calls.append(pool.submit(caption, 2))
    assert wait_for(lambda: bool(batches.line)), "the second call lines up while the first holds the only turn"
    doubler.go.set()
    assert [call.result(30) for call in calls] == [(2, True), (4, True)], "each call led its batch with a turn"
    assert doubler.batches == [[1], [2]]
    with slots.turn("probe", 1):
        assert held(), "every call gave back the turn it took"


def test_a_call_that_came_with_a_turn_gives_it_back_while_it_waits(pool: ThreadPoolExecutor) -> None:
    # No call waits for a turn: one that finds none free runs without (and is counted), so `held` says
    # whether a turn was free when the call came.
    slots = Slots(2, wait_s=0, longest_turn_s=60)
    doubler = Doubler()
    batches = Batches(doubler, size=4)

    def caption(item: int) -> int:
        with slots.turn("caption", 60):
            return batches(item)

    calls = [pool.submit(caption, 1)]
    assert doubler.started.wait(30)
    calls.append(pool.submit(caption, 2))
    assert wait_for(lambda: bool(batches.line))
    with slots.turn("ocr", 60):
        assert held(), "the caption call waiting in line gave its turn back"
    doubler.go.set()
    assert [call.result(30) for call in calls] == [2, 4]


def wait_for(condition: Callable[[], bool], timeout_s: float = 30) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def held() -> bool:
    turn = turns.current.get()
    return isinstance(turn, Held) and turn.held
