"""The scheduler, functions host and web app serve Prometheus text with the series operators need."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from embedded.stack import Stack
from gpu.budget import Budget, month_of
from gpu.nodes import GpuNode
from gpu.settings import GpuSettings
from scheduler import keys
from scheduler import metrics as scheduler_metrics
from tests.conftest import jpeg, wait_for_upload


def scrape(url: str, key: str = "") -> dict[str, Any]:
    reply = httpx.get(url + "/metrics", timeout=10, headers={"Authorization": f"Bearer {key}"} if key else {})
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(reply.text)}


def value(families: dict[str, Any], sample: str, default: float | None = None, **labels: str) -> float:
    name = sample.removesuffix("_total").removesuffix("_count").removesuffix("_bucket").removesuffix("_sum")
    for family in (families.get(name), families.get(sample)):
        for found in family.samples if family else []:
            if found.name == sample and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    if default is not None:
        return default
    raise AssertionError(f"no sample {sample}{labels} in {sorted(families)}")


def test_after_an_upload_every_component_reports_it(
    running_stack: Stack, s3_client: Any, api: httpx.Client, api_key: str
) -> None:
    s = running_stack.settings
    intake, host, ui = s.url(s.intake_port), s.url(s.gateway_port), s.url(s.ui_port)
    before = scrape(intake)
    accepted_before = value(before, "medialens_intake_events_total", outcome="accepted")
    failures_before = value(before, "medialens_step_failures_total", 0.0, function="probe")
    key = f"metrics/{uuid.uuid4().hex}.jpg"
    s3_client.put_object(Bucket="uploads", Key=key, Body=jpeg(), ContentType="image/jpeg")
    assert wait_for_upload(api, key)["state"] == "done"

    scheduler = scrape(intake)
    assert value(scheduler, "medialens_intake_events_total", outcome="accepted") == accepted_before + 1
    assert value(scheduler, "medialens_step_duration_seconds_count", function="probe") >= 1
    assert value(scheduler, "medialens_step_duration_seconds_count", function="thumbnail") >= 1
    assert value(scheduler, "medialens_step_failures_total", 0.0, function="probe") == failures_before
    assert value(scheduler, "medialens_queue_depth", queue="medialens", state="queued") >= 0
    assert value(scheduler, "medialens_scheduler_redis_up") == 1

    functions = scrape(host)
    assert value(functions, "medialens_function_requests_total", function="probe", status="200") >= 1
    assert value(functions, "medialens_function_duration_seconds_count", function="thumbnail") >= 1
    assert value(functions, "medialens_function_cpu_seconds_total", function="thumbnail") > 0, \
        "what a thumbnail cost the cores"

    assert httpx.get(ui + "/metrics").status_code == 401, "the web app's metrics are an operator's"
    web = scrape(ui, api_key)
    assert value(web, "medialens_ui_requests_total", method="GET", route="/api/v1/uploads/<upload_id>",
                 status="200") >= 1


def test_a_second_delivery_of_the_same_event_counts_as_duplicate(running_stack: Stack, s3_client: Any,
                                                                api: httpx.Client) -> None:
    s = running_stack.settings
    intake = s.url(s.intake_port)
    key = f"metrics/{uuid.uuid4().hex}.jpg"
    body = jpeg()
    s3_client.put_object(Bucket="uploads", Key=key, Body=body, ContentType="image/jpeg")
    wait_for_upload(api, key)
    etag = s3_client.head_object(Bucket="uploads", Key=key)["ETag"].strip('"')
    event = {"EventName": "s3:ObjectCreated:Put", "Key": f"uploads/{key}", "Records": [{
        "eventName": "s3:ObjectCreated:Put",
        "s3": {"bucket": {"name": "uploads"}, "object": {
            "key": key, "size": len(body), "eTag": etag, "contentType": "image/jpeg", "userMetadata": {}}},
    }]}
    before = value(scrape(intake), "medialens_intake_events_total", outcome="duplicate")
    reply = httpx.post(intake + "/events", json=event,
                       headers={"Authorization": f"Bearer {running_stack.secrets.intake_token}"})
    assert reply.status_code == 200 and reply.json()["started"] == []
    assert value(scrape(intake), "medialens_intake_events_total", outcome="duplicate") == before + 1


def test_gpu_spend_is_exported_once_the_budget_books_it(running_stack: Stack) -> None:
    connection = running_stack.redis()
    budget = Budget(connection, GpuSettings())
    now = time.time()
    month = keys.gpu_spend(month_of(now))
    before = float(connection.get(month) or 0.0)
    existing = set(connection.scan_iter(keys.gpu_spend("*")))
    # A node at 36 USD an hour, booked for its last ten seconds: 0.10 USD.
    node = GpuNode(id=4242, offer_id=1, dph=36.0, token="t", created_at=now - 10)
    budget.accrue(node, now)
    try:
        families = scrape(running_stack.settings.url(running_stack.settings.intake_port))
        assert abs(value(families, "medialens_gpu_spend", period="month") - (before + 0.10)) < 1e-6
        assert value(families, "medialens_gpu_spend", period="day") > 0
    finally:
        # The budget never unbooks spend: drop the keys this test made in the shared stack's Redis.
        for key in set(connection.scan_iter(keys.gpu_spend("*"))) - existing:
            connection.delete(key)


def test_worker_observations_add_up_in_redis(redis_db: Redis) -> None:
    for seconds in (0.05, 0.3, 0.3, 700.0):
        scheduler_metrics.record_step(redis_db, "ocr", seconds, failed=False)
    scheduler_metrics.record_step(redis_db, "ocr", 2.0, failed=True)
    scheduler_metrics.record_step(redis_db, "ocr", None, failed=True)
    text = scheduler_metrics.exposition(redis_db, "test-queue").decode()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert value(families, "medialens_step_duration_seconds_bucket", function="ocr", le="0.1") == 1
    assert value(families, "medialens_step_duration_seconds_bucket", function="ocr", le="0.5") == 3
    assert value(families, "medialens_step_duration_seconds_bucket", function="ocr", le="600.0") == 4
    assert value(families, "medialens_step_duration_seconds_bucket", function="ocr", le="+Inf") == 5
    assert value(families, "medialens_step_duration_seconds_count", function="ocr") == 5
    assert abs(value(families, "medialens_step_duration_seconds_sum", function="ocr") - 702.65) < 1e-6
    assert value(families, "medialens_step_failures_total", function="ocr") == 2
    assert "medialens_gpu_spend" not in families
