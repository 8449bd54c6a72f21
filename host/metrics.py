"""Prometheus metrics of the functions host: requests, latencies and CPU time per function."""

from __future__ import annotations

from flask import Flask, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)

# The host serves every function from one process (waitress threads), so plain in-process
# metrics are complete; each host (the VPS's embedded gateway, a GPU node) is its own target.
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
REQUESTS = Counter(
    "medialens_function_requests", "Function calls by function and HTTP status.", ["function", "status"],
    registry=REGISTRY,
)
DURATION = Histogram(
    "medialens_function_duration_seconds", "Time a function took to answer, per function.", ["function"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
    registry=REGISTRY,
)
# A model runs on the thread that serves its call (one inference thread each: functions/common/models.py),
# so this is most of what each function costs the cores; threads a call starts (a video decoder's) are
# not in it.
CPU = Counter(
    "medialens_function_cpu_seconds", "CPU time of the thread that served each call, per function.", ["function"],
    registry=REGISTRY,
)

# Short calls that waited out MEDIALENS_HOST_SLOT_WAIT_S and ran beside those holding the turns (host/slots.py):
# often, and the host has more callers than cores can serve in that time.
WITHOUT_TURN = Counter(
    "medialens_function_calls_without_turn", "Short calls that ran without a turn on the cores after waiting for one.",
    ["function"], registry=REGISTRY,
)


def observe(function: str, status: int, seconds: float, cpu_seconds: float) -> None:
    REQUESTS.labels(function, str(status)).inc()
    DURATION.labels(function).observe(seconds)
    CPU.labels(function).inc(cpu_seconds)


def install(app: Flask) -> None:
    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
