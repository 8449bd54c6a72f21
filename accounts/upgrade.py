"""First start and upgrade: an installation from before workspaces becomes one workspace owned by its
admin, with nothing lost or processed again; a new one gets its first workspace and admin."""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass

from redis import Redis

from scheduler import keys
from storage.layout import LEGACY_WORKSPACE

from .apikeys import ApiKey, ApiKeys
from .roles import Role
from .users import Users
from .workspaces import Workspaces

logger = logging.getLogger(__name__)

VERSION = "1"
ADMIN = "admin"


@dataclass(frozen=True)
class FirstStart:
    """What a person must be told once: the admin's password, when this start made one."""

    password: str | None = None


def _legacy_keys(redis: Redis) -> int:
    """Keys from before workspaces ({name, role, created}) become keys of the default workspace:
    an admin key its owner's and the operator's, any other its editor's. Their secrets keep working."""
    converted = 0
    for raw_digest, raw in redis.hgetall(keys.API_KEYS).items():
        record = json.loads(raw)
        if "workspace" in record:
            continue
        admin = record.get("role") == "admin"
        found = ApiKey(secrets.token_hex(6), str(record.get("name") or "key"), LEGACY_WORKSPACE,
                       (Role.OWNER if admin else Role.EDITOR).value, ADMIN, float(record.get("created") or 0),
                       None, operator=admin)
        ApiKeys(redis).store(found, keys.text(raw_digest))
        converted += 1
    return converted


def admin_key(redis: Redis) -> str:
    """A new key of the admin (owner of the first workspace, and operator), for the command line."""
    return ApiKeys(redis).create(LEGACY_WORKSPACE, Role.OWNER, "admin", ADMIN, operator=True)[1]


def upgrade(redis: Redis, admin_password: str = "") -> FirstStart:
    """Brings accounts to this version once (later calls do nothing); safe to run from any entry point.

    The first admin's password is ``admin_password`` when the installer chose one (the embedded stack
    does, and prints it), else a random one this returns to be told once."""
    if keys.text(redis.get(keys.ACCOUNTS_VERSION) or b"") == VERSION:
        return FirstStart()
    with redis.lock(f"{keys.ACCOUNTS_VERSION}:lock", timeout=120, blocking_timeout=120):
        if keys.text(redis.get(keys.ACCOUNTS_VERSION) or b"") == VERSION:
            return FirstStart()
        workspaces, users = Workspaces(redis), Users(redis)
        if not workspaces.exists(LEGACY_WORKSPACE):
            workspaces.create("Default", workspace=LEGACY_WORKSPACE)
        converted = _legacy_keys(redis)
        started = FirstStart()
        if users.get(ADMIN) is None:
            password = admin_password or secrets.token_urlsafe(12)
            users.create(ADMIN, password, operator=True)
            workspaces.set_role(LEGACY_WORKSPACE, ADMIN, Role.OWNER)
            started = FirstStart(password=None if admin_password else password)
        redis.set(keys.ACCOUNTS_VERSION, VERSION)
        logger.info("accounts upgraded: %d key(s) from before workspaces now in %s", converted, LEGACY_WORKSPACE)
        return started
