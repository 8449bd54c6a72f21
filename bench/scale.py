"""Scale: a batch of 10,000 uploads against a batch of 1,000, through the whole embedded stack.

Every upload is a distinct small picture (bench/hosts.image), put into the uploads bucket as a user's
client would. The stack reads its models from an empty folder, as a fresh install does before `make
models`: the analyzers whose models ship in their packages run (pose, OCR, faces, NSFW, and the text
embedding of what OCR read), and CLIP and caption, whose weights only `make models` fetches, answer that
they are not installed and their steps are skipped. So the batches measure the platform (the store's
notification, the bridge, intake, RQ, the workers, the functions host, Redis, the index) with the default
analyzers on small pictures; CLIP and caption cost the same per picture in any batch (the platform section
measures them), and ten thousand pictures through caption would take about five hours on two cores.

After each batch, once the stack is idle: what Redis grew by per upload (and, on a sample, how much of it
is RQ's finished jobs, kept `MEDIALENS_SCHEDULER_RESULT_TTL_S`, and how much the upload's own records),
each service's memory, and the web API's latency on the routes of the API section (bench/api_load.py), one
request at a time.
"""

from __future__ import annotations

import itertools
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bench import cores
from bench.api_load import ROUTES, unthrottled
from bench.hosts import image, job_retention, memory_by_kind
from bench.stack import api_client, percentile, resident_memory, settled_totals, warm_up, with_stack
from embedded.settings import EmbeddedSettings
from embedded.stack import Stack
from scheduler.settings import SchedulerSettings

BATCHES = (1_000, 10_000)
READS = 200  # requests per route after each batch
STALL_S = 600.0  # a batch in which no upload settles for this long is reported as stalled
SETTLE_S = 3.0  # after the last upload settles: the functions host trims its heap once no call ran for a second
SAMPLE = 20  # uploads whose Redis keys are weighed one by one (a scan of every key each)
GOAL_THROUGHPUT_RATIO = 0.9  # the large batch keeps at least this share of the small one's uploads per hour


class Stalled(RuntimeError):
    """No upload of a batch settled for STALL_S."""


def run(batches: tuple[int, ...] = BATCHES) -> dict[str, Any]:
    workers = EmbeddedSettings().workers  # what `make up` starts
    with tempfile.TemporaryDirectory() as no_models, unthrottled():
        measured = with_stack(Path(no_models), workers, lambda stack: measure(stack, batches))
    return {"workers": workers, "result_ttl_s": SchedulerSettings().result_ttl_s, **measured}


def measure(stack: Stack, batches: tuple[int, ...]) -> dict[str, Any]:
    """Each batch in turn; a batch that stalls ends the run, and what was measured before it is kept."""
    api = api_client(stack)
    warm_up(stack, api)
    numbers = itertools.count()
    measured: list[dict[str, Any]] = []
    for size in batches:
        try:
            measured.append(batch(stack, api, [next(numbers) for _ in range(size)]))
        except Stalled as stalled:
            measured.append({"uploads": size, "stalled": str(stalled)})
            break
    return {"batches": measured}


def batch(stack: Stack, api: httpx.Client, numbers: list[int]) -> dict[str, Any]:
    """Puts one picture per number at once and waits for all to settle; then reads the idle stack."""
    store, redis = stack.store(), stack.redis()
    pictures = {f"bench/scale-{number:06d}.jpg": image(number) for number in numbers}  # made before the clock
    before = settled_totals(api)
    redis_before = int(redis.info("memory")["used_memory"])
    cpu_before = cores.taken(stack)
    started = time.perf_counter()
    for key, data in pictures.items():
        store.put_bytes(store.settings.uploads_bucket, key, data, "image/jpeg")
    put_s = time.perf_counter() - started
    now = wait_settled(api, before, len(pictures))
    elapsed = time.perf_counter() - started
    cpu = cores.spent(cpu_before, cores.taken(stack), len(pictures), len(os.sched_getaffinity(0)))
    time.sleep(SETTLE_S)
    latest = [item["id"] for item in api.get("/uploads", params={"limit": SAMPLE}).json()["uploads"]]
    return {
        "uploads": len(pictures),
        "library": sum(now.values()),
        "put_seconds": put_s,
        "seconds": elapsed,
        "uploads_per_hour": len(pictures) / elapsed * 3600,
        "failed": now["failed"] - before["failed"],
        "redis_bytes_per_upload": (int(redis.info("memory")["used_memory"]) - redis_before) / len(pictures),
        "redis_bytes_sampled": memory_by_kind(redis, latest),
        "redis_keys": int(redis.dbsize()),
        "memory": resident_memory(stack),
        "cpu": cpu,
        "reads": reads(api),
    }


def wait_settled(api: httpx.Client, before: dict[str, int], count: int) -> dict[str, int]:
    """Waits until ``count`` more uploads than ``before`` have settled; the counts then. Raises Stalled when
    none settles for STALL_S."""
    settled, progressed = 0, time.monotonic()
    while True:
        now = settled_totals(api)
        done = sum(now.values()) - sum(before.values())
        if done >= count:
            return now
        if done > settled:
            settled, progressed = done, time.monotonic()
        elif time.monotonic() - progressed > STALL_S:
            raise Stalled(f"{settled} of {count} uploads settled, then none for {STALL_S:.0f} s")
        time.sleep(1.0)


def reads(api: httpx.Client) -> dict[str, dict[str, float]]:
    """p50 and p95 ms of each route and the requests that failed, one request at a time, the routes in turn."""
    ids = [item["id"] for item in api.get("/uploads", params={"limit": 50}).json()["uploads"]]
    timings: dict[str, list[float]] = {name: [] for name in ROUTES}
    errors = dict.fromkeys(ROUTES, 0)
    for _ in range(READS):
        for name, route in ROUTES.items():
            started = time.perf_counter()
            try:
                failed = route(api, ids).status_code >= 400
            except httpx.HTTPError:
                failed = True
            timings[name].append((time.perf_counter() - started) * 1000)
            errors[name] += failed
    return {name: {"p50_ms": statistics.median(of), "p95_ms": percentile(of, 0.95), "errors": errors[name]}
            for name, of in timings.items()}


def markdown(result: dict[str, Any]) -> str:
    measured = [found for found in result["batches"] if "stalled" not in found]
    stalled = [f"The {found['uploads']:,} batch stalled: {found['stalled']}." for found in result["batches"]
               if "stalled" in found]
    if not measured:
        return " ".join(stalled)
    first = measured[0]

    def row(label: str, cell: Callable[[dict[str, Any]], str]) -> str:
        return f"| {label} | " + " | ".join(cell(found) for found in measured) + " |"

    def of(found: dict[str, Any], *path: str) -> Any:
        for step in path:
            found = found.get(step, {}) if isinstance(found, dict) else {}
        return found if isinstance(found, int | float) else None

    def mib(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f} MiB"

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    def at(*path: str, shown: Callable[[float | None], str]) -> Callable[[dict[str, Any]], str]:
        return lambda found: shown(of(found, *path))

    def timing(route: str) -> Callable[[dict[str, Any]], str]:
        return lambda found: (f"{found['reads'][route]['p50_ms']:.1f} / {found['reads'][route]['p95_ms']:.1f} "
                              f"({found['reads'][route]['errors']})")

    rows = [
        "| | " + " | ".join(f"{found['uploads']:,} uploads" for found in measured) + " |",
        "|---" * (len(measured) + 1) + "|",
        row("uploads per hour (first put to last settled)", lambda b: f"{b['uploads_per_hour']:,.0f}"),
        row("seconds (of which putting them)", lambda b: f"{b['seconds']:.0f} ({b['put_seconds']:.0f})"),
        row("failed", lambda b: f"{b['failed']}"),
        row("uploads in the workspace after it", lambda b: f"{b['library']:,}"),
        row("Redis growth per upload of the batch", lambda b: f"{b['redis_bytes_per_upload'] / 1024:.1f} KiB"),
        row(f"of which RQ's finished jobs / the upload's own records ({SAMPLE} of the batch weighed)",
            lambda b: f"{b['redis_bytes_sampled']['rq_jobs'] / 1024:.1f} / "
                      f"{b['redis_bytes_sampled']['records'] / 1024:.1f} KiB"),
        row("Redis keys after it", lambda b: f"{b['redis_keys']:,}"),
        row("PSS of every process of the stack after it", at("memory", "total_pss_mb", shown=mib)),
        *(row(f"PSS of {service}", at("memory", "services_pss_mb", service, shown=mib))
          for service in sorted(first["memory"]["services_pss_mb"])),
        *(row(f"CPU ms per upload: {service}", at("cpu", "services_ms", service, shown=ms))
          for service in sorted(first["cpu"]["services_ms"], key=lambda s: -first["cpu"]["services_ms"][s])),
        row("cores idle, ms per upload (of the cores' time, ms per upload)",
            lambda b: f"{b['cpu']['idle_ms']:.1f} ({b['cpu']['offered_ms']:.1f})"),
        *(row(f"{route}, p50 / p95 ms (errors)", timing(route)) for route in first["reads"]),
    ]
    kept = job_retention(result)
    notes = [
        f"{result['workers']} workers, every upload a distinct small picture (320 x 240, a line of text on it) put at "
        "once. No `make models`: the default analyzers run, CLIP and caption are skipped as on a fresh install "
        "(their cost per picture is the platform section's). Redis's growth counts RQ's finished jobs while they "
        f"are kept ({kept}): a batch that runs longer keeps those of its last {kept}. The routes are read after each "
        f"batch with the stack idle, {READS} times each, one "
        "request at a time: the word search is for a word no picture holds (the vocabulary has no word holding it, "
        "so no chunk is read; before it, every chunk was scanned), and no upload here is a failed video, so that "
        "page is empty.",
        *stalled,
    ]
    if len(measured) > 1:
        small, large = measured[0], measured[-1]
        ratio = large["uploads_per_hour"] / small["uploads_per_hour"]
        met = ratio >= GOAL_THROUGHPUT_RATIO and not any(found["failed"] for found in measured) and not stalled
        notes.insert(0, f"The {large['uploads']:,} batch at {ratio:.0%} of the {small['uploads']:,} batch's uploads "
                        f"per hour (goal: at least {GOAL_THROUGHPUT_RATIO:.0%}, and none failed): "
                        + ("met." if met else "**not met**."))
    return "\n".join([*rows, "", " ".join(notes)])
