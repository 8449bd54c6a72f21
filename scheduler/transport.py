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
    what the gateway's TLS certificate is checked against; None: the system's certificate authorities.

    No call is ever sent twice: a connection the gateway closed while it lay idle is found before use
    and replaced, and one that breaks during a call fails it, as the gateway may have run it."""

    def __init__(self, url: str, verify: ssl.SSLContext | None = None) -> None:
        self.url = url
        parts = urlsplit(url)
        try:
            self.port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:  # a port out of range, or not a number
            self.port = 0
        # A URL that names no gateway is reported by each call, as a gateway that cannot be reached is:
        # what an operator mistyped holds the work back, it fails no upload.
        self.usable = parts.scheme in ("http", "https") and bool(parts.hostname) and self.port > 0
        self.tls = parts.scheme == "https"
        self.host = parts.hostname or ""
        self.base_path = parts.path.rstrip("/")
        self.context = verify or (ssl.create_default_context() if self.tls else None)
        self.idle: list[http.client.HTTPConnection] = []
        self.lock = threading.Lock()

    def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None = None,
        timeout_s: float = 30.0,
    ) -> Answer:
        """One request, waiting at most ``timeout_s`` to connect and as long for each read and write;
        raises a GatewayError when no answer comes."""
        if not self.usable:
            raise Unreachable(f"the gateway URL {self.url!r} is not http(s)://host[:port]")
        connection = self._take()
        try:
            if connection.sock is None:
                self._connect(connection, timeout_s)
            assert connection.sock is not None
            connection.sock.settimeout(timeout_s)
            connection.request(method, self.base_path + path, body=body, headers=headers)
            reply = connection.getresponse()
            answer = Answer(reply.status, reply.headers, reply.read())
        except TimeoutError as exc:
            connection.close()
            raise TimedOut(f"{self.host}:{self.port} did not answer within {timeout_s:g} s") from exc
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise GatewayError(f"the connection to {self.host}:{self.port} broke: {exc!r}") from exc
        except BaseException:
            connection.close()
            raise
        if reply.will_close:
            connection.close()
        else:
            with self.lock:
                self.idle.append(connection)
        return answer

    def _connect(self, connection: http.client.HTTPConnection, timeout_s: float) -> None:
        connection.timeout = min(CONNECT_TIMEOUT_S, timeout_s)
        try:
            connection.connect()
        except (OSError, ValueError) as exc:  # refused, no route, no answer in time, TLS refused, a bad name
            raise Unreachable(f"{self.host}:{self.port} could not be reached: {exc}") from exc

    def _take(self) -> http.client.HTTPConnection:
        """An idle connection the gateway has not closed, else a new one (not yet connected)."""
        while True:
            with self.lock:
                if not self.idle:
                    break
                connection = self.idle.pop()
            if connection.sock is not None and not _readable(connection.sock):
                return connection
            # Readable while idle: the gateway closed it (or sent what nobody asked for), so it is done.
            connection.close()
        if self.tls:
            return http.client.HTTPSConnection(self.host, self.port, context=self.context)
        return http.client.HTTPConnection(self.host, self.port)


def _readable(sock: socket.socket) -> bool:
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(0))
