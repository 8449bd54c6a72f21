"""Exports: a whole workspace as one streamed archive (originals, result documents, uploads, people),
and what the platform keeps about one person."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from typing import Any

from redis import Redis

from scheduler.service import Pipeline, UploadNotFound
from storage.layout import result_key, shown_path

from .apikeys import ApiKeys
from .archive import Member, data, stream
from .audit import Audit
from .users import Users
from .workspaces import Workspaces

PERSONAL_AUDIT_LIMIT = 10_000


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, default=str).encode()


def _members(pipeline: Pipeline, workspace: str, people: list[dict[str, Any]]) -> Iterator[Member]:
    s, records = pipeline.store, pipeline.records
    found = Workspaces(pipeline.redis).get(workspace)
    roles = {user: role.value for user, role in Workspaces(pipeline.redis).members(workspace).items()}
    yield data("workspace.json", _json({**found.to_dict(), "members": roles, "exported_at": time.time()}))
    uploads = list(records.all(workspace))
    yield data("uploads.json", _json([pipeline.summary(upload) for upload in uploads]))
    yield data("people.json", _json(people))
    for upload in uploads:
        # A key uploaded again names a newer upload: only the newest of a key has its object.
        if records.latest_for_key(upload.bucket, upload.key) != upload.id:
            continue
        for folder, bucket, key in (("originals", upload.bucket, upload.key),
                                    ("results", s.settings.results_bucket, result_key(upload.key))):
            if s.exists(bucket, key):
                yield Member(f"{folder}/{key}", s.size(bucket, key), s.stream(bucket, key), upload.created_at)


def workspace_archive(pipeline: Pipeline, workspace: str, people: list[dict[str, Any]]) -> Iterator[bytes]:
    """The workspace as a tar stream: workspace.json, uploads.json, people.json, originals/<key>,
    results/<key>.json."""
    return stream(_members(pipeline, workspace, people))


def personal(redis: Redis, audit: Audit, user: str) -> dict[str, Any]:
    """Everything kept about one person: account, memberships, keys they made, what they did."""
    account = Users(redis).get(user)
    if account is None:
        raise KeyError(user)
    memberships = Workspaces(redis).of_user(user)
    made = [key.to_dict() for ws in memberships for key in ApiKeys(redis).list(ws) if key.created_by == user]
    did = {ws: [entry.to_dict() for entry in audit.entries(ws, actor=user, limit=PERSONAL_AUDIT_LIMIT)]
           for ws in memberships}
    return {"account": {"name": account.name, "operator": account.operator, "created_at": account.created_at},
            "workspaces": {ws: role.value for ws, role in memberships.items()}, "keys": made, "audit": did,
            "exported_at": time.time()}


def _originals(pipeline: Pipeline, workspace: str, uploads: Iterable[str]) -> Iterator[Member]:
    s, used = pipeline.store, set()
    for upload_id in uploads:
        try:
            upload = pipeline.upload(upload_id, workspace)
        except UploadNotFound:
            continue
        if pipeline.records.latest_for_key(upload.bucket, upload.key) != upload.id:
            continue  # the object now holds a newer upload of the same key
        if not s.exists(upload.bucket, upload.key):
            continue
        name = shown_path(upload.key, workspace)
        if name in used:  # two files of one name (00.jpg from two cameras) both arrive
            stem, dot, ext = name.rpartition(".")
            name = f"{stem} ({upload.id[:8]}){dot}{ext}" if dot else f"{name} ({upload.id[:8]})"
        used.add(name)
        yield Member(name, s.size(upload.bucket, upload.key), s.stream(upload.bucket, upload.key),
                     upload.taken_at or upload.created_at)


def originals_archive(pipeline: Pipeline, workspace: str, uploads: Iterable[str]) -> Iterator[bytes]:
    """The originals of some uploads of one workspace as a tar stream, each under the path its workspace
    knows it by; ids of other workspaces or of nothing are left out."""
    return stream(_originals(pipeline, workspace, uploads))
