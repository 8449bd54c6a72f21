"""Workspaces (tenants) and their members: who belongs where, with which role."""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import asdict, dataclass
from typing import Any

from redis import Redis

from scheduler import keys
from storage.layout import valid_workspace

from .roles import Role


class WorkspaceNotFound(KeyError):
    pass


@dataclass(frozen=True)
class Workspace:
    id: str
    name: str
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def new_id(name: str) -> str:
    """A workspace id from its name: readable, unique, and fit for a bucket prefix."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:20] or "ws"
    return f"{slug}-{secrets.token_hex(3)}"


class Workspaces:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def create(self, name: str, owner: str | None = None, workspace: str | None = None) -> Workspace:
        name = name.strip()
        if not name or len(name) > 80:
            raise ValueError("a workspace needs a name of 1 to 80 characters")
        found = Workspace(id=workspace or new_id(name), name=name, created_at=time.time())
        if not valid_workspace(found.id):
            raise ValueError(f"not a workspace id: {found.id!r}")
        if not self.redis.hsetnx(keys.WORKSPACES, found.id, json.dumps(found.to_dict())):
            raise ValueError(f"workspace {found.id} exists already")
        if owner:
            self.set_role(found.id, owner, Role.OWNER)
        return found

    def get(self, workspace: str) -> Workspace:
        raw = self.redis.hget(keys.WORKSPACES, workspace)
        if raw is None:
            raise WorkspaceNotFound(workspace)
        return Workspace(**json.loads(raw))

    def exists(self, workspace: str) -> bool:
        return bool(workspace) and bool(self.redis.hexists(keys.WORKSPACES, workspace))

    def all(self) -> list[Workspace]:
        found = [Workspace(**json.loads(raw)) for raw in self.redis.hvals(keys.WORKSPACES)]
        return sorted(found, key=lambda w: w.created_at)

    def rename(self, workspace: str, name: str) -> Workspace:
        current = self.get(workspace)
        renamed = Workspace(current.id, name.strip() or current.name, current.created_at)
        self.redis.hset(keys.WORKSPACES, workspace, json.dumps(renamed.to_dict()))
        return renamed

    def members(self, workspace: str) -> dict[str, Role]:
        return {keys.text(k): Role(keys.text(v)) for k, v in self.redis.hgetall(keys.members(workspace)).items()}

    def role_of(self, workspace: str, user: str) -> Role | None:
        raw = self.redis.hget(keys.members(workspace), user)
        return Role(keys.text(raw)) if raw else None

    def of_user(self, user: str) -> dict[str, Role]:
        """The workspaces a person belongs to, with their role in each."""
        return {keys.text(k): Role(keys.text(v)) for k, v in self.redis.hgetall(keys.user_workspaces(user)).items()}

    def set_role(self, workspace: str, user: str, role: Role) -> None:
        self.get(workspace)
        with self.redis.pipeline() as pipe:
            pipe.hset(keys.members(workspace), user, role.value)
            pipe.hset(keys.user_workspaces(user), workspace, role.value)
            pipe.execute()

    def remove_member(self, workspace: str, user: str) -> bool:
        with self.redis.pipeline() as pipe:
            pipe.hdel(keys.members(workspace), user)
            pipe.hdel(keys.user_workspaces(user), workspace)
            removed, _ = pipe.execute()
        return bool(removed)

    def forget(self, workspace: str) -> None:
        """Removes the workspace and its memberships from the registry (the erasure of its data is
        accounts/erasure.py's)."""
        for user in self.members(workspace):
            self.redis.hdel(keys.user_workspaces(user), workspace)
        self.redis.delete(keys.members(workspace))
        self.redis.hdel(keys.WORKSPACES, workspace)
