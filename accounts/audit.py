"""The audit log: an append-only record per workspace of who did what, when and from where."""

from __future__ import annotations

import json
import logging
import math
import re
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, cast

from redis import Redis
from redis.exceptions import ResponseError

from scheduler import keys

logger = logging.getLogger(__name__)

Detail = dict[str, str | int | float]

ENTRY_ID = re.compile(r"\d+-\d+")
# Entries read per XREVRANGE while filters skip some: enough that a filtered page rarely needs a
# second round trip, few enough that one page never holds Redis long.
MAX_MS = 2**64 - 1  # stream ids count milliseconds in 64 bits
BATCH_MIN, BATCH_MAX = 100, 1000


class Action(StrEnum):
    SIGN_IN = "sign-in"
    SIGN_IN_FAILED = "sign-in-failed"
    KEY_CREATED = "key-created"
    KEY_REVOKED = "key-revoked"
    MEMBER_ADDED = "member-added"
    MEMBER_REMOVED = "member-removed"
    ROLE_CHANGED = "role-changed"
    UPLOAD = "upload"
    RETRY = "retry"
    DELETE = "delete"
    PERSON_RENAMED = "person-renamed"
    PERSON_MERGED = "person-merged"
    FACE_SPLIT = "face-split"
    PERSON_HIDDEN = "person-hidden"
    PEOPLE_UNDONE = "people-undone"
    EXPORT = "export"
    ERASURE = "erasure"
    WORKSPACE_CREATED = "workspace-created"
    USER_CREATED = "user-created"
    S3_CREDENTIALS = "s3-credentials"
    QUOTA_CHANGED = "quota-changed"


@dataclass(frozen=True)
class Entry:
    """One thing done: `actor` is a user name or "key:<key id>", `source` the client's address."""

    id: str
    time: float
    actor: str
    action: str
    target: str = ""
    source: str = ""
    detail: Detail = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "time": self.time, "actor": self.actor, "action": self.action,
            "target": self.target, "source": self.source, "detail": dict(self.detail),
        }

    @classmethod
    def from_stream(cls, entry_id: Any, fields: dict[Any, Any]) -> Entry:
        values = keys.texts(fields)
        text_id = keys.text(entry_id)
        return cls(
            id=text_id, time=_id_ms(text_id) / 1000, actor=values.get("actor", ""),
            action=values.get("action", ""), target=values.get("target", ""), source=values.get("source", ""),
            detail=json.loads(values.get("detail") or "{}"),
        )


def _id_ms(entry_id: str) -> int:
    """A stream id starts with the milliseconds at which Redis took the entry: that is its time."""
    return int(entry_id.split("-", 1)[0])


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, seq = entry_id.split("-", 1)
    return int(ms), int(seq)


class Audit:
    """Audit streams in Redis, one per workspace ("" is the operator's system log)."""

    def __init__(self, redis: Redis, retention_s: float) -> None:
        if retention_s <= 0:
            raise ValueError(f"audit retention must be positive, not {retention_s} s")
        self.redis = redis
        self.retention_s = retention_s

    def _oldest_kept_ms(self) -> int:
        return math.ceil((time.time() - self.retention_s) * 1000)

    def record(
        self, workspace: str, actor: str, action: Action, target: str = "", source: str = "",
        **detail: str | int | float,
    ) -> Entry:
        """Appends one entry and drops those past retention in the same command."""
        if not actor:
            raise ValueError("an audit entry needs an actor: a user name or key:<key id>")
        known = Action(action)
        fields = {"actor": actor, "action": known.value, "target": target, "source": source,
                  "detail": json.dumps(detail, separators=(",", ":"))}
        # Exact trimming: approximate MINID only frees whole stream nodes (100 entries), so a quiet
        # workspace would keep entries for ever past retention.
        entry_id = keys.text(self.redis.xadd(
            keys.audit_log(workspace), fields,  # type: ignore[arg-type]
            minid=self._oldest_kept_ms(), approximate=False,
        ))
        return Entry(entry_id, _id_ms(entry_id) / 1000, actor, known.value, target, source, dict(detail))

    def entries(
        self, workspace: str, *, actor: str | None = None, action: Action | str | None = None,
        since: float | None = None, until: float | None = None, before: str | None = None, limit: int = 100,
    ) -> list[Entry]:
        """Newest first: up to `limit` entries matching every filter given, from `since` to `until`
        (epoch seconds, inclusive) and older than the entry id `before` (the last id of the previous page)."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        if before is not None and not ENTRY_ID.fullmatch(before):
            raise ValueError(f"before={before!r} is not an audit entry id (like 1700000000000-0); "
                             "pass the id of the last entry of the previous page")
        wanted_action = Action(action).value if action is not None else None
        # Entries past retention may linger until the next write trims them: never show them.
        low_ms = min(max(self._oldest_kept_ms(), math.ceil(since * 1000) if since is not None else 0), MAX_MS)
        high = "+" if until is None else str(min(max(math.floor(until * 1000), 0), MAX_MS))
        if before is not None and (high == "+" or _id_key(before) <= (int(high), 2**64 - 1)):
            high = "(" + before
        key = keys.audit_log(workspace)
        batch = min(max(limit * 2, BATCH_MIN), BATCH_MAX)
        found: list[Entry] = []
        while len(found) < limit:
            try:
                rows = cast(list[tuple[Any, dict[Any, Any]]],
                            self.redis.xrevrange(key, max=high, min=str(low_ms), count=batch))
            except ResponseError:
                break  # an interval Redis calls invalid (ends before it begins, or before the first id) is empty
            for entry_id, fields in rows:
                entry = Entry.from_stream(entry_id, fields)
                if (actor is None or entry.actor == actor) and (wanted_action is None or entry.action == wanted_action):
                    found.append(entry)
                    if len(found) == limit:
                        break
            if len(rows) < batch:
                break
            high = "(" + keys.text(rows[-1][0])
        return found

    def erase(self, workspace: str) -> None:
        """Removes a deleted workspace's log; the caller records the erasure in the system log."""
        if workspace == "":
            raise ValueError("the system log records erasures and is not erased")
        self.redis.delete(keys.audit_log(workspace))
        logger.info("audit log of workspace %s erased", workspace)
