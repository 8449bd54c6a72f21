"""The stack's internal stores answer only callers that hold its credentials (issue 14, findings 2 and 3)."""

from __future__ import annotations

import uuid
from typing import Any

import botocore.exceptions
import httpx
import pytest
import redis
from redis import Redis

from embedded.stack import Stack
from storage.client import Store
from tests.conftest import TEST_INPUTS


def test_redis_refuses_a_client_without_the_password(redis_server: Stack) -> None:
    s = redis_server.settings
    with pytest.raises(redis.AuthenticationError):
        Redis(host=s.host, port=s.redis_port, socket_timeout=5).hset("ml:apikeys", "forged", "{}")
    assert redis_server.redis().ping(), "the stack's own clients get the password from the URL"


def test_redis_keeps_protected_mode_on(redis_server: Stack) -> None:
    assert redis_server.redis().config_get("protected-mode") == {"protected-mode": "yes"}


def refused(method: str, url: str) -> bool:
    """True when the server turns an unsigned request away, or nothing listens there."""
    try:
        reply = httpx.request(method, url, content=b"forged" if method in ("PUT", "POST") else None, timeout=5)
    except httpx.ConnectError:
        return True
    return reply.status_code in (401, 403)


def test_seaweedfs_filer_and_volume_refuse_unsigned_requests(stack: Stack, store: Store, s3_client: Any) -> None:
    s = store.settings
    key = f"{TEST_INPUTS}/{uuid.uuid4().hex}.txt"
    s3_client.put_object(Bucket=s.uploads_bucket, Key=key, Body=b"private words")
    assert s3_client.get_object(Bucket=s.uploads_bucket, Key=key)["Body"].read() == b"private words"
    filer = stack.settings.url(stack.settings.filer_port)
    volume = stack.settings.url(stack.settings.seaweed_port_base + 6)
    for method, url in [
        ("GET", f"{filer}/buckets/{s.uploads_bucket}/{key}"),
        ("GET", f"{filer}/buckets/{s.uploads_bucket}/"),
        ("PUT", f"{filer}/buckets/{s.uploads_bucket}/{TEST_INPUTS}/forged.jpg"),
        ("POST", f"{filer}/buckets/{s.uploads_bucket}/{TEST_INPUTS}/"),
        ("GET", f"{volume}/1,01"),
        ("PUT", f"{volume}/1,0123456789"),
        ("GET", f"{volume}/ui/index.html"),
    ]:
        assert refused(method, url), f"{method} {url} answered without credentials"
    with pytest.raises(botocore.exceptions.ClientError):
        s3_client.head_object(Bucket=s.uploads_bucket, Key=f"{TEST_INPUTS}/forged.jpg")
