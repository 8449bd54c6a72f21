"""Erasure: a workspace, or one person's uploads in it, removed from every store: objects, records,
vectors, word index, faces and persons, keys, credentials, audit and usage. The operator's system log
keeps that it happened and how much went, never what."""

from __future__ import annotations

import json
import logging

from redis import Redis

from scheduler import keys
from scheduler.service import Pipeline
from storage.credentials import CredentialsError, workspace_credentials
from storage.layout import workspace_prefix

from .apikeys import ApiKeys
from .audit import Action, Audit
from .usage import Usage
from .workspaces import Workspaces

logger = logging.getLogger(__name__)


def _add(total: dict[str, int], more: dict[str, int]) -> None:
    for name, count in more.items():
        total[name] = total.get(name, 0) + count


def erase_uploads(pipeline: Pipeline, workspace: str, uploaded_by: str | None = None) -> dict[str, int]:
    """Deletes a workspace's uploads (or those one person uploaded) and all made from them."""
    removed: dict[str, int] = {"uploads": 0}
    for upload in list(pipeline.records.all(workspace)):
        if uploaded_by is not None and upload.uploaded_by != uploaded_by:
            continue
        _add(removed, pipeline.delete(upload.id, workspace))
        removed["uploads"] += 1
    return removed


def _forget_sessions(redis: Redis, workspace: str) -> int:
    """Sessions that worked in the workspace keep their person and lose the workspace."""
    changed = 0
    for name in redis.scan_iter(keys.session("*"), count=1000):
        raw = redis.get(name)
        record = json.loads(raw) if raw else {}
        if record.get("data", {}).get("workspace") == workspace:
            record["data"]["workspace"] = ""
            redis.set(name, json.dumps(record), keepttl=True)
            changed += 1
    return changed


def erase_workspace(pipeline: Pipeline, audit: Audit, workspace: str, actor: str, source: str = "") -> dict[str, int]:
    """Removes every trace of a workspace; returns how much of each kind went."""
    redis, s = pipeline.redis, pipeline.store
    Workspaces(redis).get(workspace)
    removed = erase_uploads(pipeline, workspace)
    for hook in pipeline.context.hooks:
        _add(removed, hook.erase(workspace))
    prefix = workspace_prefix(workspace)
    for bucket in s.buckets:
        removed["objects"] = removed.get("objects", 0) + s.delete_prefix(bucket, prefix)
    try:
        workspace_credentials(s.settings).revoke(workspace)
    except CredentialsError as exc:
        logger.warning("S3 credentials of %s could not be revoked: %s", workspace, exc)
    removed["keys"] = ApiKeys(redis).revoke_all(workspace)
    removed["sessions"] = _forget_sessions(redis, workspace)
    audit.erase(workspace)
    Usage(redis).erase(workspace)
    Workspaces(redis).forget(workspace)
    left = list(redis.scan_iter(f"{keys.workspace(workspace)}:*", count=1000))
    if left:
        redis.delete(*left)
    removed["records"] = len(left)
    audit.record("", actor, Action.ERASURE, f"workspace {workspace}", source, **removed)
    return removed
