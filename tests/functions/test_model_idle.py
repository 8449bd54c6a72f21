"""Models unused for `model_idle_s` are unloaded, never while a call uses them, and load again on demand."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import analyzer_fixtures
import pytest
from analyzer_media import encode, render_text

from functions.common import contract, models
from functions.ocr import engines

configure = analyzer_fixtures.configure

Call = Callable[[str, dict[str, Any] | bytes], tuple[int, dict[str, Any]]]


def read_text(call_function: Call, url: str) -> list[str]:
    status, result = call_function("ocr", {"source": {"url": url}})
    assert status == 200, result
    return [line["text"] for line in result["lines"]]


def test_an_unloaded_model_answers_the_same_after_loading_again(
    call_function: Call, source_url: Callable[..., str]
) -> None:
    url = source_url(encode(render_text(24), "PNG"), "image/png")
    before = read_text(call_function, url)
    model = engines.engine()
    assert model.loaded and before
    assert model in models.unload_idle(0)
    assert not model.loaded and not hasattr(model, "_ocr"), "the unloaded model still holds its engine"
    assert read_text(call_function, url) == before
    assert model.loaded


class Unused:
    """A call's event whose input is never fetched: the tests' analyze functions read none."""

    body = b'{"source": {"url": "http://127.0.0.1:9/unused"}}'


def quick_call() -> None:
    contract.run(Unused(), lambda request: {})


@contextmanager
def call_in_flight(inside: Callable[[], object] = lambda: None) -> Iterator[None]:
    """A function's call, running ``inside`` and then waiting in a thread of its own until the block ends."""
    started, release = threading.Event(), threading.Event()

    def analyze(request: contract.Request) -> dict[str, Any]:
        inside()
        started.set()
        release.wait(60)
        return {}

    call = threading.Thread(target=contract.run, args=(Unused(), analyze))
    call.start()
    try:
        assert started.wait(60)
        yield
    finally:
        release.set()
        call.join(60)


def test_a_model_a_call_is_using_is_not_unloaded() -> None:
    model = engines.engine()
    with call_in_flight(model.load):
        assert model not in models.unload_idle(0), "unloaded under a call in flight"
        assert model.loaded
    assert model in models.unload_idle(0), "the call ended: the model is idle"
    model.load()


def test_the_watcher_unloads_a_model_idle_for_the_set_time(
    call_function: Call, source_url: Callable[..., str], configure: Callable[..., None]
) -> None:
    configure(MEDIALENS_FN_MODEL_IDLE_S="0.5")
    read_text(call_function, source_url(encode(render_text(24), "PNG"), "image/png"))
    model = engines.engine()
    deadline = time.monotonic() + 60
    while model.loaded and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not model.loaded, "a model idle past model_idle_s stayed loaded"
    model.load()


def test_what_a_call_freed_goes_back_to_the_system_once_it_ends(
    call_function: Call, source_url: Callable[..., str], monkeypatch: pytest.MonkeyPatch,
    configure: Callable[..., None],
) -> None:
    configure(MEDIALENS_FN_MODEL_IDLE_S="0")  # no model unloads meanwhile, which trims too
    trimmed = threading.Event()
    read_text(call_function, source_url(encode(render_text(24), "PNG"), "image/png"))  # the watcher runs
    models._ended.clear()
    monkeypatch.setattr(models, "trim_heap", trimmed.set)
    assert not trimmed.wait(2.5), "trimmed with no call ended"
    read_text(call_function, source_url(encode(render_text(24), "PNG"), "image/png"))
    assert trimmed.wait(10), "the heap was not trimmed after the call ended"


def test_calls_that_keep_coming_put_the_trim_off_to_its_busy_period(
    configure: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    configure(MEDIALENS_FN_MODEL_IDLE_S="0")  # no model unloads meanwhile, which trims too
    trimmed = threading.Event()
    monkeypatch.setattr(models, "trim_heap", trimmed.set)
    monkeypatch.setattr(models, "BUSY_TRIM_S", 3600.0)
    with call_in_flight():
        models._ended.clear()
        quick_call()
        assert not trimmed.wait(2.5), "trimmed while a call ran"
    for _ in range(10):  # one worker's calls, one after the other
        quick_call()
        assert not trimmed.wait(0.3), "trimmed in the gap between two calls"
    monkeypatch.setattr(models, "BUSY_TRIM_S", 0.0)
    for _ in range(40):
        quick_call()
        if trimmed.wait(0.3):
            break
    assert trimmed.is_set(), "calls that keep coming put the trim off for ever"
    monkeypatch.setattr(models, "BUSY_TRIM_S", 3600.0)
    trimmed.clear()
    quick_call()
    assert trimmed.wait(10), "the heap was not trimmed once no call ran"
