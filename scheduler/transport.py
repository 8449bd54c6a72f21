"""HTTP/1.1 to one gateway over kept-alive standard-library connections: the transport under `Gateway`.

Every step is one call through it, so what the client costs is added to every step. httpx cost about
0.9 ms of a call's round trip on a 2-core VPS, `http.client` about 0.3 (issue 17: an empty POST to
waitress took 1.2-1.4 ms from httpx, 0.5 ms from http.client). A gateway call needs none of what
httpx adds (proxies from the environment, redirects, cookies, HTTP/2): a pool of open connections,
a timeout and TLS verified against the context it is given.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import ssl
import threading
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

CONNECT_TIMEOUT_S = 5.0


class GatewayError(Exception):
    """The gateway gave no answer: the connection failed or broke, or the reply was not HTTP."""


class Unreachable(GatewayError):
    """No connection could be opened: the gateway is down, restarting, or refuses this client's TLS."""


class TimedOut(GatewayError):
    """The gateway accepted the call but did not answer in time."""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Message
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.content)


class Connections:
    """Kept-alive connections to the gateway at ``url``, safe to share between threads: each call takes an
    idle connection (or opens one) and puts it back once its reply has been read in full. ``verify`` is
    what the gateway's TLS certificate is checked against; None: the system's certificate authorities."""

    def __init__(self, url: str, verify: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"a gateway URL is http:// or https:// and names a host, not {url!r}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.base_path = parts.path.rstrip("/")
        self.context = verify or ssl.create_default_context()
        self.idle: list[http.client.HTTPConnection] = []
        self.lock = threading.Lock()

    def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None = None,
        timeout_s: float = 30.0,
    ) -> Answer:
        """One request; raises a GatewayError when no answer comes. A kept-alive connection the gateway
        closed while it lay idle is replaced, once, by a new one: the request never reached the gateway."""
        connection, reused = self._take()
        try:
            try:
                return self._exchange(connection, method, path, headers, body, timeout_s)
            except ConnectionError:  # a broken pipe, a reset; http.client's RemoteDisconnected is one
                if not reused:
                    raise
            connection.close()
            connection = self._open()
            return self._exchange(connection, method, path, headers, body, timeout_s)
        except TimeoutError as exc:
            connection.close()
            raise TimedOut(f"{self.host}:{self.port} did not answer within {timeout_s:g} s") from exc
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise GatewayError(f"the connection to {self.host}:{self.port} broke: {exc!r}") from exc

    def close(self) -> None:
        with self.lock:
            idle, self.idle = self.idle, []
        for connection in idle:
            connection.close()

    def _exchange(
        self, connection: http.client.HTTPConnection, method: str, path: str, headers: dict[str, str],
        body: bytes | None, timeout_s: float,
    ) -> Answer:
        if connection.sock is None:
            try:
                connection.connect()
            except OSError as exc:  # refused, no route, no answer within the connect timeout, TLS refused
                connection.close()
                raise Unreachable(f"{self.host}:{self.port} could not be reached: {exc}") from exc
        assert connection.sock is not None
        connection.sock.settimeout(timeout_s)
        connection.request(method, self.base_path + path, body=body, headers=headers)
        reply = connection.getresponse()
        content = reply.read()
        if reply.will_close:
            connection.close()
        else:
            with self.lock:
                self.idle.append(connection)
        return Answer(reply.status, reply.headers, content)

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection the gateway has not closed (and whether it is one), else a new one."""
        while True:
            with self.lock:
                if not self.idle:
                    return self._open(), False
                connection = self.idle.pop()
            if connection.sock is not None and not _readable(connection.sock):
                return connection, True
            # Readable while idle: the gateway closed it (or sent what nobody asked for), so it is done.
            connection.close()

    def _open(self) -> http.client.HTTPConnection:
        if self.tls:
            return http.client.HTTPSConnection(self.host, self.port, timeout=CONNECT_TIMEOUT_S, context=self.context)
        return http.client.HTTPConnection(self.host, self.port, timeout=CONNECT_TIMEOUT_S)


def _readable(sock: socket.socket) -> bool:
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))
