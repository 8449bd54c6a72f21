"""Serves one function with the OpenFaaS python3-http contract (of-watchdog http mode).

The same Event/Context/response code is used by the functions host, which serves many
functions from one process, so a handler behaves identically under faasd and in the host.
Every call but of-watchdog's health and readiness checks must bear the caller token: OpenFaaS CE's
gateway passes /function/<name> through without authenticating anyone, so the function does.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from flask import Flask, Response, request
from werkzeug.wrappers import Request

logger = logging.getLogger(__name__)

# The faasd secret every function names in stack.yml; faasd mounts it at SECRETS_DIR/<name>.
TOKEN_SECRET = "medialens-function-token"
SECRETS_DIR = Path("/var/openfaas/secrets")
# Set instead of the secret where no faasd mounts one (tests, a function run by hand).
TOKEN_ENV = "MEDIALENS_FN_TOKEN"


class Event:
    """What a handler receives: the request as the python3-http template presents it."""

    def __init__(
        self,
        body: bytes,
        headers: Any,  # case-insensitive, like werkzeug's Headers
        method: str,
        query: Mapping[str, Any],
        path: str,
    ) -> None:
        self.body = body
        self.headers = headers
        self.method = method
        self.query = query
        self.path = path


class Context:
    def __init__(self, hostname: str | None = None) -> None:
        self.hostname = hostname or os.getenv("HOSTNAME", "localhost")


def event_from(incoming: Request) -> Event:
    """The handler's view of a request: werkzeug's, or Flask's, which extends it."""
    return Event(
        body=incoming.get_data(),
        headers=incoming.headers,
        method=incoming.method,
        query=incoming.args,
        path=incoming.path,
    )


def event_from_flask() -> Event:
    return event_from(request)


def to_response(result: Any) -> Response:
    """Turns a handler's return value into an HTTP response, as the template does."""
    if not isinstance(result, dict) or ("statusCode" not in result and "body" not in result):
        result = {"statusCode": 200, "body": result}
    status = int(result.get("statusCode", 200))
    headers = dict(result.get("headers") or {})
    body = result.get("body", "")
    if isinstance(body, (dict, list)):
        import json

        payload: bytes | str = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    elif body is None:
        payload = ""
    else:
        payload = body
    return Response(payload, status=status, headers=headers)


def caller_token(secrets: Path = SECRETS_DIR, environ: Mapping[str, str] = os.environ) -> str:
    """The bearer token callers must send: faasd's secret file, else MEDIALENS_FN_TOKEN; empty if neither."""
    try:
        return (secrets / TOKEN_SECRET).read_text().strip()
    except FileNotFoundError:
        return environ.get(TOKEN_ENV, "").strip()


def authorised(token: str, header: str | None) -> bool:
    """Whether an Authorization header bears ``token``; an empty token admits no one."""
    return bool(token) and hmac.compare_digest((header or "").encode(), f"Bearer {token}".encode())


def unauthorised() -> Response:
    return to_response({"statusCode": 401, "headers": {"WWW-Authenticate": "Bearer"},
                        "body": {"error": "a valid bearer token is required"}})


class Readiness:
    """Runs a start-up step (loading the model) in the background; ready means it has finished."""

    def __init__(self, start: Callable[[], Any] | None) -> None:
        self.error: str | None = None
        self._done = threading.Event()
        if start is None:
            self._done.set()
        else:
            threading.Thread(target=self._start, args=(start,), daemon=True).start()

    def _start(self, start: Callable[[], Any]) -> None:
        try:
            start()
        except Exception as exc:  # reported through readiness, never a crash
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._done.set()

    @property
    def ready(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)


def invoke(handler: ModuleType, event: Event | None = None) -> Response:
    """Calls the handler; a handler that raises answers JSON like every other answer, never an HTML
    error page, and says nothing of its internals (the traceback goes to the function's log)."""
    try:
        return to_response(handler.handle(event or event_from_flask(), Context()))
    except Exception:
        logger.exception("the handler raised")
        return to_response({"statusCode": 500, "body": {"error": "the function failed unexpectedly"}})


def create_app(handler: ModuleType, token: str) -> Flask:
    """``token``: what callers must bear (caller_token()); empty refuses every call."""
    app = Flask(__name__)
    readiness = Readiness(getattr(handler, "load", None))

    @app.route("/_/health", methods=["GET"])
    def health() -> Response:
        return Response("OK", status=200)

    @app.route("/_/ready", methods=["GET"])
    def ready() -> Response:
        if readiness.ready:
            return Response("OK", status=200)
        return Response("loading", status=503, headers={"Retry-After": "1"})

    @app.route("/", defaults={"path": ""}, methods=["GET", "PUT", "POST", "PATCH", "DELETE"])
    @app.route("/<path:path>", methods=["GET", "PUT", "POST", "PATCH", "DELETE"])
    def call(path: str) -> Response:
        if not authorised(token, request.headers.get("Authorization")):
            return unauthorised()
        if not readiness.ready:
            return Response("model loading", status=503, headers={"Retry-After": "1"})
        return invoke(handler)

    return app


if __name__ == "__main__":
    from function import handler as function_handler  # type: ignore[import-not-found]
    from waitress import serve

    token = caller_token()
    if not token:
        # Whoever reaches the gateway could otherwise make the function fetch and write for them.
        raise SystemExit(f"no caller token: faasd mounts it at {SECRETS_DIR / TOKEN_SECRET} when stack.yml "
                         f"names the secret {TOKEN_SECRET!r} (deploy.sh creates it); {TOKEN_ENV} sets it elsewhere")
    # Only of-watchdog talks to this server (upstream_url); it listens on 8080 for the gateway.
    port = int(os.getenv("MEDIALENS_UPSTREAM_PORT", "5000"))
    serve(create_app(function_handler, token), host="127.0.0.1", port=port, threads=4)
