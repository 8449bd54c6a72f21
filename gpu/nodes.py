"""Rented GPU nodes and their load, kept in Redis so any worker and the manager see the same nodes."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from redis import Redis

from scheduler import keys

from . import clock


class NodeState(StrEnum):
    STARTING = "starting"  # rented, image loading or models warming up
    READY = "ready"  # takes heavy steps
    DRAINING = "draining"  # takes no new steps; destroyed once idle or at the next tick


@dataclass
class GpuNode:
    id: int  # the Vast.ai instance id
    offer_id: int
    dph: float  # USD per hour, as Vast.ai bills it
    token: str
    created_at: float
    cert: str = ""  # the node's own TLS certificate (PEM): the only one its client trusts
    state: NodeState = NodeState.STARTING
    gpu_name: str = ""
    url: str = ""
    ready_at: float | None = None
    accrued_until: float = 0.0  # spend is booked up to here
    functions: list[str] = field(default_factory=list)
    unhealthy: int = 0  # failed health checks in a row
    reason: str = ""  # why it is draining
    draining_since: float | None = None

    def __post_init__(self) -> None:
        if self.dph < 0:
            raise ValueError(f"a node cannot cost {self.dph} per hour")
        self.state = NodeState(self.state)
        self.accrued_until = self.accrued_until or self.created_at

    @property
    def gateway_name(self) -> str:
        return f"gpu-{self.id}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GpuNode:
        return cls(**data)

    def public(self) -> dict[str, Any]:
        """What the API shows: everything but the token."""
        data = self.to_dict()
        data.pop("token")
        return data


@dataclass(frozen=True)
class Load:
    in_flight: int
    last_busy: float
    busy_s: float
    calls: int


class Nodes:
    """The node records (written by the manager) and each node's load (written by the calls)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def all(self) -> list[GpuNode]:
        raw = self.redis.hgetall(keys.GPU_NODES)
        return sorted((GpuNode.from_dict(json.loads(v)) for v in raw.values()), key=lambda n: n.created_at)

    def get(self, node_id: int) -> GpuNode | None:
        raw = self.redis.hget(keys.GPU_NODES, str(node_id))
        return GpuNode.from_dict(json.loads(raw)) if raw else None

    def put(self, node: GpuNode) -> None:
        self.redis.hset(keys.GPU_NODES, str(node.id), json.dumps(node.to_dict()))

    def forget(self, node_id: int) -> None:
        with self.redis.pipeline() as pipe:
            pipe.hdel(keys.GPU_NODES, str(node_id))
            pipe.delete(self._load_key(node_id))
            pipe.execute()

    @staticmethod
    def _load_key(node_id: int) -> str:
        return keys.gpu_load(node_id)

    def begin(self, node_id: int) -> float:
        started = clock.now()
        with self.redis.pipeline() as pipe:
            pipe.hincrby(self._load_key(node_id), "in_flight", 1)
            pipe.hset(self._load_key(node_id), "last_busy", started)
            pipe.execute()
        return started

    def end(self, node_id: int, started: float) -> None:
        finished = clock.now()
        with self.redis.pipeline() as pipe:
            pipe.hincrby(self._load_key(node_id), "in_flight", -1)
            pipe.hincrby(self._load_key(node_id), "calls", 1)
            pipe.hincrbyfloat(self._load_key(node_id), "busy_s", max(0.0, finished - started))
            pipe.hset(self._load_key(node_id), "last_busy", finished)
            pipe.execute()

    def touch(self, node_id: int, at: float) -> None:
        """A node that just became ready counts as busy from then: its idle time starts there."""
        self.redis.hset(self._load_key(node_id), "last_busy", at)

    def load(self, node_id: int) -> Load:
        raw = keys.texts(self.redis.hgetall(self._load_key(node_id)))
        return Load(
            in_flight=max(0, int(raw.get("in_flight", 0))),
            last_busy=float(raw.get("last_busy", 0.0)),
            busy_s=float(raw.get("busy_s", 0.0)),
            calls=int(raw.get("calls", 0)),
        )
