"""What uploads cost their workspace: files and bytes stored as they arrive and leave, and for each
finished upload the CPU seconds of its steps and the GPU dollars of those a rented node ran."""

from __future__ import annotations

import logging

from redis import Redis
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


def finished(redis: Redis, upload: Upload, steps: dict[str, Step]) -> None:
    """Books one processed file; a lost booking never fails the upload it describes."""
    try:
        usage = Usage(redis)
        usage.processed(upload.workspace, sum(_seconds(s) for s in steps.values() if not s.gateway.startswith(
            GPU_GATEWAY_PREFIX)))
        spent = gpu_usd(redis, steps)
        if spent:
            usage.gpu_spent(upload.workspace, spent)
    except RedisError as exc:
        logger.warning("could not book the usage of %s: %s", upload.id, exc)
