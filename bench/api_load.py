"""The web API under load: 50 clients for 60 s against 10,000 recorded uploads, on the real web app.

Upload records are written straight into Redis (as intake would, indexes included), each with the
eight steps of a picture, so the load is the API's, not the analysers'. Each client loops over a listing
page, a filtered page, one upload's view and a word search, from loopback only, for a bounded time.
Throttling is raised for the run: every client comes from 127.0.0.1.
"""

from __future__ import annotations

import os
import random
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.cores import service_cpu
from bench.stack import api_client, percentile
from embedded.settings import EmbeddedSettings, on_free_ports
from embedded.stack import Stack
from scheduler.plans import IMAGE_ANALYZERS
from scheduler.uploads import State, Upload, Uploads
from ui.settings import UiSettings

UPLOADS = 10_000
CLIENTS = 50
SECONDS = 60.0
CLIENTS_CPU = "the bench's clients (httpx, in this process)"
IDLE = "cores idle"
PROCESSES = len(os.sched_getaffinity(0))  # the second run: one web-app process per core
STEPS = ("probe", "thumbnail", *IMAGE_ANALYZERS)
UNTHROTTLED = {f"MEDIALENS_UI_{name}_LIMIT": "1000000 per minute" for name in ("SIGN_IN", "KEY_FAILURE", "SEARCH")}


def seed(stack: Stack, count: int) -> list[str]:
    records = Uploads(stack.redis())
    ids = []
    for number in range(count):
        upload = Upload(id=f"load{number:016d}", bucket="uploads", key=f"load/{number}.jpg", etag=f"e{number}",
                        size=1000 + number, content_type="image/jpeg", media_type=random.choice(("image", "video")),
                        state=random.choice((State.DONE, State.DONE, State.DONE, State.FAILED)))
        records.create(upload)
        records.plan_steps(upload.id, [*STEPS])
        ids.append(upload.id)
    return ids


ROUTES = {
    "listing, first page": lambda api, ids: api.get("/uploads", params={"limit": 50}),
    "failed videos, a page deep": lambda api, ids: api.get(
        "/uploads", params={"state": "failed", "media_type": "video", "offset": 100, "limit": 50}),
    "one upload": lambda api, ids: api.get(f"/uploads/{random.choice(ids)}"),
    "word search": lambda api, ids: api.get("/search", params={"q": "harbour"}),
}


def hammer(api: httpx.Client, ids: list[str], until: float, latencies: dict[str, list[float]],
           errors: list[str]) -> None:
    names = list(ROUTES)
    while time.monotonic() < until:
        name = random.choice(names)
        started = time.perf_counter()
        try:
            reply = ROUTES[name](api, ids)
            if reply.status_code >= 400:
                errors.append(f"HTTP {reply.status_code}")
        except httpx.HTTPError as exc:
            errors.append(type(exc).__name__)
        latencies[name].append(time.perf_counter() - started)


@contextmanager
def unthrottled() -> Iterator[None]:
    """The web app's throttling raised for a stack started inside the block: every bench client is 127.0.0.1."""
    saved = {name: os.environ.get(name) for name in UNTHROTTLED}
    os.environ.update(UNTHROTTLED)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run() -> dict[str, Any]:
    """One web-app process (the default), then one per core beside it, against the same load."""
    with unthrottled():
        one = measure(1)
        return {**one, "more_processes": {str(PROCESSES): measure(PROCESSES)} if PROCESSES > 1 else {}}


def measure(processes: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as state:
        settings = on_free_ports(Path(state), Path(EmbeddedSettings().model_dir).resolve(), workers=1)
        stack = Stack(settings.model_copy(update={"ui_processes": processes}))
        try:
            apps = [service.name for service in stack.web_apps()]
            stack.up(only=["redis", "seaweedfs", "index", *apps])  # the app reads its search index at start
            ids = seed(stack, UPLOADS)
            base = api_client(stack)
            latencies: dict[str, list[float]] = {name: [] for name in ROUTES}
            errors: list[str] = []
            until = time.monotonic() + SECONDS
            clients = [httpx.Client(base_url=base.base_url, headers=base.headers, timeout=30)
                       for _ in range(CLIENTS)]
            threads = [threading.Thread(target=hammer, args=(c, ids, until, latencies, errors)) for c in clients]
            before = cpu_reading(stack)
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            used = cpu_spent(before, cpu_reading(stack))
            rss = sum(stack_rss_mb(stack, app) for app in apps)
        finally:
            stack.down()
    every = [seconds for of in latencies.values() for seconds in of]
    return {
        "uploads": UPLOADS, "clients": CLIENTS, "seconds": SECONDS, "requests": len(every),
        "requests_per_s": len(every) / SECONDS, "errors": len(errors), "error_kinds": sorted(set(errors)),
        "p50_ms": percentile(every, 0.5) * 1000, "p99_ms": percentile(every, 0.99) * 1000,
        "routes": {name: {"requests": len(of), "p50_ms": percentile(of, 0.5) * 1000,
                          "p99_ms": percentile(of, 0.99) * 1000} for name, of in latencies.items() if of},
        "ui_rss_mb": rss, "ui_threads": UiSettings().threads,
        "cpu_ms_per_request": {name: seconds * 1000 / max(len(every), 1) for name, seconds in used.items()},
    }


def cpu_reading(stack: Stack) -> dict[str, float]:
    """CPU seconds so far of each service, of this process (the clients), and the machine's idle time."""
    import psutil

    own = psutil.Process().cpu_times()
    return {**service_cpu(stack), CLIENTS_CPU: own.user + own.system, IDLE: psutil.cpu_times().idle}


def cpu_spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}


def stack_rss_mb(stack: Stack, service: str) -> float:
    pid = stack.pid(service)
    if pid is None:
        return 0.0
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) / 1024


def markdown(results: dict[str, Any]) -> str:
    r = results
    # Older runs measured one process only, and some of them neither routes nor cores.
    runs = {"1": r, **r.get("more_processes", {})}
    return "\n".join([
        f"{r['clients']} clients for {r['seconds']:.0f} s against {r['uploads']:,} recorded uploads (listing, a "
        "filtered page deep in the index, one upload's view, a word search), loopback only, the real web app "
        # Runs measured before the thread count was a setting had 8.
        f"(waitress, {r.get('ui_threads', 8)} threads a process)"
        + (", one process (the default), then one per core (`MEDIALENS_EMBEDDED_UI_PROCESSES`)" if len(runs) > 1
           else "") + ". Goal: 0 errors, p99 under 1 s.",
        "",
        "| web-app processes | requests | requests/s | errors | p50 (ms) | p99 (ms) | web-app RSS after (MiB) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        *[f"| {n} | {run['requests']} | {run['requests_per_s']:.1f} | {run['errors']} "
          f"{', '.join(run['error_kinds'])} | {run['p50_ms']:.0f} | {run['p99_ms']:.0f} | {run['ui_rss_mb']:.0f} |"
          for n, run in runs.items()],
        *_routes(runs),
        *_cores(runs),
    ])


def processes(count: str) -> str:
    return f"{count} process" if count == "1" else f"{count} processes"


def _routes(runs: dict[str, dict[str, Any]]) -> list[str]:
    """Each route's share of each run."""
    measured = {n: run["routes"] for n, run in runs.items() if run.get("routes")}
    if not measured:
        return []
    names = list(next(iter(measured.values())))
    return ["", "| route, p50 / p99 ms | " + " | ".join(map(processes, measured)) + " |",
            "|---|" + "---:|" * len(measured),
            *[f"| {name} | " + " | ".join(f"{of[name]['p50_ms']:.0f} / {of[name]['p99_ms']:.0f}"
                                          for of in measured.values()) + " |" for name in names]]


def _cores(runs: dict[str, dict[str, Any]]) -> list[str]:
    """Where the cores went, per request, in each run."""
    measured = {n: run["cpu_ms_per_request"] for n, run in runs.items() if run.get("cpu_ms_per_request")}
    if not measured:
        return []
    names = sorted({name for used in measured.values() for name in used if name != IDLE},
                   key=lambda name: -max(used.get(name, 0.0) for used in measured.values()))
    return ["", "| where the cores went, CPU ms per request | " + " | ".join(map(processes, measured))
            + " |", "|---|" + "---:|" * len(measured),
            *[f"| {name} | " + " | ".join(f"{used.get(name, 0.0):.2f}" for used in measured.values()) + " |"
              for name in [*names, IDLE]]]
