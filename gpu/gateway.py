"""The gateway of a rented GPU node: picks a usable node and reports each call to its breaker and load."""

from __future__ import annotations

import logging
import threading
from typing import Any
from urllib.parse import urlsplit

from redis import Redis

from scheduler import keys
from scheduler.gateway import Gateway, Reply
from scheduler.transport import GatewayError, TimedOut
from storage.client import Audience

from . import clock
from .breaker import Breaker
from .budget import month_of
from .nodes import GpuNode, Nodes, NodeState
from .settings import GpuSettings
from .tls import pinned_context

logger = logging.getLogger(__name__)

# Answers that say the node, not the input, is wrong: the step is retried elsewhere.
NODE_FAULTS = {401, 403, 404}


class NodeFailed(GatewayError):
    """The node answered as no working gateway would; raised so the call is retried on another gateway."""


def files_key(at: float) -> str:
    return keys.gpu_files(month_of(at))


class NodeGateway(Gateway):
    def __init__(self, node: GpuNode, redis: Redis, settings: GpuSettings) -> None:
        # A rented node is outside the VPS: it fetches through the store's public HTTPS name.
        # A node without a certificate of its own gets the system's CAs: its self-signed one fails.
        super().__init__(node.gateway_name, node.url, auth=("admin", node.token), token=node.token,
                         audience=Audience.PUBLIC, verify=pinned_context(node.cert) if node.cert else None)
        self.node_id = node.id
        self.nodes = Nodes(redis)
        self.breaker = Breaker(redis, settings.breaker_failures, settings.breaker_cooldown_s)

    def invoke(self, function: str, payload: dict[str, Any], timeout_s: float) -> Reply:
        started = self.nodes.begin(self.node_id)
        try:
            reply = super().invoke(function, payload, timeout_s)
        except TimedOut:
            self.breaker.failure(self.name)
            raise
        except GatewayError as exc:
            # A lost connection means the node is gone or going: no more calls until it proves otherwise.
            self.breaker.failure(self.name, trip=True)
            logger.warning("GPU node %s failed a call of %s: %s; retrying elsewhere",
                           self.name, function, exc)
            raise
        finally:
            self.nodes.end(self.node_id, started)
        if reply.status in NODE_FAULTS:
            self.breaker.failure(self.name, trip=True)
            raise NodeFailed(f"GPU node {self.name} answered HTTP {reply.status} for {function}: "
                             f"{reply.error}")
        if reply.status >= 500:
            self.breaker.failure(self.name)
        else:
            self.breaker.success(self.name)
            self._count_file(payload)
        return reply

    def _count_file(self, payload: dict[str, Any]) -> None:
        """Counts distinct source objects (the presigned URL's bucket/key path) for cost per file."""
        url = str((payload.get("source") or {}).get("url") or "")
        if url:
            self.nodes.redis.pfadd(files_key(clock.now()), urlsplit(url).path)


_gateways: dict[tuple[int, str, str, str, int], NodeGateway] = {}
_lock = threading.Lock()


def node_gateway(node: GpuNode, redis: Redis, settings: GpuSettings) -> NodeGateway:
    """One gateway (and HTTP client) per node address, token and certificate, reused across calls."""
    key = (node.id, node.url, node.token, node.cert, id(redis))
    with _lock:
        found = _gateways.get(key)
        if found is None:
            found = _gateways[key] = NodeGateway(node, redis, settings)
        return found


def pick(function: str, redis: Redis, settings: GpuSettings) -> NodeGateway | None:
    """The least loaded ready node that serves `function` and whose breaker lets calls through."""
    nodes = Nodes(redis)
    breaker = Breaker(redis, settings.breaker_failures, settings.breaker_cooldown_s)
    usable = [
        node for node in nodes.all()
        if node.state == NodeState.READY and node.url and function in node.functions
        and breaker.allows(node.gateway_name)
    ]
    if not usable:
        return None
    best = min(usable, key=lambda node: nodes.load(node.id).in_flight)
    return node_gateway(best, redis, settings)
