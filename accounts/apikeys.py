"""API keys for programs: each belongs to one workspace with one role (or to the operator), may
expire, and is stored only as a digest; listed without its secret, revoked at once."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from redis import Redis

from scheduler import keys

from .roles import Role

SECRET_PREFIX = "ml_"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    workspace: str  # "" for a key that only runs the installation
    role: str  # the Role it has in its workspace; "" without one
    created_by: str
    created_at: float
    expires_at: float | None = None
    operator: bool = False  # may also run the installation: workspaces, the system page

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and (now or time.time()) >= self.expires_at

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ApiKeys:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def create(
        self, workspace: str, role: Role | None, name: str, created_by: str, expires_at: float | None = None,
        operator: bool = False,
    ) -> tuple[ApiKey, str]:
        """A new key and its secret, which is shown this once and never stored."""
        if (role is None) != (not workspace):
            raise ValueError("a key has a role exactly when it has a workspace")
        if not workspace and not operator:
            raise ValueError("a key without a workspace must be an operator's")
        if expires_at is not None and expires_at <= time.time():
            raise ValueError("a key's expiry must lie in the future")
        secret = SECRET_PREFIX + secrets.token_urlsafe(24)
        found = ApiKey(secrets.token_hex(6), name.strip()[:80] or "key", workspace, role.value if role else "",
                       created_by, time.time(), expires_at, operator)
        self.store(found, digest(secret))
        return found, secret

    def store(self, found: ApiKey, key_digest: str) -> None:
        """Keeps a key's record under the digest of its secret."""
        named = key_digest
        with self.redis.pipeline() as pipe:
            pipe.hset(keys.API_KEYS, named, json.dumps(found.to_dict()))
            pipe.hset(keys.workspace_keys(found.workspace), found.id, named)
            pipe.execute()

    def authenticate(self, secret: str | None) -> ApiKey | None:
        """The key this secret names, when it is neither revoked nor expired."""
        if not secret:
            return None
        # Only digests are stored, so the lookup itself reveals nothing about valid keys.
        raw = self.redis.hget(keys.API_KEYS, digest(secret.strip()))
        if raw is None:
            return None
        found = ApiKey(**json.loads(raw))
        return None if found.expired() else found

    def list(self, workspace: str) -> list[ApiKey]:
        """A workspace's keys (or the operator's, for ""), oldest first; secrets are never shown again."""
        digests = [keys.text(d) for d in self.redis.hvals(keys.workspace_keys(workspace))]
        raw = self.redis.hmget(keys.API_KEYS, digests) if digests else []
        return sorted((ApiKey(**json.loads(r)) for r in raw if r), key=lambda k: k.created_at)

    def revoke(self, workspace: str, key_id: str) -> bool:
        """Revokes a key of this workspace; False when it has none by that id."""
        found = self.redis.hget(keys.workspace_keys(workspace), key_id)
        if found is None:
            return False
        with self.redis.pipeline() as pipe:
            pipe.hdel(keys.API_KEYS, keys.text(found))
            pipe.hdel(keys.workspace_keys(workspace), key_id)
            pipe.execute()
        return True

    def revoke_all(self, workspace: str) -> int:
        ids = [keys.text(k) for k in self.redis.hkeys(keys.workspace_keys(workspace))]
        return sum(self.revoke(workspace, key_id) for key_id in ids)
