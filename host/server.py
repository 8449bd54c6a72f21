"""The functions host: serves many functions behind the OpenFaaS gateway API.

It is the gateway of the embedded default and the GPU node: `POST /function/<name>`, `POST
/async-function/<name>` (202 and an optional X-Callback-Url), `GET /system/functions` (basic auth)
and `GET /healthz`, so the scheduler cannot tell it from faasd. Every call but /healthz is
authenticated: a bearer token for functions, the basic-auth password for /system, and a host
with no token does not start. Each handler is called exactly as the python3-http template calls it.
"""

from __future__ import annotations

import base64
import hmac
import importlib
import importlib.util
import logging
import signal
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import httpx
from flask import Flask, Response, jsonify, request
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request

from functions.catalog import PROJECT, FunctionSpec, functions, gpu_functions
from functions.common import logs, turns
from functions.common.device import device
from functions.common.origins import Origin, allow_list, allowed
from functions.common.settings import settings as function_settings

from . import metrics
from .memory import MemoryBound
from .slots import Slots

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger(__name__)

TEMPLATE_INDEX = PROJECT / "template" / "python3-http-debian" / "index.py"
# What /function/<name> answers, as faasd's gateway passes them on; werkzeug drops the body of a HEAD reply.
CALL_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})


class HostSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIALENS_HOST_")

    host: str = Field("127.0.0.1", description="Address to bind.")
    port: int = Field(8080, description="Port to serve the gateway API on.")
    functions: str = Field(
        "", description="Comma-separated functions to serve; empty: all (a gpu host: stack.yml's medialens.gpu)."
    )
    label: str = Field("cpu", description="What this host is: cpu (the VPS) or gpu (a rented node).")
    basic_auth_user: str = Field("admin", description="User for /system/* (as faasd).")
    basic_auth_password: str = Field("", description="Password for /system/*; empty refuses every /system call.")
    token: str = Field(
        "", description="Bearer token every /function and /async-function call must send; required to start."
    )
    threads: int = Field(8, description="Concurrent requests served.")
    async_workers: int = Field(2, description="Concurrent /async-function invocations.")
    async_pending: int = Field(
        64, description="Most /async-function calls accepted and not yet finished; beyond it a call gets 429."
    )
    callback_origins: str = Field(
        "", description="Comma-separated origins (scheme://host:port) an X-Callback-Url may name; empty: none."
    )
    tls_cert: str = Field("", description="TLS certificate, PEM in base64; with tls_key the host serves HTTPS.")
    tls_key: str = Field("", description="Private key of tls_cert, PEM in base64.")
    slots: int = Field(
        0, description="Short calls that run at once; more wait their turn (host/slots.py). 0: one per core this "
        "host may use, divided by MEDIALENS_FN_THREADS.",
    )
    slot_wait_s: float = Field(10.0, description="Longest wait for a turn; then a call runs all the same. 0: no wait.")
    longest_turn_s: float = Field(60.0, description="Functions whose stack.yml exec_timeout is longer take no turn.")
    memory_bound: bool = Field(
        True, description="Bound the memory of calls in flight by their stack.yml limits.memory (host/memory.py)."
    )

    def served(self) -> set[str]:
        """The functions to serve; empty means every function in stack.yml."""
        named = {name.strip() for name in self.functions.split(",") if name.strip()}
        if not named and self.label == "gpu":
            return set(gpu_functions())
        return named

    def callbacks(self) -> frozenset[Origin]:
        return allow_list(self.callback_origins)

    @property
    def tls(self) -> bool:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("set both MEDIALENS_HOST_TLS_CERT and MEDIALENS_HOST_TLS_KEY, or neither")
        return bool(self.tls_cert)


def load_template() -> ModuleType:
    """The template's index.py, so the host and faasd share one request/response contract."""
    spec = importlib.util.spec_from_file_location("medialens_template_index", TEMPLATE_INDEX)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


template = load_template()


class Served:
    """One function: its handler module, readiness and counters.

    The handler is imported, and its model loaded, in the background: the host answers /healthz
    at once and each function says "loading" (503) until it is ready, as a faasd replica would.
    """

    def __init__(self, spec: FunctionSpec, slots: Slots, bound: MemoryBound | None = None) -> None:
        self.spec = spec
        self.slots = slots
        self.bound = bound
        self.handler: ModuleType | None = None
        self.invocations = 0
        self.lock = threading.Lock()
        self.readiness = template.Readiness(self._start)

    def _start(self) -> None:
        self.handler = importlib.import_module(self.spec.module)
        load = getattr(self.handler, "load", None)
        if load is not None:
            load()

    def call(self, event: Any) -> Response:
        """The handler's answer, as the template gives it (JSON also when the handler raises), counted in the
        metrics and logged; the caller's upload and step, from ``event.headers``, name every line logged for
        it, the handler's too. Sync and async calls alike."""
        if self.handler is None:
            raise RuntimeError(f"{self.spec.name} could not be imported: {self.readiness.error}")
        with self.lock:
            self.invocations += 1
        started, cpu_started = time.perf_counter(), time.thread_time()
        status = 500  # what a call that raises becomes
        bounded = self.bound.call(self.spec.memory_limit) if self.bound is not None else nullcontext()
        with logs.bound(function=self.spec.name, **logs.from_headers(event.headers)):
            try:
                with self.slots.turn(self.spec.name, self.spec.timeout_s, not self.spec.batched), bounded:
                    response: Response = template.invoke(self.handler, event)
                status = response.status_code
                return response
            finally:
                elapsed = time.perf_counter() - started
                metrics.observe(self.spec.name, status, elapsed, time.thread_time() - cpu_started)
                logger.info("answered %d in %.3f s", status, elapsed)

    def describe(self) -> dict[str, Any]:
        ready = self.readiness.ready and self.readiness.error is None
        annotations = dict(self.spec.annotations)
        annotations["medialens.ready"] = str(ready).lower()
        if self.readiness.error:
            annotations["medialens.error"] = self.readiness.error
        return {
            "name": self.spec.name,
            "image": self.spec.image,
            "namespace": "openfaas-fn",
            "invocationCount": self.invocations,
            "replicas": 1,
            "availableReplicas": 1 if ready else 0,
            "labels": self.spec.labels,
            "annotations": annotations,
            "envProcess": "python index.py",
        }


def _authorised_basic(settings: HostSettings) -> bool:
    if not settings.basic_auth_password:
        return False
    header = request.headers.get("Authorization", "")
    if not header.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return False
    return hmac.compare_digest(user, settings.basic_auth_user) and hmac.compare_digest(
        password, settings.basic_auth_password
    )


def _authorised_token(settings: HostSettings, headers: Headers) -> bool:
    # The check a function image makes itself (the template's), so both answer a caller alike.
    return bool(template.authorised(settings.token, headers.get("Authorization")))


def _unauthorised(realm: str) -> Response:
    return Response("unauthorized", status=401, headers={"WWW-Authenticate": f'Basic realm="{realm}"'})


class FunctionCalls:
    """WSGI middleware that serves `/function/<name>[/<rest>]` on werkzeug alone and hands the rest to Flask.

    A sync call is the host's hot path, and Flask's request machinery (URL map, contexts, session,
    signals) cost as much as all the host's own work on it (issue 17); a call needs none of it.
    """

    def __init__(self, flask_app: WSGIApplication, call: Callable[[str, Request], Response]) -> None:
        self.flask_app = flask_app
        self.call = call

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        name = function_named(environ.get("PATH_INFO", ""))
        if name is None:
            return self.flask_app(environ, start_response)
        if environ["REQUEST_METHOD"] not in CALL_METHODS:
            reply = Response("method not allowed", status=405, headers={"Allow": ", ".join(sorted(CALL_METHODS))})
        else:
            reply = self.call(name, Request(environ))
        return reply(environ, start_response)


def function_named(path: str) -> str | None:
    """The function a `/function/<name>` or `/function/<name>/<rest>` path calls; None for any other path."""
    prefix, _, tail = path.partition("/function/")
    if prefix:
        return None
    name, slash, rest = tail.partition("/")
    if not name or (slash and not rest):
        return None
    return name


def create_app(settings: HostSettings | None = None) -> Flask:
    settings = settings or HostSettings()
    wanted = settings.served()
    catalog = functions()
    unknown = wanted - set(catalog)
    if unknown:
        raise ValueError(f"unknown functions {sorted(unknown)}; stack.yml lists {sorted(catalog)}")
    served: dict[str, Served] = {}
    slots = Slots(settings.slots or turns.per_core(function_settings().threads), settings.slot_wait_s,
                  settings.longest_turn_s)
    bound = MemoryBound(lambda: all(function.readiness.ready for function in served.values())) \
        if settings.memory_bound else None
    for name, spec in catalog.items():
        if not wanted or name in wanted:
            served[name] = Served(spec, slots, bound)
    pool = ThreadPoolExecutor(max_workers=settings.async_workers, thread_name_prefix="async")
    # The pool's own queue has no bound: each accepted call holds a place until it has run.
    pending = threading.BoundedSemaphore(settings.async_pending)
    callbacks = settings.callbacks()
    app = Flask(__name__)
    app.config["served"] = served
    app.config["slots"] = slots
    metrics.install(app)

    def lookup(name: str) -> Served | Response:
        function = served.get(name)
        if function is None:
            return Response(f"function {name!r} not found", status=404)
        if not function.readiness.ready:
            return Response(f"{name} is loading its model", status=503, headers={"Retry-After": "1"})
        if function.handler is None:
            return Response(f"{name} could not be started: {function.readiness.error}", status=500)
        return function

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("OK", status=200)

    @app.get("/system/functions")
    def system_functions() -> Response:
        if not _authorised_basic(settings):
            return _unauthorised("functions")
        return jsonify([function.describe() for function in served.values()])

    @app.get("/system/function/<name>")
    def system_function(name: str) -> Response:
        if not _authorised_basic(settings):
            return _unauthorised("functions")
        if name not in served:
            return Response(f"function {name!r} not found", status=404)
        return jsonify(served[name].describe())

    @app.get("/system/info")
    def system_info() -> Response:
        if not _authorised_basic(settings):
            return _unauthorised("functions")
        return jsonify({"provider": {"provider": "medialens-functions-host", "orchestration": settings.label},
                        "version": {"release": "medialens"}, "arch": "x86_64", "device": device()})

    def call(name: str, incoming: Request) -> Response:
        if not _authorised_token(settings, incoming.headers):
            return template.unauthorised()
        found = lookup(name)
        if isinstance(found, Response):
            return found
        started = time.perf_counter()
        reply = found.call(template.event_from(incoming))
        reply.headers["X-Duration-Seconds"] = f"{time.perf_counter() - started:.6f}"
        reply.headers["X-Served-By"] = settings.label
        return reply

    app.wsgi_app = FunctionCalls(app.wsgi_app, call)  # type: ignore[method-assign]

    @app.route("/async-function/<name>", methods=["POST", "PUT"])
    def call_async(name: str) -> Response:
        if not _authorised_token(settings, request.headers):
            return template.unauthorised()
        found = lookup(name)
        if isinstance(found, Response):
            return found
        call_id = request.headers.get("X-Call-Id") or str(uuid.uuid4())
        event = template.Event(
            body=request.get_data(),
            headers=Headers(request.headers),  # outlives the request; names found in any case, as in a sync call
            method=request.method,
            query=dict(request.args),
            path=request.path,
        )
        callback = request.headers.get("X-Callback-Url")
        if callback and not allowed(callback, callbacks):
            return Response("X-Callback-Url names no allowed callback origin (MEDIALENS_HOST_CALLBACK_ORIGINS)",
                            status=422)
        if not pending.acquire(blocking=False):
            return Response("too many async calls pending; try again later", status=429,
                            headers={"Retry-After": "1"})
        pool.submit(_run_async, found, event, call_id, callback).add_done_callback(lambda _: pending.release())
        return Response("", status=202, headers={"X-Call-Id": call_id})

    return app


def _run_async(function: Served, event: Any, call_id: str, callback: str | None) -> None:
    started = time.perf_counter()
    try:
        reply = function.call(event)
        status, body = reply.status_code, reply.get_data()
    except Exception:  # reported to the caller, as faasd's queue-worker does
        logger.exception("async call %s of %s failed", call_id, function.spec.name)
        status, body = 500, b"internal error"
    if not callback:
        return
    headers = {
        "X-Call-Id": call_id,
        "X-Function-Status": str(status),
        "X-Function-Name": function.spec.name,
        "X-Duration-Seconds": f"{time.perf_counter() - started:.6f}",
    }
    try:
        httpx.post(callback, content=body, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        logger.warning("callback for %s to %s failed: %s", call_id, callback, exc)


def serve_tls(app: Flask, settings: HostSettings) -> None:
    """HTTPS with cheroot's built-in adapter (waitress has no TLS); it reads the pair from files."""
    from cheroot import wsgi
    from cheroot.ssl.builtin import BuiltinSSLAdapter

    with tempfile.TemporaryDirectory(prefix="medialens-tls-") as folder:
        paths = []
        for name, value in (("cert.pem", settings.tls_cert), ("key.pem", settings.tls_key)):
            path = Path(folder) / name
            path.write_bytes(base64.b64decode(value, validate=True))
            paths.append(str(path))
        # The adapter loads the pair into its SSL context now: the key leaves the disk before serving,
        # so a killed host leaves no key file behind.
        adapter = BuiltinSSLAdapter(paths[0], paths[1])
    server = wsgi.Server((settings.host, settings.port), app, numthreads=settings.threads, server_name="medialens")
    server.ssl_adapter = adapter
    # A TERM (docker stop, a test) ends the server cleanly rather than mid-request.
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    server.safe_start()


def main() -> None:
    from waitress import serve

    settings = HostSettings()
    logs.configure_logging(f"functions-host-{settings.label}")
    # httpx logs each fetch and write of a function at info: a second line per call beside the host's own,
    # costing as much as it (issue 17); a transfer that fails logs a warning of its own (transfer.py).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if not settings.token:
        # Whoever reaches the port could otherwise make the functions fetch and write for them.
        raise SystemExit("MEDIALENS_HOST_TOKEN is empty: set the bearer token callers must send (make up sets one)")
    app = create_app(settings)
    scheme = "https" if settings.tls else "http"
    logger.info("serving %s on %s://%s:%d", ", ".join(app.config["served"]), scheme, settings.host, settings.port)
    if settings.tls:
        serve_tls(app, settings)
    else:
        serve(app, host=settings.host, port=settings.port, threads=settings.threads, ident="medialens")
