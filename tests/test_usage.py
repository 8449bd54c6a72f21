"""Usage per workspace: what is stored, processed and spent per day, and quotas that refuse uploads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis

from accounts.usage import Quota, Usage
from scheduler import keys

GB = 10**9


def days_ago(back: int) -> str:
    """A UTC day relative to today: fixed dates would fall past the days kept and expire at once."""
    return (datetime.now(UTC).date() - timedelta(days=back)).isoformat()


@pytest.fixture
def usage(redis_db: Redis) -> Usage:
    return Usage(redis_db)


def test_report_adds_up_stored_files_and_each_day(usage: Usage) -> None:
    usage.stored("acme", 1, 300)
    usage.stored("acme", 2, 700)
    usage.stored("acme", -1, -300)
    usage.started("acme", day=days_ago(3))
    usage.started("acme", day=days_ago(2))
    usage.started("acme", day=days_ago(2))
    usage.processed("acme", 1.25, day=days_ago(2))
    usage.processed("acme", 2.5, day=days_ago(2))
    usage.gpu_spent("acme", 0.004, day=days_ago(2))
    usage.gpu_spent("acme", 0.0015, day=days_ago(2))
    # The next day starts from zero.
    usage.processed("acme", 4.0, day=days_ago(1))

    report = usage.report("acme", days=3, until=days_ago(1))
    assert json.loads(json.dumps(report)) == report, "the report is JSON as it is"
    assert report["stored"] == {"files": 2, "bytes": 700}
    assert report["quota"] == {"storage_bytes": None, "files_per_day": None}
    assert report["days"] == [
        {"date": days_ago(3), "files_started": 1, "files_processed": 0, "cpu_s": 0.0, "gpu_usd": 0.0},
        {"date": days_ago(2), "files_started": 2, "files_processed": 2, "cpu_s": 3.75, "gpu_usd": 0.0055},
        {"date": days_ago(1), "files_started": 0, "files_processed": 1, "cpu_s": 4.0, "gpu_usd": 0.0},
    ]


def test_report_defaults_to_the_last_30_days_up_to_today(usage: Usage) -> None:
    today = datetime.now(UTC).date()
    usage.processed("acme", 2.0)
    usage.processed("acme", 1.0, day=(today - timedelta(days=29)).isoformat())
    usage.processed("acme", 9.0, day=(today - timedelta(days=30)).isoformat())
    days = usage.report("acme")["days"]
    assert len(days) == 30
    assert days[-1] == {"date": today.isoformat(), "files_started": 0, "files_processed": 1, "cpu_s": 2.0,
                        "gpu_usd": 0.0}
    assert days[0]["date"] == (today - timedelta(days=29)).isoformat() and days[0]["cpu_s"] == 1.0
    assert sum(day["cpu_s"] for day in days) == 3.0, "the day before the window is left out"


def test_uploads_today_counts_only_today(usage: Usage) -> None:
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    usage.started("acme", day=yesterday)
    usage.started("acme")
    usage.started("acme")
    assert usage.uploads_today("acme") == 2


def test_days_expire_after_the_days_kept(redis_db: Redis) -> None:
    usage = Usage(redis_db, days_kept=10)
    today = datetime.now(UTC).date()
    usage.processed("acme", 1.0)
    ttl = redis_db.ttl(keys.usage_day("acme", today.isoformat()))
    assert 10 * 86400 < ttl <= 11 * 86400, "kept 10 days after the day ends"
    usage.processed("acme", 1.0, day=(today - timedelta(days=20)).isoformat())
    assert not redis_db.exists(keys.usage_day("acme", (today - timedelta(days=20)).isoformat())), (
        "a day already past keeping is not stored"
    )


def test_workspaces_are_counted_apart(usage: Usage) -> None:
    usage.stored("acme", 3, 3000)
    usage.started("acme", day=days_ago(4))
    usage.stored("acme-2", 1, 10)
    assert usage.report("acme-2", days=1, until=days_ago(4))["stored"] == {"files": 1, "bytes": 10}
    assert usage.report("acme-2", days=1, until=days_ago(4))["days"][0]["files_started"] == 0
    assert usage.report("acme", days=1, until=days_ago(4))["days"][0]["files_started"] == 1


def test_quota_is_kept_and_cleared(usage: Usage) -> None:
    assert usage.quota("acme") == Quota(None, None)
    usage.set_quota("acme", Quota(storage_bytes=GB, files_per_day=100))
    assert usage.quota("acme") == Quota(GB, 100)
    assert usage.quota("acme-2") == Quota(None, None)
    usage.set_quota("acme", Quota(files_per_day=5))
    assert usage.quota("acme") == Quota(None, 5), "a limit left out is no limit"
    assert Quota.from_dict(Quota(GB, None).to_dict()) == Quota(GB, None)
    with pytest.raises(ValueError, match="storage_bytes"):
        Quota(storage_bytes=-1)


def test_storage_quota_refuses_with_a_sentence_and_lets_fitting_uploads_in(usage: Usage) -> None:
    usage.set_quota("acme", Quota(storage_bytes=GB))
    usage.stored("acme", 40, 980_000_000)
    assert usage.refusal("acme", 20_000_000) is None, "exactly filling the quota fits"
    refused = usage.refusal("acme", 30_000_000)
    assert refused == ("this file of 30 MB does not fit in the workspace storage quota of 1 GB (0.98 GB used); "
                       "delete uploads or ask an owner to raise it")
    usage.stored("acme", 1, 20_000_000)
    assert usage.refusal("acme", 1) == ("workspace storage quota of 1 GB is reached (1 GB used); "
                                        "delete uploads or ask an owner to raise it")
    usage.stored("acme", -1, -500_000_000)
    assert usage.refusal("acme", 1) is None, "deleting frees room"
    assert usage.refusal("acme-2", 10 * GB) is None, "a workspace without a quota has no limit"


def test_daily_file_quota_refuses_the_next_upload_of_the_day(usage: Usage) -> None:
    usage.set_quota("acme", Quota(files_per_day=2))
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    usage.started("acme", day=yesterday)
    usage.started("acme", day=yesterday)
    usage.started("acme")
    assert usage.refusal("acme", 1) is None, "yesterday's uploads do not count"
    usage.started("acme")
    assert usage.refusal("acme", 1) == ("workspace upload quota of 2 files a day is reached (2 today); "
                                        "try again after midnight UTC or ask an owner to raise it")


def test_erase_leaves_no_usage_key_of_the_workspace(usage: Usage, redis_db: Redis) -> None:
    for workspace in ("acme", "acme-2"):
        usage.stored(workspace, 2, 2000)
        usage.started(workspace, day=days_ago(4))
        usage.processed(workspace, 1.5)
        usage.gpu_spent(workspace, 0.01, day=days_ago(3))
        usage.set_quota(workspace, Quota(GB, 10))
    assert len(list(redis_db.scan_iter(match="*acme:*"))) == 5
    usage.erase("acme")
    assert list(redis_db.scan_iter(match="*acme:*")) == []
    assert usage.report("acme", days=1)["stored"] == {"files": 0, "bytes": 0}
    assert len(list(redis_db.scan_iter(match="*acme-2:*"))) == 5, "another workspace keeps its usage"


def test_wrong_input_is_refused_with_a_reason(usage: Usage, redis_db: Redis) -> None:
    with pytest.raises(ValueError, match="not a workspace id"):
        usage.stored("*", 1, 1)
    with pytest.raises(ValueError):
        usage.processed("acme", 1.0, day="2024-13-01")
    with pytest.raises(ValueError):
        usage.processed("acme", 1.0, day="*")
    assert redis_db.dbsize() == 0
