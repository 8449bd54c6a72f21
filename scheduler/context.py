"""The services a process works with, built once by its entry point and handed down.

An entry point (a worker, the intake, the web app, the GPU manager) builds one `Context` from its
settings and calls `use()`; RQ jobs, which cannot be handed objects, read it with `current()`.
A test builds a context of its own (`using(...)`) instead of clearing caches. A process that never
built one gets one from its environment on first use.

Subsystems keep what they build per context (`shared`): search its index and settings, GPU
burst its settings, so a new context starts them afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from redis import Redis
from rq import Queue

from storage.client import Audience, Store

from . import redis_connection
from .gateway import Gateway
from .hooks import PipelineHook
from .settings import SchedulerSettings

T = TypeVar("T")


@dataclass
class Context:
    settings: SchedulerSettings
    redis: Redis
    store: Store
    hooks: list[PipelineHook] = field(default_factory=list)
    _shared: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_environment(cls, settings: SchedulerSettings | None = None, store: Store | None = None) -> Context:
        settings = settings or SchedulerSettings()
        return cls(settings, redis_connection.connect(settings.redis_url), store or Store())

    @property
    def queue(self) -> Queue:
        return Queue(self.settings.queue, connection=self.redis)

    def replicated(self) -> bool:
        """Whether every write so far is on as many replicas as the settings want (at once when none):
        what passes this survives the master's death (gateway-config/README.md, "Redis failover")."""
        wanted = self.settings.replicas_wanted()
        return wanted == 0 or redis_connection.replicated(
            self.redis, wanted, self.settings.redis_replica_wait_ms) >= wanted

    def shared(self, name: str, build: Callable[[], T]) -> T:
        """One ``name`` per context, built on first use (a gateway client, the search index...)."""
        if name not in self._shared:
            self._shared[name] = build()
        found: T = self._shared[name]
        return found

    def gateway(self, name: str) -> Gateway:
        """The configured gateway ``name``, one client per context."""
        s = self.settings
        if name not in s.gateways:
            raise KeyError(f"no gateway named {name!r}; configured: {sorted(s.gateways)}")
        # Functions behind a configured gateway run inside the VPS: they fetch through the internal address.
        return self.shared(f"gateway:{name}", lambda: Gateway(
            name, s.gateways[name], auth=(s.gateway_user, s.gateway_password), token=s.gateway_token,
            audience=Audience.FUNCTIONS))


_current: list[Context] = []


def use(context: Context) -> Context:
    """Makes ``context`` the process's own."""
    _current[:] = [context]
    return context


def current() -> Context:
    if not _current:
        use(Context.from_environment())
    return _current[0]


@contextmanager
def using(context: Context | None = None) -> Iterator[Context]:
    """``context`` (or one from the environment) for the time of a ``with`` block, then the one
    before it again, whatever the block made current (tests, one app among several)."""
    before = list(_current)
    try:
        yield use(context or Context.from_environment())
    finally:
        _current[:] = before


def settings() -> SchedulerSettings:
    return current().settings


def redis() -> Redis:
    return current().redis


def queue() -> Queue:
    return current().queue


def store() -> Store:
    return current().store
