"""Scale: a batch of 10,000 uploads against a batch of 1,000, through the whole embedded stack.

Every upload is a distinct small picture (bench/hosts.image), put into the uploads bucket as a user's
client would. The stack reads its models from an empty folder, as a fresh install does before `make
models`: the analyzers whose models ship in their packages run (pose, OCR, faces, NSFW, and the text
embedding of what OCR read), and CLIP and caption, whose weights only `make models` fetches, answer that
they are not installed and their steps are skipped. So the batches measure the platform (the store's
notification, the bridge, intake, RQ, the workers, the functions host, Redis, the index) with the default
analyzers on small pictures; CLIP and caption cost the same per picture in any batch (the platform section
measures them), and ten thousand pictures through caption would take about five hours on two cores.

After each batch, with the stack idle: what Redis holds per upload, each service's memory, and the web
API's latency on the routes of the API section (bench/api_load.py), one client at a time.
"""

from __future__ import annotations

import itertools
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench import cores
from bench.api_load import ROUTES, unthrottled
from bench.hosts import image
from bench.stack import SETTLED, api_client, percentile, resident_memory, warm_up, with_stack
from embedded.settings import EmbeddedSettings
from embedded.stack import Stack

BATCHES = (1_000, 10_000)
READS = 200  # requests per route after each batch
BATCH_TIMEOUT_S = 4 * 3600.0
GOAL_THROUGHPUT_RATIO = 0.9  # the large batch keeps at least this share of the small one's uploads per hour


def run(batches: tuple[int, ...] = BATCHES) -> dict[str, Any]:
    workers = EmbeddedSettings().workers  # what `make up` starts
    with tempfile.TemporaryDirectory() as no_models, unthrottled():
        measured = with_stack(Path(no_models), workers, lambda stack: measure(stack, batches))
    return {"workers": workers, **measured}


def measure(stack: Stack, batches: tuple[int, ...]) -> dict[str, Any]:
    api = api_client(stack)
    warm_up(stack, api)
    numbers = itertools.count()
    return {"batches": [batch(stack, api, [next(numbers) for _ in range(size)]) for size in batches]}


def totals(api: httpx.Client) -> dict[str, int]:
    """How many of the workspace's uploads are in each final state: counts, not listings."""
    return {state: int(api.get("/uploads", params={"state": state, "limit": 1}).json()["total"]) for state in SETTLED}


def batch(stack: Stack, api: httpx.Client, numbers: list[int]) -> dict[str, Any]:
    """Puts one picture per number at once and waits for all to settle; then reads the idle stack."""
    store, redis = stack.store(), stack.redis()
    pictures = {f"bench/scale-{number:06d}.jpg": image(number) for number in numbers}  # made before the clock
    before = totals(api)
    redis_before = int(redis.info("memory")["used_memory"])
    cpu_before = cores.taken(stack)
    started = time.perf_counter()
    for key, data in pictures.items():
        store.put_bytes(store.settings.uploads_bucket, key, data, "image/jpeg")
    put_s = time.perf_counter() - started
    deadline = time.monotonic() + BATCH_TIMEOUT_S
    while True:
        now = totals(api)
        if sum(now.values()) - sum(before.values()) >= len(pictures):
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(pictures)} uploads did not settle within {BATCH_TIMEOUT_S:.0f} s")
        time.sleep(1.0)
    elapsed = time.perf_counter() - started
    cpu = cores.spent(cpu_before, cores.taken(stack), len(pictures), len(os.sched_getaffinity(0)))
    return {
        "uploads": len(pictures),
        "library": sum(now.values()),
        "put_seconds": put_s,
        "seconds": elapsed,
        "uploads_per_hour": len(pictures) / elapsed * 3600,
        "failed": now["failed"] - before["failed"],
        "redis_bytes_per_upload": (int(redis.info("memory")["used_memory"]) - redis_before) / len(pictures),
        "redis_keys": int(redis.dbsize()),
        "memory": resident_memory(stack),
        "cpu": cpu,
        "reads": reads(api),
    }


def reads(api: httpx.Client) -> dict[str, dict[str, float]]:
    """p50 and p95 ms of each route, one request at a time, the routes taken in turn."""
    ids = [item["id"] for item in api.get("/uploads", params={"limit": 50}).json()["uploads"]]
    timings: dict[str, list[float]] = {name: [] for name in ROUTES}
    for _ in range(READS):
        for name, route in ROUTES.items():
            started = time.perf_counter()
            reply = route(api, ids)
            timings[name].append((time.perf_counter() - started) * 1000)
            reply.raise_for_status()
    return {name: {"p50_ms": statistics.median(of), "p95_ms": percentile(of, 0.95)} for name, of in timings.items()}


def markdown(result: dict[str, Any]) -> str:
    small, large = result["batches"][0], result["batches"][-1]
    ratio = large["uploads_per_hour"] / small["uploads_per_hour"]
    met = "yes" if ratio >= GOAL_THROUGHPUT_RATIO else "**no**"
    heads = " | ".join(f"{found['uploads']:,} uploads" for found in result["batches"])
    rows = [
        f"| | {heads} |",
        "|---" * (len(result["batches"]) + 1) + "|",
        row(result, "uploads per hour (first put to last settled)", lambda b: f"{b['uploads_per_hour']:,.0f}"),
        row(result, "seconds (of which putting them)", lambda b: f"{b['seconds']:.0f} ({b['put_seconds']:.0f})"),
        row(result, "failed", lambda b: f"{b['failed']}"),
        row(result, "uploads in the workspace after it", lambda b: f"{b['library']:,}"),
        row(result, "Redis memory per upload of the batch", lambda b: f"{b['redis_bytes_per_upload'] / 1024:.1f} KiB"),
        row(result, "Redis keys after it", lambda b: f"{b['redis_keys']:,}"),
        row(result, "PSS of every process of the stack after it", lambda b: f"{b['memory']['total_pss_mb']:,.0f} MiB"),
        *(row(result, f"PSS of {service}", lambda b, s=service: f"{b['memory']['services_pss_mb'].get(s, 0):,.0f} MiB")
          for service in sorted(small["memory"]["services_pss_mb"])),
        *(row(result, f"CPU ms per upload: {service}", lambda b, s=service: f"{b['cpu']['services_ms'].get(s, 0):.1f}")
          for service in sorted(small["cpu"]["services_ms"], key=lambda s: -small["cpu"]["services_ms"][s])),
        row(result, "cores idle, ms per upload", lambda b: f"{b['cpu']['idle_ms']:.1f}"),
        *(row(result, f"{route}, p50 / p95 ms",
              lambda b, r=route: f"{b['reads'][r]['p50_ms']:.1f} / {b['reads'][r]['p95_ms']:.1f}")
          for route in small["reads"]),
    ]
    return "\n".join([
        *rows, "",
        f"The {large['uploads']:,} batch at {ratio:.0%} of the {small['uploads']:,} batch's uploads per hour "
        f"(goal: at least {GOAL_THROUGHPUT_RATIO:.0%}): {met}. {result['workers']} workers, every upload a distinct "
        "small picture (320 x 240, a line of text on it) put at once. No `make models`: the default analyzers "
        "run, CLIP and caption are skipped as on a fresh install (their cost per picture is the platform section's). "
        f"The routes are read after each batch with the stack idle, {READS} times each, one request at a time.",
    ])


def row(result: dict[str, Any], label: str, cell: Any) -> str:
    return f"| {label} | " + " | ".join(cell(found) for found in result["batches"]) + " |"
