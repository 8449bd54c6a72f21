"""The functions host speaks the OpenFaaS gateway API, so the scheduler cannot tell it from faasd."""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from flask import Response

from embedded.settings import free_port
from embedded.stack import PROJECT, Stack
from host.server import HostSettings, create_app, template
from tests.conftest import jpeg

TOKEN = "host-test-token"


@pytest.fixture
def gateway(running_stack: Stack) -> httpx.Client:
    """A caller of the stack's gateway with its token, as the scheduler calls it."""
    s = running_stack.settings
    return httpx.Client(base_url=s.url(s.gateway_port), timeout=60,
                        headers={"Authorization": f"Bearer {running_stack.gateway_token}"})


@pytest.fixture
def anonymous(running_stack: Stack) -> httpx.Client:
    s = running_stack.settings
    return httpx.Client(base_url=s.url(s.gateway_port), timeout=60)


@pytest.fixture
def auth(running_stack: Stack) -> tuple[str, str]:
    return ("admin", running_stack.secrets.gateway_password)


def test_healthz_needs_no_auth(anonymous: httpx.Client) -> None:
    assert anonymous.get("/healthz").status_code == 200


def test_the_stack_gateway_refuses_function_calls_without_its_token(
    anonymous: httpx.Client, source_url: Callable[..., str]
) -> None:
    body = {"source": {"url": source_url(jpeg())}}
    for path in ("/function/probe", "/async-function/probe"):
        assert anonymous.post(path, json=body).status_code == 401
        assert anonymous.post(path, json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_a_host_without_a_token_refuses_to_start() -> None:
    env = {**os.environ, "MEDIALENS_HOST_TOKEN": "", "MEDIALENS_HOST_PORT": str(free_port()),
           "MEDIALENS_HOST_FUNCTIONS": "probe", "PYTHONPATH": str(PROJECT)}
    done = subprocess.run([sys.executable, "-m", "host"], cwd=PROJECT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0 and "MEDIALENS_HOST_TOKEN is empty" in done.stderr


def test_system_functions_needs_basic_auth_and_lists_every_function(
    anonymous: httpx.Client, auth: tuple[str, str]
) -> None:
    assert anonymous.get("/system/functions").status_code == 401
    assert anonymous.get("/system/functions", auth=("admin", "wrong")).status_code == 401
    listing = anonymous.get("/system/functions", auth=auth).json()
    names = {entry["name"] for entry in listing}
    assert names == {"probe", "thumbnail", "extract", "pose", "ocr", "nsfw", "faces", "clip", "transcribe", "caption",
                     "summarize", "embed"}
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


@pytest.fixture
def host(callbacks: tuple[str, queue.Queue[tuple[dict[str, str], bytes]]]) -> Any:
    """A host serving probe in this process, whose callbacks may go to the recording server."""
    url, _ = callbacks
    app = create_app(HostSettings(functions="probe", token=TOKEN, async_workers=1, async_pending=1,
                                  callback_origins=url))
    assert app.config["served"]["probe"].readiness.wait(60)
    return app


def call_async(host: Any, body: dict[str, Any], **headers: str) -> Any:
    return host.test_client().post("/async-function/probe", json=body,
                                   headers={"Authorization": f"Bearer {TOKEN}", **headers})


def test_async_function_answers_202_and_calls_back_with_openfaas_headers(
    host: Any, source_url: Callable[..., str],
    callbacks: tuple[str, queue.Queue[tuple[dict[str, str], bytes]]],
) -> None:
    url, received = callbacks
    reply = call_async(host, {"source": {"url": source_url(jpeg())}}, **{"X-Callback-Url": url,
                                                                       "X-Call-Id": "call-42"})
    assert reply.status_code == 202
    assert reply.headers["X-Call-Id"] == "call-42"
    headers, body = received.get(timeout=60)
    assert headers["X-Call-Id"] == "call-42"
    assert headers["X-Function-Status"] == "200"
    assert headers["X-Function-Name"] == "probe"
    assert float(headers["X-Duration-Seconds"]) > 0
    assert json.loads(body)["media_type"] == "image"


def test_a_callback_to_a_host_not_allowed_is_refused_and_never_sent(
    host: Any, source_url: Callable[..., str]
) -> None:
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        foreign.setblocking(False)
        reply = call_async(host, {"source": {"url": source_url(jpeg())}},
                           **{"X-Callback-Url": f"http://127.0.0.1:{foreign.getsockname()[1]}/done"})
        assert reply.status_code == 422 and "callback" in reply.get_data(as_text=True)
        time.sleep(0.5)
        with pytest.raises(BlockingIOError):
            foreign.accept()


def test_a_full_async_queue_answers_429(host: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    running, release = threading.Event(), threading.Event()
    probe = host.config["served"]["probe"]

    def blocking(event: Any) -> Any:
        running.set()
        release.wait(30)
        return Response("{}", status=200)

    monkeypatch.setattr(probe, "call", blocking)
    assert call_async(host, {}).status_code == 202
    assert running.wait(10)
    full = call_async(host, {})
    assert full.status_code == 429 and full.headers["Retry-After"] == "1"
    release.set()
    for _ in range(100):  # the place frees once the running call has returned
        if (reply := call_async(host, {})).status_code == 202:
            break
        time.sleep(0.05)
    assert reply.status_code == 202


def test_a_function_whose_model_is_loading_answers_not_ready() -> None:
    """Readiness means "model loaded": until then a call gets 503 with Retry-After, never 500."""
    loaded = threading.Event()
    handler = types.ModuleType("slow_handler")
    handler.load = lambda: loaded.wait(30)  # type: ignore[attr-defined]
    handler.handle = lambda event, context: {"statusCode": 200, "body": {"ok": True}}  # type: ignore[attr-defined]
    client = template.create_app(handler, "caller-token").test_client()
    bearer = {"Authorization": "Bearer caller-token"}
    assert client.get("/_/ready").status_code == 503
    loading = client.post("/", json={}, headers=bearer)
    assert loading.status_code == 503 and loading.headers["Retry-After"] == "1"
    loaded.set()
    for _ in range(100):
        if client.get("/_/ready").status_code == 200:
            break
        time.sleep(0.05)
    assert client.post("/", json={}, headers=bearer).get_json() == {"ok": True}


def test_a_function_that_cannot_start_is_reported_not_fatal() -> None:
    from functions.catalog import PROJECT, FunctionSpec
    from host.server import Served
    from host.slots import Slots

    spec = FunctionSpec("broken", "python3-http-debian", PROJECT / "functions" / "no_such_function", "img/broken:1",
                        {}, {}, {}, {"memory": "64Mi"})
    broken = Served(spec, Slots(1, 0.0, 60.0))
    assert broken.readiness.wait(30)
    assert broken.handler is None and "No module named" in (broken.readiness.error or "")
    described = broken.describe()
    assert described["availableReplicas"] == 0
    assert described["annotations"]["medialens.ready"] == "false"
    assert "No module named" in described["annotations"]["medialens.error"]


def test_a_call_reaches_the_handler_as_the_template_presents_it(host: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Calls skip Flask's routing (issue 17): the handler still sees the template's event, sub-path and all."""
    def handle(event: Any, context: Any) -> dict[str, Any]:
        return {"statusCode": 201, "headers": {"X-Echo": "yes"},
                "body": {"body": event.body.decode(), "method": event.method, "path": event.path,
                         "query": dict(event.query), "step": event.headers.get("x-medialens-step")}}

    probe = host.config["served"]["probe"]
    monkeypatch.setattr(probe, "handler", types.SimpleNamespace(handle=handle))
    client = host.test_client()
    bearer = {"Authorization": f"Bearer {TOKEN}", "X-Medialens-Step": "probe@1"}
    reply = client.put("/function/probe/some/path?page=2", data=b"payload", headers=bearer)
    assert reply.status_code == 201 and reply.headers["X-Echo"] == "yes"
    assert float(reply.headers["X-Duration-Seconds"]) > 0 and reply.headers["X-Served-By"] == "cpu"
    assert reply.get_json() == {"body": "payload", "method": "PUT", "path": "/function/probe/some/path",
                                "query": {"page": "2"}, "step": "probe@1"}
    assert client.head("/function/probe", headers=bearer).status_code == 201
    assert client.options("/function/probe", headers=bearer).status_code == 405
    assert client.put("/function/probe/some/path", data=b"x").status_code == 401
    assert client.post("/function/", headers=bearer).status_code == 404
    loaded = threading.Event()
    monkeypatch.setattr(probe, "readiness", template.Readiness(lambda: loaded.wait(30)))
    loading = client.post("/function/probe", headers=bearer)
    assert loading.status_code == 503 and loading.headers["Retry-After"] == "1"
    loaded.set()


def test_calls_take_turns_on_the_cores_and_wait_for_one_only_so_long(monkeypatch: pytest.MonkeyPatch) -> None:
    """One turn: a second call starts when the first ends; once the wait is short, a call runs beside a long one
    and is counted."""
    from host.metrics import REGISTRY

    app = create_app(HostSettings(functions="probe", token=TOKEN, slots=1, slot_wait_s=60))
    probe = app.config["served"]["probe"]
    assert probe.readiness.wait(60)
    entered: queue.Queue[bytes] = queue.Queue()
    release = threading.Event()

    def handle(event: Any, context: Any) -> dict[str, Any]:
        entered.put(event.body)
        release.wait(60)
        return {"statusCode": 200, "body": {}}

    monkeypatch.setattr(probe, "handler", types.SimpleNamespace(handle=handle))
    replies: queue.Queue[int] = queue.Queue()
    calls: list[threading.Thread] = []

    def call(body: bytes) -> None:
        def run() -> None:
            bearer = {"Authorization": f"Bearer {TOKEN}"}
            replies.put(app.test_client().post("/function/probe", data=body, headers=bearer).status_code)

        calls.append(threading.Thread(target=run))
        calls[-1].start()

    def without_turn() -> float:
        return REGISTRY.get_sample_value("medialens_function_calls_without_turn_total", {"function": "probe"}) or 0

    try:
        call(b"first")
        assert entered.get(timeout=30) == b"first"
        call(b"second")
        with pytest.raises(queue.Empty):
            entered.get(timeout=1.5)  # the second waits for the first's turn
        release.set()
        assert entered.get(timeout=30) == b"second"
        for thread in calls:
            thread.join(30)
        release.clear()
        app.config["slots"].wait_s = 0.5
        counted = without_turn()
        call(b"long")
        assert entered.get(timeout=30) == b"long"
        call(b"short")
        assert entered.get(timeout=30) == b"short" and not release.is_set(), "a call waited past its wait"
        assert without_turn() == counted + 1
    finally:
        release.set()
        for thread in calls:
            thread.join(30)
    assert [replies.get(timeout=1) for _ in range(4)] == [200] * 4


def test_a_call_that_may_run_for_minutes_takes_no_turn() -> None:
    from host.slots import Slots

    slots = Slots(1, wait_s=60, longest_turn_s=60)
    entered = threading.Event()

    def recording_chunk() -> None:
        with slots.turn("transcribe", 120):
            entered.set()

    with slots.turn("probe", 30):
        beside = threading.Thread(target=recording_chunk)
        beside.start()
        assert entered.wait(30), "a long call waited for a short one's turn"
    beside.join(30)
