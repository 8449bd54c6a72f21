"""An installation from before workspaces becomes one workspace owned by its admin on first start:
its keys keep working with the roles they had, its uploads are listed there, nothing runs again."""

from __future__ import annotations

import hashlib
import json

from redis import Redis

from accounts.apikeys import ApiKeys
from accounts.roles import Role
from accounts.upgrade import ADMIN, upgrade
from accounts.users import Users
from accounts.workspaces import Workspaces
from scheduler.uploads import State, Upload, Uploads
from storage.events import UploadEvent
from storage.layout import LEGACY_WORKSPACE


def old_key(redis: Redis, secret: str, name: str, role: str) -> None:
    """A key as the version before workspaces kept it: {name, role, created} under the secret's digest."""
    digest = hashlib.sha256(secret.encode()).hexdigest()
    redis.hset("ml:apikeys", digest, json.dumps({"name": name, "role": role, "created": 1_700_000_000.0}))


def old_upload(redis: Redis, number: int, state: State) -> Upload:
    upload = Upload.from_event(UploadEvent("uploads", f"{number:02d}abc/photo.jpg", f"e{number}", 10, "image/jpeg"),
                               "unused")
    upload.state, upload.media_type, upload.created_at = state, "image", 1_700_000_000.0 + number
    record = {k: v for k, v in upload.to_redis().items() if k not in ("workspace", "uploaded_by")}
    redis.hset(f"ml:upload:{upload.id}", mapping=record)
    redis.zadd("ml:uploads", {upload.id: upload.created_at})
    redis.zadd(f"ml:uploads:{state.value}:image", {upload.id: upload.created_at})
    return upload


def test_an_old_installation_becomes_one_workspace_with_nothing_lost(redis_db: Redis) -> None:
    old_key(redis_db, "ml_the-admins-old-key", "admin", "admin")
    old_key(redis_db, "ml_a-users-old-key", "scanner", "user")
    uploads = [old_upload(redis_db, n, State.DONE if n % 2 else State.FAILED) for n in range(6)]
    queued_before = redis_db.keys("rq:*")

    first = upgrade(redis_db, admin_password="the-first-password")
    records = Uploads(redis_db)
    assert records.ensure_index() == 6

    keys = ApiKeys(redis_db)
    admin, scanner = keys.authenticate("ml_the-admins-old-key"), keys.authenticate("ml_a-users-old-key")
    assert admin is not None and (admin.workspace, admin.role, admin.operator) == (LEGACY_WORKSPACE, "owner", True)
    assert scanner is not None and (scanner.workspace, scanner.role, scanner.operator) == (
        LEGACY_WORKSPACE, "editor", False)
    assert {k.name for k in keys.list(LEGACY_WORKSPACE)} == {"admin", "scanner"}, "listed, and revocable"

    assert first.password is None, "the installer chose the password, so there is nothing to tell"
    assert Users(redis_db).verify(ADMIN, "the-first-password") is not None
    assert Workspaces(redis_db).members(LEGACY_WORKSPACE) == {ADMIN: Role.OWNER}

    listed = records.page(LEGACY_WORKSPACE).uploads
    assert [u.id for u in listed] == [u.id for u in reversed(uploads)], "every upload, newest first"
    assert {u.id: u.state for u in listed} == {u.id: u.state for u in uploads}, "states kept, nothing reset"
    assert records.page(LEGACY_WORKSPACE, State.FAILED.value).total == 3
    assert redis_db.keys("rq:*") == queued_before, "nothing was queued to run again"

    assert upgrade(redis_db).password is None and records.ensure_index() == 0, "done once"
    assert len(keys.list(LEGACY_WORKSPACE)) == 2


def test_a_new_installation_gets_a_workspace_and_an_admin_with_a_password_told_once(redis_db: Redis) -> None:
    first = upgrade(redis_db)
    assert first.password and Users(redis_db).verify(ADMIN, first.password) is not None
    assert Users(redis_db).get(ADMIN).operator  # type: ignore[union-attr]
    assert Workspaces(redis_db).role_of(LEGACY_WORKSPACE, ADMIN) == Role.OWNER
    assert upgrade(redis_db).password is None
