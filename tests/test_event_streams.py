"""Live-progress streams share the web app's server threads with everything else: open pages never starve them."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Generator, Iterator
from contextlib import ExitStack
from typing import cast

import httpx
import pytest
from flask import Flask, Response, request
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError

from embedded.stack import Stack
from tests.served_support import serving_in_thread
from tests.ui_support import UNTHROTTLED, app_on
from ui.settings import UiSettings

THREADS, STREAMS = 4, 2


@pytest.fixture
def few_threads(running_stack: Stack, api_key: str) -> Iterator[tuple[Flask, httpx.Client]]:
    """The web app served with few threads, so that open streams could take them all, and a client of its API."""
    with app_on(running_stack, threads=THREADS, event_streams=STREAMS, **UNTHROTTLED) as app, \
            serving_in_thread(app) as url:
        yield app, httpx.Client(base_url=url, headers={"Authorization": f"Bearer {api_key}"}, timeout=20)


def first_lines(streams: ExitStack, client: httpx.Client) -> str:
    """Opens the event stream and returns its first message, leaving the stream open until ``streams`` closes."""
    reply = streams.enter_context(client.stream("GET", "/events"))
    assert reply.status_code == 200
    chunks = cast(Generator[str, None, None], reply.iter_text())
    # Kept until ``streams`` closes: a reader dropped halfway closes its connection.
    streams.callback(chunks.close)
    return next(chunks)


def test_pages_and_the_api_are_answered_while_every_stream_is_taken(few_threads: tuple[Flask, httpx.Client]) -> None:
    # More pages open than the server has threads: the old server answered nothing more until one was closed.
    _, client = few_threads
    with ExitStack() as streams:
        for _ in range(STREAMS):
            assert "event: ready" in first_lines(streams, client), "a live stream"
        for _ in range(THREADS):
            refused = client.get("/events")
            assert refused.status_code == 200, "an EventSource gives up for good on an error status"
            assert refused.text.startswith("retry: 15000") and "busy" in refused.text, "told to come back later"
            assert "ready" not in refused.text, "the page does not say it is live"
        assert client.get("/healthz").status_code == 200
        assert client.get("/login").status_code == 200
        assert client.get("/api/v1/uploads").status_code == 200


def test_pages_and_streams_are_answered_while_the_process_holds_over_1024_files(
    few_threads: tuple[Flask, httpx.Client]
) -> None:
    # select() cannot watch a descriptor numbered 1,024 or more: the server's loop died on the first such
    # connection, and nothing was answered after it.
    _, client = few_threads
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1200
    if soft < wanted:
        assert hard == resource.RLIM_INFINITY or hard >= wanted, f"the hard limit on open files is {hard}"
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        assert max(held) > 1024
        with ExitStack() as streams:
            assert "event: ready" in first_lines(streams, client)
            assert client.get("/healthz").status_code == 200
            assert client.get("/api/v1/uploads").status_code == 200
    finally:
        for descriptor in held:
            os.close(descriptor)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_closed_page_gives_its_stream_back(few_threads: tuple[Flask, httpx.Client]) -> None:
    _, client = few_threads
    with ExitStack() as kept:
        first_lines(kept, client)
        with ExitStack() as closed:
            first_lines(closed, client)
        deadline, opened = time.monotonic() + 60, ""
        # The server notices when its keepalive writes fail, the second or third after the close.
        while "event: ready" not in opened and time.monotonic() < deadline:
            with ExitStack() as again:
                opened = first_lines(again, client)
            time.sleep(0.2)
        assert "event: ready" in opened, f"the closed page's stream was never given back: {opened!r}"


def test_a_stream_that_fails_on_its_way_out_keeps_no_slot(few_threads: tuple[Flask, httpx.Client]) -> None:
    app, client = few_threads
    failing = True

    @app.after_request
    def redis_blip(response: Response) -> Response:  # as a session save or a limiter would, on a Redis failover
        if failing and request.path == "/events":
            raise RedisConnectionError("Redis went away")
        return response

    assert [client.get("/events").status_code for _ in range(STREAMS + 1)] == [500] * (STREAMS + 1)
    failing = False
    with ExitStack() as streams:
        for _ in range(STREAMS):
            assert "event: ready" in first_lines(streams, client), "every stream is free again"


def test_streams_must_leave_threads_for_pages() -> None:
    assert UiSettings(threads=8).event_streams == 4, "half the threads unless set"
    with pytest.raises(ValidationError, match="MEDIALENS_UI_EVENT_STREAMS"):
        UiSettings(threads=8, event_streams=8)
