"""The stack's internal stores answer only callers that hold its credentials (issue 14, findings 2 and 3)."""

from __future__ import annotations

import pytest
import redis
from redis import Redis

from embedded.stack import Stack


def test_redis_refuses_a_client_without_the_password(redis_server: Stack) -> None:
    s = redis_server.settings
    with pytest.raises(redis.AuthenticationError):
        Redis(host=s.host, port=s.redis_port, socket_timeout=5).hset("ml:apikeys", "forged", "{}")
    assert redis_server.redis().ping(), "the stack's own clients get the password from the URL"


def test_redis_keeps_protected_mode_on(redis_server: Stack) -> None:
    assert redis_server.redis().config_get("protected-mode") == {"protected-mode": "yes"}
