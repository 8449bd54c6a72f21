"""The Redis connection and RQ queue every scheduler part shares."""

from __future__ import annotations

from functools import lru_cache

from redis import Redis
from rq import Queue

from .settings import settings


@lru_cache(maxsize=4)
def redis(url: str | None = None) -> Redis:
    return Redis.from_url(url or settings().redis_url)


def queue(connection: Redis | None = None) -> Queue:
    return Queue(settings().queue, connection=connection or redis())
