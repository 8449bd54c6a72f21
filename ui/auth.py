"""API keys: stored hashed in Redis; an admin key is made at first start and shown once."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass

from redis import Redis

from scheduler import keys


@dataclass(frozen=True)
class Principal:
    name: str
    role: str


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(redis: Redis, name: str, role: str = "user") -> str:
    key = "ml_" + secrets.token_urlsafe(24)
    redis.hset(keys.API_KEYS, digest(key), json.dumps({"name": name, "role": role, "created": time.time()}))
    return key


def ensure_admin_key(redis: Redis) -> str | None:
    """Makes the first admin key and returns it; None when keys exist already."""
    if redis.hlen(keys.API_KEYS):
        return None
    lock = redis.set(f"{keys.API_KEYS}:init", "1", nx=True)
    if not lock:
        return None
    return create_key(redis, "admin", role="admin")


def authenticate(redis: Redis, key: str | None) -> Principal | None:
    # Only digests are stored, so the lookup itself reveals nothing about valid keys.
    return by_digest(redis, digest(key)) if key else None


def by_digest(redis: Redis, key_digest: str) -> Principal | None:
    """The principal of the key with this digest (what a session keeps instead of the key)."""
    raw = redis.hget(keys.API_KEYS, key_digest)
    if raw is None:
        return None
    data = json.loads(raw)
    return Principal(name=data["name"], role=data["role"])


def key_from_headers(authorization: str, api_key_header: str | None) -> str | None:
    if api_key_header:
        return api_key_header
    if authorization.startswith("Bearer "):
        return authorization[len("Bearer ") :]
    return None
