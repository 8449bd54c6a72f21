"""How the pipeline is: each gateway's functions and readiness, RQ queues and workers (the System page)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from redis import Redis
from rq import Queue, Worker
from rq.registry import BaseRegistry

from .context import current, settings
from .settings import SchedulerSettings
from .transport import GatewayError

logger = logging.getLogger(__name__)

# How the template's readiness reports a load that raised contract.ModelNotInstalled ("<type>: <message>").
NOT_INSTALLED_ERROR = "ModelNotInstalled:"


@dataclass
class FunctionStatus:
    name: str
    gateway: str
    ready: bool
    invocations: int = 0
    image: str = ""
    error: str = ""
    # The function runs but its engine's weights are absent (contract.ModelNotInstalled at load):
    # it stays so until someone installs them, so it is no "loading".
    not_installed: bool = False


@dataclass
class GatewayStatus:
    name: str
    url: str
    reachable: bool
    error: str = ""
    functions: list[FunctionStatus] = field(default_factory=list)


@dataclass
class QueueStatus:
    name: str
    queued: int
    running: int
    deferred: int
    failed: int
    finished: int


@dataclass
class WorkerStatus:
    name: str
    state: str
    queues: list[str]
    current: str
    successful: int
    failed: int


def function_status(gateway: str, described: dict[str, Any]) -> FunctionStatus:
    annotations = described.get("annotations") or {}
    ready_note = annotations.get("medialens.ready")
    # faasd has no readiness annotation: there a function with an available replica is ready.
    available = int(described.get("availableReplicas") or 0) > 0
    ready = ready_note == "true" if ready_note is not None else available
    return FunctionStatus(
        name=str(described.get("name", "?")),
        gateway=gateway,
        ready=ready,
        invocations=int(described.get("invocationCount") or 0),
        image=str(described.get("image") or ""),
        error=str(annotations.get("medialens.error") or ""),
        not_installed=str(annotations.get("medialens.error") or "").startswith(NOT_INSTALLED_ERROR),
    )


def gateways() -> list[GatewayStatus]:
    config = settings()
    found = []
    for name in config.gateways:
        gateway = current().gateway(name)
        try:
            described = gateway.functions()
        except (GatewayError, ValueError) as exc:
            logger.info("gateway %s did not list its functions: %s", name, exc)
            reason = str(exc) or type(exc).__name__
            found.append(GatewayStatus(name, gateway.url, reachable=False, error=reason))
            continue
        functions = sorted((function_status(name, item) for item in described), key=lambda f: f.name)
        found.append(GatewayStatus(name, gateway.url, reachable=True, functions=functions))
    return found


def queues(connection: Redis) -> list[QueueStatus]:
    return [
        QueueStatus(
            name=queue.name,
            queued=queue.count,
            running=jobs_in(queue.started_job_registry),
            deferred=jobs_in(queue.deferred_job_registry),
            failed=jobs_in(queue.failed_job_registry),
            finished=jobs_in(queue.finished_job_registry),
        )
        for queue in sorted(Queue.all(connection=connection), key=lambda q: q.name)
    ]


def retention(config: SchedulerSettings) -> dict[str, str]:
    """How long RQ keeps a finished and a failed job, which is all the System page's counts of them cover."""
    return {"finished": span(config.result_ttl_s), "failed": span(config.failure_ttl_s)}


def span(seconds: int) -> str:
    """``seconds`` in the largest unit that divides it: 10 min, 24 h, 90 s."""
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def jobs_in(registry: BaseRegistry) -> int:
    """How many jobs a registry holds, as it stands. RQ's `count` first cleans the registry up, and for a job
    whose worker died that runs the job's failure callback right here: in a web page's thread (where RQ's
    timeout signal cannot be set, so the System page failed) and outside any worker. Abandoned jobs are
    the workers' and the sweep's to settle."""
    return registry.get_job_count(cleanup=False)


def workers(connection: Redis) -> list[WorkerStatus]:
    found = []
    for worker in sorted(Worker.all(connection=connection), key=lambda w: w.name):
        job = worker.get_current_job()
        found.append(
            WorkerStatus(
                name=worker.name,
                state=str(getattr(worker.get_state(), "value", worker.get_state())),
                queues=worker.queue_names(),
                current=(job.description or job.id) if job is not None else "",
                successful=int(worker.successful_job_count or 0),
                failed=int(worker.failed_job_count or 0),
            )
        )
    return found
