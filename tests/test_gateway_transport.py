"""The workers' HTTP transport to a gateway: kept-alive connections that survive the gateway restarting, and
failures told apart as the scheduler needs them (not reachable, no answer in time, connection broken)."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

import pytest
from waitress.server import create_server

from embedded.settings import free_port
from scheduler.gateway import Gateway
from scheduler.transport import Connections, GatewayError, TimedOut, Unreachable

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


class Function:
    """A WSGI app behind a real waitress server that answers /function/echo with what it was sent and
    counts the connections it was sent on."""

    def __init__(self) -> None:
        self.connections: set[str] = set()  # the client ports it was called from
        self.delay_s = 0.0

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Any:
        self.connections.add(environ["REMOTE_PORT"])
        time.sleep(self.delay_s)
        sent = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        if environ["PATH_INFO"] == "/function/chunked":
            start_response("200 OK", [("Content-Type", "application/json")])
            return iter([b'{"parts": [', b'"one", ', b'"two"', b"]}"])  # no length: sent chunked
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(sent)))])
        return [sent]


@contextmanager
def serving(app: Function, port: int) -> Iterator[None]:
    server = create_server(app, host="127.0.0.1", port=port, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        # Every connection closes with the server, the kept-alive ones too, as when a gateway process ends.
        for channel in list(server._map.values()):
            channel.close()
        thread.join(5)
        assert not thread.is_alive()


@pytest.fixture
def function() -> Function:
    return Function()


@pytest.fixture
def port() -> int:
    return free_port()


def echo(gateway: Gateway, value: int, timeout_s: float = 10.0) -> Any:
    reply = gateway.invoke("echo", {"value": value}, timeout_s)
    assert reply.status == 200
    return reply.body["value"]


def test_calls_share_one_kept_alive_connection(function: Function, port: int) -> None:
    gateway = Gateway("cpu", f"http://127.0.0.1:{port}")
    with serving(function, port):
        assert [echo(gateway, n) for n in range(20)] == list(range(20))
    assert len(function.connections) == 1


def test_a_call_after_the_gateway_restarted_is_answered(function: Function, port: int) -> None:
    """The restart closed the kept-alive connection the worker holds: the next call must not fail for it."""
    gateway = Gateway("cpu", f"http://127.0.0.1:{port}")
    with serving(function, port):
        assert echo(gateway, 1) == 1
    with serving(function, port):
        assert echo(gateway, 2) == 2


def test_a_reply_without_a_length_is_read_whole(function: Function, port: int) -> None:
    gateway = Gateway("cpu", f"http://127.0.0.1:{port}")
    with serving(function, port):
        assert gateway.invoke("chunked", {}, 10).body == {"parts": ["one", "two"]}
        assert echo(gateway, 3) == 3, "the connection is still usable after a chunked reply"


def test_a_gateway_that_is_down_is_unreachable(port: int) -> None:
    with pytest.raises(Unreachable, match=re.escape(f"127.0.0.1:{port} could not be reached")):
        Gateway("cpu", f"http://127.0.0.1:{port}").invoke("echo", {}, 10)


def test_a_call_not_answered_in_time_times_out_and_the_next_is_answered(function: Function, port: int) -> None:
    gateway = Gateway("cpu", f"http://127.0.0.1:{port}")
    with serving(function, port):
        function.delay_s = 1.0
        with pytest.raises(TimedOut, match=r"did not answer within 0\.2 s"):
            echo(gateway, 1, timeout_s=0.2)
        function.delay_s = 0.0
        assert echo(gateway, 2) == 2


class Dropping:
    """A socket server on ``port`` for one connection: it reads a request, hands the connection to ``on_request``
    (with a way to read the next request), and closes it; then it waits a moment for a call sent again on a new
    connection. ``requests`` keeps the first line of each request it read."""

    def __init__(self, port: int, on_request: Callable[[socket.socket, Callable[[], None]], None]) -> None:
        self.listener = socket.create_server(("127.0.0.1", port))
        self.listener.settimeout(10)
        self.on_request = on_request
        self.requests: list[bytes] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def read(self, connection: socket.socket) -> None:
        """One whole request: http.client writes its head and its body apart, and they may arrive apart."""
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = connection.recv(65536)
            if not chunk:  # the client closed without sending one
                return
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            chunk = connection.recv(65536)
            if not chunk:  # closed halfway through the body: an empty read would repeat for ever
                break
            body += chunk
        self.requests.append(head.split(b"\r\n")[0])

    def serve(self) -> None:
        with self.listener:
            connection, _ = self.listener.accept()
            with connection:
                self.read(connection)
                self.on_request(connection, lambda: self.read(connection))
            self.listener.settimeout(1)
            with suppress(TimeoutError):  # a call sent again would come on a new connection
                again, _ = self.listener.accept()
                with again:
                    self.read(again)

    def join(self) -> list[bytes]:
        self.thread.join(5)
        return self.requests


def test_a_connection_broken_before_the_reply_is_an_error_not_an_outage(port: int) -> None:
    """The gateway took the call and the connection broke: the call may have run, so it is not sent again."""
    server = Dropping(port, lambda connection, read: None)
    connections = Connections(f"http://127.0.0.1:{port}")
    with pytest.raises(GatewayError, match="broke") as raised:
        connections.request("POST", "/function/echo", {}, b"{}", timeout_s=10)
    assert not isinstance(raised.value, (Unreachable, TimedOut))
    assert server.join() == [b"POST /function/echo HTTP/1.1"]


def test_a_reply_that_is_not_http_is_an_error(port: int) -> None:
    server = Dropping(port, lambda connection, read: connection.sendall(b"SSH-2.0-OpenSSH_9.2\r\n"))
    with pytest.raises(GatewayError, match="broke"):
        Connections(f"http://127.0.0.1:{port}").request("GET", "/healthz", {}, timeout_s=10)
    assert server.join() == [b"GET /healthz HTTP/1.1"]


def test_a_connection_the_gateway_drops_during_a_call_fails_it_and_the_call_is_not_sent_again(port: int) -> None:
    """The connection was kept alive after one answer, so the gateway may have run the second call."""

    def answer_then_drop(connection: socket.socket, read: Callable[[], None]) -> None:
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
        read()

    server = Dropping(port, answer_then_drop)
    gateway = Gateway("cpu", f"http://127.0.0.1:{port}")
    assert gateway.invoke("echo", {"n": 1}, 10).body == {}
    with pytest.raises(GatewayError, match="broke"):
        gateway.invoke("echo", {"n": 2}, 10)
    assert server.join() == [b"POST /function/echo HTTP/1.1"] * 2


def test_a_gateway_url_that_names_no_gateway_is_reported_by_each_call() -> None:
    gateway = Gateway("cpu", "127.0.0.1:8080")
    with pytest.raises(Unreachable, match="is not http"):
        gateway.invoke("echo", {}, 10)
    assert not gateway.healthy()
