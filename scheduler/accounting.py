"""What uploads cost their workspace: files and bytes stored as they arrive and leave, and for each
finished upload the CPU seconds of its steps and the GPU dollars of those a rented node ran."""

from __future__ import annotations

import logging
from collections.abc import Callable

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError

from accounts.usage import Usage
from gpu.nodes import Nodes

from .uploads import Step, Upload

logger = logging.getLogger(__name__)

GPU_GATEWAY_PREFIX = "gpu-"


def arrived(redis: Redis, upload: Upload) -> None:
    usage = Usage(redis)
    usage.started(upload.workspace)
    usage.stored(upload.workspace, 1, upload.size)


def left(redis: Redis, upload: Upload) -> None:
    Usage(redis).stored(upload.workspace, -1, -upload.size)


def _seconds(step: Step) -> float:
    if step.started_at is None or step.finished_at is None:
        return 0.0
    return max(step.finished_at - step.started_at, 0.0)


def gpu_usd(redis: Redis, steps: dict[str, Step]) -> float:
    """The share of rented nodes' price for the time they spent on these steps (a node already
    given back has no price left to read, and is not counted)."""
    total, nodes = 0.0, Nodes(redis)
    for step in steps.values():
        if step.gateway.startswith(GPU_GATEWAY_PREFIX):
            node = nodes.get(int(step.gateway.removeprefix(GPU_GATEWAY_PREFIX)))
            if node is not None:
                total += _seconds(step) * node.dph / 3600
    return total


def booking(redis: Redis, upload: Upload, steps: dict[str, Step]) -> Callable[[Pipeline], None]:
    """Books one processed file: read now, written by the transaction that ends the upload, so a
    finish run again after a crash never books it twice. A price that cannot be read is not booked
    rather than holding the upload back."""
    cpu_s = sum(_seconds(s) for s in steps.values() if not s.gateway.startswith(GPU_GATEWAY_PREFIX))
    try:
        spent = gpu_usd(redis, steps)
    except RedisError as exc:
        logger.warning("could not read the GPU price of %s: %s", upload.id, exc)
        spent = 0.0
    usage = Usage(redis)

    def book(pipe: Pipeline) -> None:
        usage.processed(upload.workspace, cpu_s, into=pipe)
        if spent:
            usage.gpu_spent(upload.workspace, spent, into=pipe)

    return book
