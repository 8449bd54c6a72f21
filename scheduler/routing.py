"""Which gateway runs a step: the one place that decides where work goes."""

from __future__ import annotations

from functools import lru_cache

from functions import catalog
from gpu import gateway as gpu_gateway
from gpu.settings import settings as gpu_settings
from storage.client import Audience

from .connection import redis
from .gateway import Gateway
from .settings import settings

CPU = "cpu"


@lru_cache(maxsize=8)
def gateway(name: str) -> Gateway:
    s = settings()
    if name not in s.gateways:
        raise KeyError(f"no gateway named {name!r}; configured: {sorted(s.gateways)}")
    # Functions behind a configured gateway run inside the VPS: they fetch through the internal address.
    return Gateway(name, s.gateways[name], auth=(s.gateway_user, s.gateway_password), audience=Audience.FUNCTIONS)


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
