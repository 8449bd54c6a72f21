"""Which gateway runs a step: the one place that decides where work goes."""

from __future__ import annotations

from functions import catalog
from gpu import gateway as gpu_gateway
from gpu.settings import settings as gpu_settings

from .context import current, redis
from .gateway import Gateway

CPU = "cpu"


def gateway(name: str) -> Gateway:
    """A configured gateway (one client per process context)."""
    return current().gateway(name)


def route(function: str) -> Gateway:
    """Functions stack.yml marks for the GPU go to a ready GPU node whose breaker is closed; everything
    else, and every such step while no node exists, runs on the CPU gateway. Called again on each attempt,
    so a retry after a node failure lands on the CPU."""
    gpu = gpu_settings()
    if gpu.enabled and catalog.spec(function).gpu:
        node = gpu_gateway.pick(function, redis(), gpu)
        if node is not None:
            return node
    return gateway(CPU)
