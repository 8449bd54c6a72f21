"""The functions host speaks the OpenFaaS gateway API, so the scheduler cannot tell it from faasd."""

from __future__ import annotations

import json
import queue
import threading
import time
import types
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from embedded.stack import Stack
from host.server import template
from tests.conftest import jpeg


@pytest.fixture
def gateway(running_stack: Stack) -> httpx.Client:
    s = running_stack.settings
    return httpx.Client(base_url=s.url(s.gateway_port), timeout=60)


@pytest.fixture
def auth(running_stack: Stack) -> tuple[str, str]:
    return ("admin", running_stack.secrets.gateway_password)


def test_healthz_needs_no_auth(gateway: httpx.Client) -> None:
    assert gateway.get("/healthz").status_code == 200


def test_system_functions_needs_basic_auth_and_lists_every_function(
    gateway: httpx.Client, auth: tuple[str, str]
) -> None:
    assert gateway.get("/system/functions").status_code == 401
    assert gateway.get("/system/functions", auth=("admin", "wrong")).status_code == 401
    listing = gateway.get("/system/functions", auth=auth).json()
    names = {entry["name"] for entry in listing}
    assert names == {"probe", "thumbnail", "extract", "pose", "ocr", "nsfw", "faces", "clip", "transcribe"}
    for entry in listing:
        assert entry["replicas"] == 1 and entry["image"].endswith(f"/{entry['name']}:latest")
        assert entry["annotations"]["medialens.ready"] in ("true", "false")


def test_a_function_call_and_an_unknown_function(
    gateway: httpx.Client, source_url: Callable[..., str]
) -> None:
    reply = gateway.post("/function/probe", json={"source": {"url": source_url(jpeg())}})
    assert reply.status_code == 200
    assert reply.json()["media_type"] == "image"
    assert float(reply.headers["X-Duration-Seconds"]) > 0
    assert gateway.post("/function/nosuch", json={}).status_code == 404


@pytest.fixture
def callbacks() -> Iterator[tuple[str, queue.Queue[tuple[dict[str, str], bytes]]]]:
    """A local server that records what the gateway posts to an X-Callback-Url."""
    received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            received.put((dict(self.headers), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/done", received
    server.shutdown()


def test_async_function_answers_202_and_calls_back_with_openfaas_headers(
    gateway: httpx.Client, source_url: Callable[..., str],
    callbacks: tuple[str, queue.Queue[tuple[dict[str, str], bytes]]],
) -> None:
    url, received = callbacks
    reply = gateway.post(
        "/async-function/probe", json={"source": {"url": source_url(jpeg())}},
        headers={"X-Callback-Url": url, "X-Call-Id": "call-42"},
    )
    assert reply.status_code == 202
    assert reply.headers["X-Call-Id"] == "call-42"
    headers, body = received.get(timeout=60)
    assert headers["X-Call-Id"] == "call-42"
    assert headers["X-Function-Status"] == "200"
    assert headers["X-Function-Name"] == "probe"
    assert float(headers["X-Duration-Seconds"]) > 0
    assert json.loads(body)["media_type"] == "image"


def test_a_function_whose_model_is_loading_answers_not_ready() -> None:
    """Readiness means "model loaded": until then a call gets 503 with Retry-After, never 500."""
    loaded = threading.Event()
    handler = types.ModuleType("slow_handler")
    handler.load = lambda: loaded.wait(30)  # type: ignore[attr-defined]
    handler.handle = lambda event, context: {"statusCode": 200, "body": {"ok": True}}  # type: ignore[attr-defined]
    client = template.create_app(handler).test_client()
    assert client.get("/_/ready").status_code == 503
    loading = client.post("/", json={})
    assert loading.status_code == 503 and loading.headers["Retry-After"] == "1"
    loaded.set()
    for _ in range(100):
        if client.get("/_/ready").status_code == 200:
            break
        time.sleep(0.05)
    assert client.post("/", json={}).get_json() == {"ok": True}


def test_a_function_that_cannot_start_is_reported_not_fatal() -> None:
    from functions.catalog import PROJECT, FunctionSpec
    from host.server import Served

    spec = FunctionSpec("broken", "python3-http-debian", PROJECT / "functions" / "no_such_function", "img/broken:1",
                        {}, {}, {}, {"memory": "64Mi"})
    broken = Served(spec)
    assert broken.readiness.wait(30)
    assert broken.handler is None and "No module named" in (broken.readiness.error or "")
    described = broken.describe()
    assert described["availableReplicas"] == 0
    assert described["annotations"]["medialens.ready"] == "false"
    assert "No module named" in described["annotations"]["medialens.error"]
