"""Each process works in one context built at its entry point; a test or a second app builds its own."""

from __future__ import annotations

from redis import Redis

from embedded.stack import Stack
from scheduler import context, routing
from scheduler.context import Context, using
from scheduler.settings import SchedulerSettings
from search.index import index
from storage.client import Store


def test_jobs_read_the_context_their_entry_point_built(redis_db: Redis, redis_server: Stack) -> None:
    url = redis_server.redis_url(15)
    mine = Context.from_environment(
        SchedulerSettings(redis_url=url, gateways={"cpu": "http://127.0.0.1:9"}), store=Store()
    )
    before = context.current()
    with using(mine):
        context.redis().set("context-test", "seen")
        assert redis_db.get("context-test") == b"seen", "the module accessors read the context in use"
        assert routing.gateway("cpu") is routing.gateway("cpu"), "one gateway client per context"
        assert index() is index() and index().redis is mine.redis
    assert context.current() is before, "the context before the block is current again"
    with using(Context.from_environment(SchedulerSettings(redis_url=url), store=Store())) as fresh:
        assert fresh.shared("search.index", lambda: None) is None, "a new context builds its services afresh"
