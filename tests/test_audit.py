"""The audit log: filters, paging newest first, retention, one log per workspace, durability."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from redis import Redis

from accounts.audit import Action, Audit, Entry
from accounts.settings import AccountsSettings
from embedded.settings import on_free_ports
from embedded.stack import Stack
from scheduler import keys

YEAR_S = 365 * 24 * 3600.0


@pytest.fixture
def audit(redis_db: Redis) -> Audit:
    return Audit(redis_db, AccountsSettings().audit_retention_s)


def test_an_entry_reads_back_as_recorded(audit: Audit) -> None:
    before = time.time()
    made = audit.record("acme", "ana", Action.PERSON_RENAMED, target="person-7", source="10.0.0.5",
                        old="Unknown 7", new="Ana", faces=12, score=0.5)
    [read] = audit.entries("acme")
    assert read == made
    assert read.actor == "ana" and read.action == "person-renamed" and read.target == "person-7"
    assert read.source == "10.0.0.5"
    assert read.detail == {"old": "Unknown 7", "new": "Ana", "faces": 12, "score": 0.5}
    assert before - 1 <= read.time <= time.time() + 1
    assert read.to_dict() == {"id": made.id, "time": made.time, "actor": "ana", "action": "person-renamed",
                              "target": "person-7", "source": "10.0.0.5",
                              "detail": {"old": "Unknown 7", "new": "Ana", "faces": 12, "score": 0.5}}


def test_entries_come_newest_first_and_filter_by_actor_and_action(audit: Audit) -> None:
    audit.record("acme", "ana", Action.SIGN_IN)
    audit.record("acme", "key:k1", Action.UPLOAD, target="a.jpg")
    audit.record("acme", "ana", Action.UPLOAD, target="b.jpg")
    audit.record("acme", "bo", Action.SIGN_IN_FAILED, source="10.0.0.9")
    assert [e.action for e in audit.entries("acme")] == ["sign-in-failed", "upload", "upload", "sign-in"]
    assert [e.target for e in audit.entries("acme", action=Action.UPLOAD)] == ["b.jpg", "a.jpg"]
    assert [e.action for e in audit.entries("acme", actor="ana")] == ["upload", "sign-in"]
    assert [e.target for e in audit.entries("acme", actor="ana", action="upload")] == ["b.jpg"]
    assert audit.entries("acme", actor="nobody") == []


def test_since_and_until_bound_the_time(audit: Audit, redis_db: Redis) -> None:
    now_ms = int(time.time() * 1000)
    for offset_s, target in ((300, "old"), (200, "middle"), (100, "new")):
        redis_db.xadd(keys.audit_log("acme"), {"actor": "ana", "action": "delete", "target": target,
                                               "source": "", "detail": "{}"}, id=f"{now_ms - offset_s * 1000}-0")
    now = now_ms / 1000
    assert [e.target for e in audit.entries("acme", since=now - 250)] == ["new", "middle"]
    assert [e.target for e in audit.entries("acme", until=now - 150)] == ["middle", "old"]
    assert [e.target for e in audit.entries("acme", since=now - 200, until=now - 200)] == ["middle"]


def test_pages_newest_first_fill_up_past_entries_the_filter_skips(audit: Audit) -> None:
    # 7 uploads buried among 1000 sign-ins: more than one read batch must be scanned to fill a page.
    for n in range(7):
        audit.record("acme", "ana", Action.UPLOAD, target=f"file-{n}")
        for _ in range(150):
            audit.record("acme", "bo", Action.SIGN_IN)
    pages: list[list[str]] = []
    before = None
    while page := audit.entries("acme", action=Action.UPLOAD, before=before, limit=3):
        pages.append([e.target for e in page])
        before = page[-1].id
    assert pages == [["file-6", "file-5", "file-4"], ["file-3", "file-2", "file-1"], ["file-0"]]
    everything = audit.entries("acme", limit=2000)
    assert len(everything) == 7 + 7 * 150
    assert [e.id for e in everything] == sorted((e.id for e in everything),
                                                key=lambda i: tuple(map(int, i.split("-"))), reverse=True)


def test_paging_without_filters_returns_every_entry_once(audit: Audit) -> None:
    made = [audit.record("acme", "ana", Action.EXPORT, target=str(n)).id for n in range(25)]
    seen: list[str] = []
    before = None
    while page := audit.entries("acme", before=before, limit=10):
        seen += [e.id for e in page]
        before = page[-1].id
    assert seen == made[::-1]


def test_entries_past_retention_are_dropped(redis_db: Redis) -> None:
    audit = Audit(redis_db, retention_s=60)
    key = keys.audit_log("acme")
    old_ms = int((time.time() - 3600) * 1000)
    for n in range(3):
        redis_db.xadd(key, {"actor": "ana", "action": "upload", "target": f"old-{n}", "source": "", "detail": "{}"},
                      id=f"{old_ms + n}-0")
    assert audit.entries("acme") == [], "entries past retention are never shown, even before a write trims them"
    audit.record("acme", "ana", Action.UPLOAD, target="new")
    assert redis_db.xlen(key) == 1, "the write that follows removes them from Redis"
    assert [e.target for e in audit.entries("acme")] == ["new"]


def test_retention_counts_from_each_entry_time(redis_db: Redis) -> None:
    audit = Audit(redis_db, retention_s=0.3)
    audit.record("acme", "ana", Action.UPLOAD, target="first")
    time.sleep(0.5)
    audit.record("acme", "ana", Action.UPLOAD, target="second")
    assert [e.target for e in audit.entries("acme")] == ["second"]
    assert redis_db.xlen(keys.audit_log("acme")) == 1


def test_workspaces_never_see_each_other(audit: Audit) -> None:
    audit.record("acme", "ana", Action.UPLOAD, target="acme-file")
    audit.record("acme-2", "ana", Action.UPLOAD, target="other-file")
    audit.record("", "operator", Action.ERASURE, target="gone")
    assert [e.target for e in audit.entries("acme")] == ["acme-file"]
    assert [e.target for e in audit.entries("acme-2")] == ["other-file"]
    assert [e.target for e in audit.entries("")] == ["gone"], "the system log is its own"


def test_erase_removes_the_workspace_log_and_only_it(audit: Audit, redis_db: Redis) -> None:
    audit.record("acme", "ana", Action.UPLOAD)
    audit.record("acme-2", "bo", Action.UPLOAD)
    audit.erase("acme")
    audit.record("", "operator", Action.ERASURE, target="acme")
    assert list(redis_db.scan_iter(match="*acme:*")) == []
    assert audit.entries("acme") == []
    assert len(audit.entries("acme-2")) == 1
    assert [e.target for e in audit.entries("")] == ["acme"]
    with pytest.raises(ValueError, match="system log"):
        audit.erase("")


def test_wrong_input_is_refused_with_a_reason(audit: Audit) -> None:
    with pytest.raises(ValueError, match="not a workspace id"):
        audit.record("Acme*", "ana", Action.UPLOAD)
    with pytest.raises(ValueError):
        audit.record("acme", "ana", "uplaod")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="actor"):
        audit.record("acme", "", Action.UPLOAD)
    with pytest.raises(ValueError, match="entry id"):
        audit.entries("acme", before="yesterday")


def test_entries_survive_a_redis_restart(tmp_path: Path) -> None:
    own = Stack(on_free_ports(tmp_path / "state", tmp_path / "models"))
    try:
        own.up(only=["redis"])
        made = Audit(own.redis(), YEAR_S).record("acme", "ana", Action.KEY_REVOKED, target="k1", source="10.0.0.5")
        own.stop("redis")
        own.start("redis")
        assert Audit(own.redis(), YEAR_S).entries("acme") == [made]
    finally:
        own.down()


def test_entry_from_an_unknown_action_still_reads(redis_db: Redis, audit: Audit) -> None:
    # An entry written by a later version with an action this one does not know stays readable.
    redis_db.xadd(keys.audit_log("acme"), {"actor": "ana", "action": "future-thing", "detail": "{}"})
    [read] = audit.entries("acme")
    assert isinstance(read, Entry) and read.action == "future-thing" and read.target == ""
