"""Which gateway runs a step: the one place that decides where work goes."""

from __future__ import annotations

from functools import lru_cache

from .gateway import Gateway
from .settings import settings

CPU = "cpu"


@lru_cache(maxsize=8)
def gateway(name: str) -> Gateway:
    s = settings()
    if name not in s.gateways:
        raise KeyError(f"no gateway named {name!r}; configured: {sorted(s.gateways)}")
    return Gateway(name, s.gateways[name], auth=(s.gateway_user, s.gateway_password))


def route(function: str) -> Gateway:
    """Every step runs on the CPU gateway; GPU routing plugs in here."""
    return gateway(CPU)
