"""Waiting in tests for what happens elsewhere: a condition asked again until it holds or its time is up."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
ASKED_EVERY_S = 0.2


def wait_until(check: Callable[[], T | None], within_s: float, what: str | Callable[[], str] | None = None, *,
               through: tuple[type[Exception], ...] = ()) -> T:
    """Asks ``check`` until it answers something true, and returns that answer.

    After ``within_s`` the test fails saying ``what`` it waited for: a callable says it as things stood
    then (logs, states), and none says the check's docstring. An error of a type in ``through`` counts as
    a no: a component away a moment is asked again.
    """
    deadline = time.monotonic() + within_s
    while True:
        try:
            answer = check()
            if answer:
                return answer
        except through:
            pass
        if time.monotonic() >= deadline:
            said = what() if callable(what) else what or check.__doc__ or repr(check)
            raise AssertionError(f"not within {within_s:g} s: {said}")
        time.sleep(ASKED_EVERY_S)
