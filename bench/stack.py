"""Speed of the platform around the models: gateway overhead, upload-to-result latency,
`make up` time, and image-pipeline throughput against the inference bound, in one run.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from embedded.settings import EmbeddedSettings, on_free_ports
from embedded.stack import PROJECT, Stack

CALLS = 300


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def small_jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 30, 200)).save(buffer, "JPEG")
    return buffer.getvalue()


def gateway_overhead(stack: Stack) -> dict[str, float]:
    """`probe` through the functions host against its handler in this process, interleaved."""
    from functions.probe import handler
    from host.server import template

    store = stack.store()
    key = f"bench/{uuid.uuid4().hex}.jpg"
    store.put_bytes(store.settings.artefacts_bucket, key, small_jpeg(), "image/jpeg")
    body = json.dumps({"source": {"url": store.presigned_get(store.settings.artefacts_bucket, key)}}).encode()
    s = stack.settings
    client = httpx.Client(base_url=s.url(s.gateway_port), headers={"Authorization": f"Bearer {stack.gateway_token}"})
    event = template.Event(body=body, headers={}, method="POST", query={}, path="/")

    def through_host() -> None:
        assert client.post("/function/probe", content=body).status_code == 200

    def in_process() -> None:
        assert handler.handle(event, template.Context())["statusCode"] == 200

    timings: dict[str, list[float]] = {"host": [], "in_process": []}
    for _ in range(20):
        through_host()
        in_process()
    for _ in range(CALLS):
        for name, call in (("host", through_host), ("in_process", in_process)):
            started = time.perf_counter()
            call()
            timings[name].append((time.perf_counter() - started) * 1000)
    host, local = timings["host"], timings["in_process"]
    return {
        "calls": CALLS,
        "host_p50_ms": statistics.median(host),
        "host_p99_ms": percentile(host, 0.99),
        "in_process_p50_ms": statistics.median(local),
        "in_process_p99_ms": percentile(local, 0.99),
        "added_p50_ms": statistics.median(host) - statistics.median(local),
        "added_p99_ms": percentile(host, 0.99) - percentile(local, 0.99),
    }


def wait_all(api: httpx.Client, keys: list[str], timeout: float, poll_s: float = 0.05) -> dict[str, dict[str, Any]]:
    """Waits for every upload to settle, asking the API once per round (the poll costs CPU too)."""
    deadline = time.monotonic() + timeout
    wanted = set(keys)
    while time.monotonic() < deadline:
        listing = api.get("/uploads", params={"limit": 500}).json()["uploads"]
        settled = {
            item["key"]: item for item in listing if item["key"] in wanted and item["state"] in ("done", "failed")
        }
        if len(settled) == len(wanted):
            return settled
        time.sleep(poll_s if len(wanted) == 1 else 0.5)
    raise RuntimeError(f"uploads did not finish within {timeout} s")


def api_client(stack: Stack) -> httpx.Client:
    from accounts.upgrade import admin_key, upgrade

    s = stack.settings
    upgrade(stack.redis())
    key = admin_key(stack.redis())
    return httpx.Client(base_url=s.url(s.ui_port) + "/api/v1", headers={"Authorization": f"Bearer {key}"})


def upload_latency(stack: Stack, api: httpx.Client, count: int = 15) -> dict[str, float]:
    """One small JPEG at a time: put -> probe and thumbnail done, and put -> whole analysis stored."""
    store = stack.store()
    first_steps, whole = [], []
    for _ in range(count):
        key = f"bench/latency-{uuid.uuid4().hex}.jpg"
        put_at = time.time()
        store.put_bytes(store.settings.uploads_bucket, key, small_jpeg(), "image/jpeg")
        record = wait_all(api, [key], 120)[key]
        first_steps.append(record["steps"]["thumbnail"]["finished_at"] - put_at)
        whole.append(record["updated_at"] - put_at)
    return {
        "uploads": count,
        "probe_thumbnail_p50_s": statistics.median(first_steps),
        "probe_thumbnail_max_s": max(first_steps),
        "all_analyzers_p50_s": statistics.median(whole),
    }


def image_throughput(stack: Stack, api: httpx.Client, images: dict[str, bytes], rounds: int = 3) -> dict[str, Any]:
    """All images uploaded at once, `rounds` times over; images per hour from first put to last result."""
    store = stack.store()
    keys = []
    started = time.perf_counter()
    for round_number in range(rounds):
        for name, data in images.items():
            key = f"bench/throughput-{round_number}-{uuid.uuid4().hex[:6]}-{name}.jpg"
            store.put_bytes(store.settings.uploads_bucket, key, data, "image/jpeg")
            keys.append(key)
    finished = wait_all(api, keys, 3600)
    elapsed = time.perf_counter() - started
    failed = [key for key, record in finished.items() if record["state"] != "done"]
    return {
        "images": len(keys),
        "seconds": elapsed,
        "images_per_hour": len(keys) / elapsed * 3600,
        "failed": len(failed),
    }


def make_up_seconds(model_dir: Path) -> dict[str, float]:
    """`python -m embedded up` on a fresh state directory until every service answers, twice."""
    timings = {}
    with tempfile.TemporaryDirectory() as state:
        settings = on_free_ports(Path(state), model_dir)
        env = {**os.environ, **settings.as_environment()}
        for attempt in ("first", "again"):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "embedded", "up"], env=env, cwd=PROJECT, check=True,
                           stdout=subprocess.DEVNULL)
            timings[f"{attempt}_s"] = time.perf_counter() - started
            subprocess.run([sys.executable, "-m", "embedded", "down"], env=env, cwd=PROJECT, check=True,
                           stdout=subprocess.DEVNULL)
    return timings


def with_stack(model_dir: Path, workers: int, run: Callable[[Stack], dict[str, Any]]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as state:
        stack = Stack(on_free_ports(Path(state), model_dir, workers=workers))
        try:
            stack.up()
            return run(stack)
        finally:
            stack.down()


def run(model_dir: Path | None = None, images: dict[str, bytes] | None = None) -> dict[str, Any]:
    from bench import analyzers

    model_dir = model_dir or Path(EmbeddedSettings().model_dir).resolve()
    images = images or analyzers.sample_images()
    inference = analyzers.run(list(images.values()))

    def measure(stack: Stack) -> dict[str, Any]:
        api = api_client(stack)
        # Let every model load before anything is timed.
        wait_all(api, [_put_one(stack)], 300)
        return {
            "gateway": gateway_overhead(stack),
            "latency": upload_latency(stack, api),
            "throughput": image_throughput(stack, api, images),
        }

    measured = with_stack(model_dir, workers=4, run=measure)
    bound = inference["inference_bound_images_per_hour"]
    measured["throughput"]["bound_images_per_hour"] = bound
    measured["throughput"]["share_of_bound"] = measured["throughput"]["images_per_hour"] / bound
    measured["analyzers"] = inference
    measured["make_up"] = make_up_seconds(model_dir)
    return measured


def _put_one(stack: Stack) -> str:
    store = stack.store()
    key = f"bench/warm-{uuid.uuid4().hex}.jpg"
    store.put_bytes(store.settings.uploads_bucket, key, small_jpeg(), "image/jpeg")
    return key


if __name__ == "__main__":
    print(json.dumps(run(), indent=2, default=float))


def markdown(result: dict[str, Any]) -> str:
    from bench import analyzers

    gateway, latency, throughput, up = result["gateway"], result["latency"], result["throughput"], result["make_up"]
    return "\n".join([
        "### Gateway overhead: `probe` through the functions host against its handler in process",
        "",
        "| | p50 ms | p99 ms |",
        "|---|---|---|",
        f"| through the functions host | {gateway['host_p50_ms']:.2f} | {gateway['host_p99_ms']:.2f} |",
        f"| handler in process | {gateway['in_process_p50_ms']:.2f} | {gateway['in_process_p99_ms']:.2f} |",
        f"| **added by the gateway hop** | **{gateway['added_p50_ms']:.2f}** | {gateway['added_p99_ms']:.2f} |",
        "",
        f"{gateway['calls']} calls each, interleaved; both fetch the same small JPEG from SeaweedFS. Goal: under 2 ms "
        "added at p50.",
        "",
        "### Upload to result (small JPEG, one at a time)",
        "",
        "| | seconds |",
        "|---|---|",
        f"| S3 put -> probe and thumbnail done, p50 | {latency['probe_thumbnail_p50_s']:.3f} |",
        f"| S3 put -> probe and thumbnail done, max | {latency['probe_thumbnail_max_s']:.3f} |",
        f"| S3 put -> all eight image steps done and stored, p50 | {latency['all_analyzers_p50_s']:.3f} |",
        "",
        f"{latency['uploads']} uploads, through the real bridge, intake, RQ and functions host. Goal: under 1 s for "
        "probe + thumbnail.",
        "",
        "### Image pipeline throughput against the inference bound",
        "",
        "| | images per hour |",
        "|---|---|",
        f"| inference bound (analyzers' in-process CPU time, spread over the cores) | "
        f"{throughput['bound_images_per_hour']:,.0f} |",
        f"| the whole pipeline (upload -> result stored) | {throughput['images_per_hour']:,.0f} |",
        f"| **share of the bound** | **{throughput['share_of_bound']:.0%}** |",
        "",
        f"{throughput['images']} images of 640 px uploaded at once ({throughput['failed']} failed), "
        f"{throughput['seconds']:.1f} s from the first put to the last stored result. Goals: at least 90 % of the "
        "bound and 5,000 images per hour.",
        "",
        "### `make up` from stopped to healthy",
        "",
        f"First start (secrets and buckets made): {up['first_s']:.1f} s; again: {up['again_s']:.1f} s. "
        "Goal: under 15 s.",
        "",
        "### Each analyzer (640 px images, one thread, warm)",
        "",
        analyzers.markdown(result["analyzers"]),
    ])
