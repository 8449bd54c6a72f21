"""The deployment's Chroma server behind a bearer token: `python -m search.server`.

Chroma's server (1.x) authenticates nobody: its Rust frontend admits every request, and the
``CHROMA_SERVER_AUTHN_*`` variables of Chroma 0.x are no longer read. On faasd the services share a
network with the functions, which fetch URLs their callers name, so an open index is one request
away from any caller. Here Chroma listens on loopback inside the container, and a proxy in front of
it passes on only requests that carry ``MEDIALENS_INDEX_TOKEN`` as ``Authorization: Bearer``;
the index client (search/index.py) sends it. Chroma is restarted with a growing pause when it exits.
"""

from __future__ import annotations

import hmac
import importlib.util
import json
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any
from urllib.parse import quote

import httpx

from .settings import IndexSettings

logger = logging.getLogger(__name__)

# Headers of one connection, or that the proxy sets itself: never passed on. The token stays here.
REQUEST_DROPPED = frozenset({
    "authorization", "connection", "content-length", "host", "keep-alive", "proxy-authorization",
    "te", "trailer", "transfer-encoding", "upgrade",
})
# httpx hands over the body decoded, so its length and encoding are set afresh.
REPLY_DROPPED = frozenset({
    "connection", "content-encoding", "content-length", "keep-alive", "trailer", "transfer-encoding", "upgrade",
})
# Longest wait for one Chroma request (a large upsert), and for Chroma to answer after a start.
UPSTREAM_TIMEOUT_S = 300.0
READY_TIMEOUT_S = 60.0
# Restart pauses double up to the cap; a Chroma that stayed up this long starts over at the first.
FIRST_PAUSE_S, MAX_PAUSE_S, STABLE_S = 1.0, 30.0, 60.0

StartResponse = Callable[..., Any]


def _json(start_response: StartResponse, status: str, message: str, *extra: tuple[str, str]) -> list[bytes]:
    body = json.dumps({"error": status.split(" ", 1)[1], "message": message}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *extra])
    return [body]


class TokenProxy:
    """A WSGI app: a request bearing the token goes on to Chroma; any other is answered 401 here."""

    def __init__(self, token: str, upstream: httpx.Client) -> None:
        if not token:
            raise ValueError("MEDIALENS_INDEX_TOKEN is empty: the index server does not run without a token")
        self._expected = f"Bearer {token}".encode()
        self.upstream = upstream

    def admits(self, authorization: str) -> bool:
        # WSGI carries header values as latin-1 strings; the comparison takes the same time however
        # much of the token a caller got right.
        return hmac.compare_digest(authorization.encode("latin-1", "replace"), self._expected)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if not self.admits(environ.get("HTTP_AUTHORIZATION", "")):
            return _json(start_response, "401 Unauthorized", "the index needs its bearer token (MEDIALENS_INDEX_TOKEN)",
                         ("WWW-Authenticate", 'Bearer realm="medialens-index"'))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = [
            (name[5:].replace("_", "-").lower(), value) for name, value in environ.items()
            if name.startswith("HTTP_") and name[5:].replace("_", "-").lower() not in REQUEST_DROPPED
        ]
        if environ.get("CONTENT_TYPE"):
            headers.append(("content-type", environ["CONTENT_TYPE"]))
        try:
            reply = self.upstream.request(environ["REQUEST_METHOD"], target(environ), content=body, headers=headers)
        except httpx.HTTPError as exc:
            logger.warning("Chroma did not answer %s %s: %s", environ["REQUEST_METHOD"], environ.get("PATH_INFO"), exc)
            return _json(start_response, "502 Bad Gateway", "the index server's Chroma is not answering; try again")
        passed = [(name, value) for name, value in reply.headers.multi_items() if name.lower() not in REPLY_DROPPED]
        start_response(f"{reply.status_code} {reply.reason_phrase}",
                       [*passed, ("Content-Length", str(len(reply.content)))])
        return [reply.content]


def target(environ: dict[str, Any]) -> str:
    """The request's path and query as the client sent them (WSGI's PATH_INFO is decoded)."""
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if raw:
        return str(raw)
    query = environ.get("QUERY_STRING")
    return quote(environ.get("PATH_INFO", "/")) + (f"?{query}" if query else "")


def chroma_command(config: IndexSettings) -> list[str]:
    """Chroma's own server (the chromadb package's, through search/chroma.py) on loopback only."""
    if importlib.util.find_spec("chromadb_rust_bindings") is None:
        raise FileNotFoundError("Chroma's server is missing: install chromadb (requirements/services.txt)")
    return [sys.executable, "-m", "search.chroma", "run", "--host", "127.0.0.1", "--port", str(config.chroma_port),
            "--path", str(config.path)]


class Chroma:
    """Chroma's server as a child process, started again with a growing pause whenever it exits."""

    def __init__(self, command: list[str]) -> None:
        self.command = command
        self.stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None

    def run(self) -> None:
        pause = FIRST_PAUSE_S
        while not self.stopping.is_set():
            started = time.monotonic()
            self._process = subprocess.Popen(self.command)
            code = self._process.wait()
            if self.stopping.is_set():
                return
            if time.monotonic() - started > STABLE_S:
                pause = FIRST_PAUSE_S
            logger.warning("Chroma exited with status %s; starting it again in %.0f s", code, pause)
            self.stopping.wait(pause)
            pause = min(pause * 2, MAX_PAUSE_S)

    def stop(self) -> None:
        self.stopping.set()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()


def wait_ready(upstream: httpx.Client, timeout: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if upstream.get("/api/v2/heartbeat").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"Chroma did not answer within {timeout:.0f} s")
        time.sleep(0.2)


def main() -> None:
    from waitress import serve

    from functions.common.logs import configure_logging

    configure_logging("index")
    # One line per proxied request would drown the log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    config = IndexSettings()
    upstream = httpx.Client(base_url=f"http://127.0.0.1:{config.chroma_port}", timeout=UPSTREAM_TIMEOUT_S)
    proxy = TokenProxy(config.token, upstream)
    config.path.mkdir(parents=True, exist_ok=True)
    chroma = Chroma(chroma_command(config))

    def stop(signum: int, frame: FrameType | None) -> None:
        chroma.stop()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    threading.Thread(target=chroma.run, name="chroma", daemon=True).start()
    wait_ready(upstream)
    logger.info("index server on %s:%d, Chroma behind it on 127.0.0.1:%d",
                config.serve_host, config.serve_port, config.chroma_port)
    serve(proxy, host=config.serve_host, port=config.serve_port, threads=8, ident="medialens-index")


if __name__ == "__main__":
    main()
