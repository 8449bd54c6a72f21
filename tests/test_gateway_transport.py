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


def dropping_server(port: int, on_request: Callable[[socket.socket], None]) -> threading.Thread:
    """Accepts one connection, reads one request and does ``on_request`` with the connection."""
    listener = socket.create_server(("127.0.0.1", port))

    def serve() -> None:
        with listener:
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                on_request(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_a_connection_broken_before_the_reply_is_an_error_not_an_outage(port: int) -> None:
    """The gateway took the call and the connection broke: the call may have run, so it is not sent again."""
    server = dropping_server(port, lambda connection: None)
    connections = Connections(f"http://127.0.0.1:{port}")
    with pytest.raises(GatewayError, match="broke") as raised:
        connections.request("POST", "/function/echo", {}, b"{}", timeout_s=10)
    assert not isinstance(raised.value, (Unreachable, TimedOut))
    server.join(5)


def test_a_reply_that_is_not_http_is_an_error(port: int) -> None:
    server = dropping_server(port, lambda connection: connection.sendall(b"SSH-2.0-OpenSSH_9.2\r\n"))
    with pytest.raises(GatewayError, match="broke"):
        Connections(f"http://127.0.0.1:{port}").request("GET", "/healthz", {}, timeout_s=10)
    server.join(5)


def test_a_connection_the_gateway_drops_during_a_call_fails_it_and_the_call_is_not_sent_again(port: int) -> None:
    """The connection was kept alive after one answer, so the gateway may have run the second call."""
    listener = socket.create_server(("127.0.0.1", port))
    listener.settimeout(10)
    received: list[bytes] = []

    def answer_once_then_drop() -> None:
        with listener:
            connection, _ = listener.accept()
            with connection:
                received.append(connection.recv(65536))
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
                received.append(connection.recv(65536))
            listener.settimeout(1)
            with suppress(TimeoutError):  # a call sent again would come on a new connection
                again, _ = listener.accept()
                received.append(again.recv(65536))
                again.close()

    server = threading.Thread(target=answer_once_then_drop, daemon=True)
    server.start()
    gateway = Gateway("cpu", f"http://127.0.0.1:{port}")
    assert gateway.invoke("echo", {"n": 1}, 10).body == {}
    with pytest.raises(GatewayError, match="broke"):
        gateway.invoke("echo", {"n": 2}, 10)
    server.join(5)
    assert [request.split(b"\r\n")[0] for request in received] == [b"POST /function/echo HTTP/1.1"] * 2


def test_a_gateway_url_that_names_no_gateway_is_reported_by_each_call() -> None:
    gateway = Gateway("cpu", "127.0.0.1:8080")
    with pytest.raises(Unreachable, match="is not http"):
        gateway.invoke("echo", {}, 10)
    assert not gateway.healthy()
