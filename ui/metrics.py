"""Prometheus metrics of the web app and API: requests by route and status, and their latency."""

from __future__ import annotations

import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)

from .access import Need, needs

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
REQUESTS = Counter(
    "medialens_ui_requests", "Requests to the web app and API by method, route and status.",
    ["method", "route", "status"], registry=REGISTRY,
)
DURATION = Histogram(
    "medialens_ui_request_duration_seconds", "Time to answer a request, per route.", ["route"],
    registry=REGISTRY,
)


def _route() -> str:
    # The URL rule, not the path: ids in paths would make one series per upload.
    return request.url_rule.rule if request.url_rule is not None else "unmatched"


def install(app: Flask) -> None:
    @app.before_request
    def start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def record(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        route = _route()
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        if started is not None:
            DURATION.labels(route).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics")
    @needs(Need.METRICS)
    def metrics() -> Response:
        return Response(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
