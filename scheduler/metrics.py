"""Prometheus metrics of the scheduler, served by the intake's /metrics for intake and workers alike."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError
from rq import Queue
from rq.registry import DeferredJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from gpu.budget import booked_usd

from . import health, keys

if TYPE_CHECKING:  # only the intake serves the metrics: a worker records them without importing Flask
    from flask import Flask, Response

logger = logging.getLogger(__name__)

# RQ runs every job in a forked work-horse that exits afterwards, so in-process counters in a
# worker would die with each job. Workers add their observations to these Redis hashes instead and
# the intake exports them: one scrape target sees every worker, on any machine, and a worker
# restart loses nothing.
# (keys.STEP_SECONDS and keys.STEP_FAILURES)

STEP_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
EVENTS = Counter(
    "medialens_intake_events",
    "Upload notifications by outcome: accepted (started work), duplicate (already known), "
    "ignored (another bucket), malformed; unreplicated: a reply refused because a Redis replica did not have "
    "the uploads in time (the event comes again).",
    ["outcome"],
    registry=REGISTRY,
)
for _outcome in ("accepted", "duplicate", "ignored", "malformed", "unreplicated"):
    EVENTS.labels(_outcome)


def _bucket(seconds: float) -> str:
    for bound in STEP_BUCKETS:
        if seconds <= bound:
            return repr(float(bound))
    return "+Inf"


def record_step(connection: Redis, function: str, seconds: float | None, failed: bool) -> None:
    """Adds one finished step; `seconds` is None when a crash left no duration to tell."""
    try:
        with connection.pipeline() as pipe:
            observe_step(pipe, function, seconds, failed)
            pipe.execute()
    except RedisError as exc:
        # A lost observation must never fail the step it describes.
        logger.warning("could not record metrics for %s: %s", function, exc)


def observe_step(pipe: Pipeline, function: str, seconds: float | None, failed: bool) -> None:
    """Queues one finished step's observation on ``pipe`` (a step's settle, which it rides along with)."""
    if seconds is not None:
        pipe.hincrby(keys.STEP_SECONDS, f"{function}|{_bucket(seconds)}", 1)
        pipe.hincrbyfloat(keys.STEP_SECONDS, f"{function}|sum", seconds)
        pipe.hincrby(keys.STEP_SECONDS, f"{function}|count", 1)
    pipe.hincrby(keys.STEP_FAILURES, function, 1 if failed else 0)


def record_repairs(connection: Redis, kinds: Iterable[str]) -> None:
    """Adds what one sweep for lost jobs repaired (scheduler/sweep.py), by kind."""
    found = list(kinds)
    if not found:
        return
    with connection.pipeline() as pipe:
        for kind in found:
            pipe.hincrby(keys.SWEEP_REPAIRS, kind, 1)
        pipe.execute()


class RedisCollector(Collector):
    """Step durations and failures per function, queue depth and GPU spend, read at scrape time."""

    def __init__(self, connection: Redis, queue_name: str) -> None:
        self.connection = connection
        self.queue_name = queue_name

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("medialens_scheduler_redis_up", "1 when Redis answered this scrape.")
        try:
            families = list(self._families())
        except RedisError as exc:
            logger.warning("metrics scrape could not read Redis: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self) -> Iterable[Metric]:
        yield self._durations()
        failures = CounterMetricFamily(
            "medialens_step_failures", "Steps that failed (error, rejection or crash), per function.",
            labels=["function"],
        )
        for function, count in sorted(self.connection.hgetall(keys.STEP_FAILURES).items()):
            failures.add_metric([keys.text(function)], float(count))
        yield failures
        repairs = CounterMetricFamily(
            "medialens_sweep_repairs", "Lost jobs the sweep put back: a step queued again (requeued), an upload "
            "given its finish (finish), or a step failed after too many losses (failed).", labels=["kind"],
        )
        for kind, count in sorted(self.connection.hgetall(keys.SWEEP_REPAIRS).items()):
            repairs.add_metric([keys.text(kind)], float(count))
        yield repairs
        depth = GaugeMetricFamily(
            "medialens_queue_depth", "Jobs on the scheduler's queue by state.", labels=["queue", "state"]
        )
        queue = Queue(self.queue_name, connection=self.connection)
        registries = {
            "started": StartedJobRegistry(queue=queue),
            "deferred": DeferredJobRegistry(queue=queue),
            "scheduled": ScheduledJobRegistry(queue=queue),
        }
        depth.add_metric([self.queue_name, "queued"], queue.count)
        for state, registry in registries.items():
            depth.add_metric([self.queue_name, state], health.jobs_in(registry))
        yield depth
        spend = self._gpu_spend()
        if spend:
            gauge = GaugeMetricFamily(
                "medialens_gpu_spend", "USD booked for rented GPU nodes in this UTC day and month (gpu/budget.py).",
                labels=["period"],
            )
            for period, usd in spend.items():
                gauge.add_metric([period], usd)
            yield gauge

    def _durations(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(
            "medialens_step_duration_seconds", "Time from a step's start to its outcome, per function.",
            labels=["function"],
        )
        fields: dict[str, dict[str, float]] = {}
        for raw_field, raw_value in self.connection.hgetall(keys.STEP_SECONDS).items():
            function, _, part = keys.text(raw_field).rpartition("|")
            fields.setdefault(function, {})[part] = float(raw_value)
        for function, parts in sorted(fields.items()):
            cumulative, buckets = 0.0, []
            for bound in (*(repr(float(b)) for b in STEP_BUCKETS), "+Inf"):
                cumulative += parts.get(bound, 0.0)
                buckets.append((bound, cumulative))
            family.add_metric([function], buckets, sum_value=parts.get("sum", 0.0))
        return family

    def _gpu_spend(self) -> dict[str, float]:
        try:
            return booked_usd(self.connection, time.time())
        except (RedisError, ValueError):
            # What the budget keeps is the GPU code's business: a scrape leaves the gauge out.
            return {}


def exposition(connection: Redis, queue_name: str) -> bytes:
    """The Prometheus text for this scrape: the intake's own counters and what Redis holds."""
    scraped = CollectorRegistry()
    scraped.register(RedisCollector(connection, queue_name))
    return generate_latest(REGISTRY) + generate_latest(scraped)


def install(app: Flask, connection: Redis, queue_name: str) -> None:
    @app.get("/metrics")
    def metrics() -> Response:
        return app.response_class(exposition(connection, queue_name), content_type=CONTENT_TYPE_LATEST)
