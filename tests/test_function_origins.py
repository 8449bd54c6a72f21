"""Functions fetch from and write to the configured store alone, and their errors do not map the network."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from bench.media import store_for_functions
from embedded.settings import free_port
from embedded.stack import Stack
from storage.client import Store
from tests.conftest import jpeg

Call = Callable[[str, dict[str, Any] | bytes], tuple[int, dict[str, Any]]]


@pytest.fixture
def untouched() -> Iterator[tuple[str, Callable[[], bool]]]:
    """A loopback port that listens; the check says whether anything connected to it."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)

        def contacted() -> bool:
            try:
                listener.accept()[0].close()
            except BlockingIOError:
                return False
            return True

        yield f"http://127.0.0.1:{listener.getsockname()[1]}", contacted


def test_an_input_on_another_port_is_refused_without_contacting_it(
    call_function: Call, function_store: str, untouched: tuple[str, Callable[[], bool]]
) -> None:
    url, contacted = untouched
    status, body = call_function("probe", {"source": {"url": f"{url}/uploads/secret.jpg"}})
    assert status == 422 and "MEDIALENS_FN_ALLOWED_ORIGINS" in body["error"]
    assert not contacted()


def test_an_artefact_is_not_written_to_a_foreign_host(
    call_function: Call, source_url: Callable[..., str], untouched: tuple[str, Callable[[], bool]]
) -> None:
    url, contacted = untouched
    status, body = call_function(
        "thumbnail", {"source": {"url": source_url(jpeg())}, "outputs": {"thumbnail": f"{url}/x"}}
    )
    assert status == 422 and "output URL" in body["error"]
    assert not contacted()


def test_the_filer_cannot_be_read_through_the_stack_and_ports_look_alike(
    running_stack: Stack, store: Store
) -> None:
    """The filer serves every object without S3 credentials; a function must not fetch it for a caller,
    and the answer for the filer's open port is the answer for a closed one."""
    s = running_stack.settings
    key = f"test-inputs/{uuid.uuid4().hex}.jpg"
    store.put_bytes(store.settings.artefacts_bucket, key, jpeg(), "image/jpeg")
    gateway = httpx.Client(base_url=s.url(s.gateway_port), timeout=60,
                           headers={"Authorization": f"Bearer {running_stack.gateway_token}"})
    answers = []
    for port in (s.filer_port, free_port()):
        url = f"http://{s.host}:{port}/buckets/{store.settings.artefacts_bucket}/{key}"
        reply = gateway.post("/function/probe", json={"source": {"url": url}})
        answers.append((reply.status_code, reply.json()))
    assert answers[0] == answers[1] and answers[0][0] == 422


@pytest.fixture
def hangs_up() -> Iterator[str]:
    """A port that accepts connections and closes them at once: open, but no store."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        stop = threading.Event()

        def serve() -> None:
            listener.settimeout(0.1)
            while not stop.is_set():
                try:
                    listener.accept()[0].close()
                except TimeoutError:
                    pass

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
        stop.set()
        thread.join(5)


def test_an_allowed_store_that_fails_says_only_that_it_could_not_be_reached(
    call_function: Call, function_store: str, hangs_up: str
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    answers = []
    with store_for_functions(f"{closed},{hangs_up}"):
        for origin in (closed, hangs_up):
            answers.append(call_function("probe", {"source": {"url": f"{origin}/uploads/a.jpg"}}))
    assert answers[0] == answers[1] == (503, {"error": "fetching the input failed: the store could not be reached"})


def test_a_redirect_from_the_store_is_not_followed(
    call_function: Call, function_store: str, untouched: tuple[str, Callable[[], bool]]
) -> None:
    target, contacted = untouched

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", f"{target}/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        store = f"http://127.0.0.1:{server.server_address[1]}"
        with store_for_functions(store):
            status, body = call_function("probe", {"source": {"url": f"{store}/a.jpg"}})
    finally:
        server.shutdown()
        server.server_close()
    assert status == 502 and "HTTP 302" in body["error"]
    assert not contacted()
