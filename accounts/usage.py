"""What each workspace stores, processes and spends, and the quotas that refuse uploads past a limit."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from redis import Redis
from redis.client import Pipeline

from scheduler import keys

from .settings import DAY_S, AccountsSettings

logger = logging.getLogger(__name__)

# Fields of the per-day hash (keys.usage_day).
STARTED, PROCESSED, CPU_S, GPU_USD = "started", "processed", "cpu_s", "gpu_usd"
# Fields of the stored-now hash (keys.usage_stored).
FILES, BYTES = "files", "bytes"
SIZE_UNITS = (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3))


@dataclass(frozen=True)
class Quota:
    """Limits of one workspace; None is no limit."""

    storage_bytes: int | None = None
    files_per_day: int | None = None

    def __post_init__(self) -> None:
        for name in ("storage_bytes", "files_per_day"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"quota {name} must be a whole number of at least 0, or none; got {value!r}")

    def to_dict(self) -> dict[str, int | None]:
        return {"storage_bytes": self.storage_bytes, "files_per_day": self.files_per_day}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Quota:
        return cls(storage_bytes=data.get("storage_bytes"), files_per_day=data.get("files_per_day"))


def unit_for(size: int) -> tuple[str, int]:
    """The largest decimal unit (what disks and quotas are sold in) that `size` fills at least once."""
    return next(((name, factor) for name, factor in SIZE_UNITS if size >= factor), ("bytes", 1))


def size_text(size: int, unit: tuple[str, int] | None = None) -> str:
    """Bytes as a person reads them; pass `unit` to compare two sizes in the same one."""
    name, factor = unit or unit_for(size)
    return f"{size / factor:.3g} {name}" if factor > 1 else f"{size} bytes"


def today() -> str:
    return datetime.now(UTC).date().isoformat()


class Usage:
    """Usage counters and quotas in Redis, per workspace."""

    def __init__(self, redis: Redis, days_kept: int | None = None) -> None:
        self.redis = redis
        self.days_kept = AccountsSettings().usage_days_kept if days_kept is None else days_kept

    def _add_to_day(self, workspace: str, day: str | None, amounts: dict[str, int | float],
                    into: Pipeline | None = None) -> None:
        """With ``into``, the counts are written by that pipeline (a transaction of the caller's)."""
        # Validates the day before any key is named after it.
        when = date.fromisoformat(day) if day is not None else datetime.now(UTC).date()
        key = keys.usage_day(workspace, when.isoformat())
        start = datetime(when.year, when.month, when.day, tzinfo=UTC).timestamp()
        pipe = self.redis.pipeline() if into is None else into
        for name, amount in amounts.items():
            if isinstance(amount, int):
                pipe.hincrby(key, name, amount)
            else:
                pipe.hincrbyfloat(key, name, amount)
        # Counted from the day's end, so each day is kept as long whichever hour it was written;
        # a day already past keeping is deleted at once.
        pipe.expireat(key, int(start + DAY_S * (1 + self.days_kept)))
        if into is None:
            pipe.execute()

    def stored(self, workspace: str, files: int, size: int) -> None:
        """Adds files and bytes now stored; negative on delete."""
        pipe = self.redis.pipeline()
        pipe.hincrby(keys.usage_stored(workspace), FILES, files)
        pipe.hincrby(keys.usage_stored(workspace), BYTES, size)
        pipe.execute()

    def started(self, workspace: str, day: str | None = None) -> None:
        """One upload accepted (intake calls this for each new upload); `day` is UTC YYYY-MM-DD, today by default."""
        self._add_to_day(workspace, day, {STARTED: 1})

    def processed(self, workspace: str, cpu_s: float, day: str | None = None, into: Pipeline | None = None) -> None:
        """One file processed, with the CPU seconds it took."""
        self._add_to_day(workspace, day, {PROCESSED: 1, CPU_S: float(cpu_s)}, into)

    def gpu_spent(self, workspace: str, usd: float, day: str | None = None, into: Pipeline | None = None) -> None:
        self._add_to_day(workspace, day, {GPU_USD: float(usd)}, into)

    def _day(self, workspace: str, day: str) -> dict[str, str]:
        return keys.texts(self.redis.hgetall(keys.usage_day(workspace, day)))

    def uploads_today(self, workspace: str) -> int:
        return int(self._day(workspace, today()).get(STARTED, 0))

    def _stored_now(self, workspace: str) -> tuple[int, int]:
        values = keys.texts(self.redis.hgetall(keys.usage_stored(workspace)))
        return int(values.get(FILES, 0)), int(values.get(BYTES, 0))

    def report(self, workspace: str, days: int = 30, *, until: str | None = None) -> dict[str, Any]:
        """What the workspace stores now, its quota and the `days` UTC days up to `until` (today by
        default), oldest first."""
        if days < 1:
            raise ValueError(f"a usage report covers at least 1 day, not {days}")
        last = date.fromisoformat(until) if until is not None else datetime.now(UTC).date()
        dates = [(last - timedelta(days=back)).isoformat() for back in range(days - 1, -1, -1)]
        pipe = self.redis.pipeline()
        for day in dates:
            pipe.hgetall(keys.usage_day(workspace, day))
        files, size = self._stored_now(workspace)
        per_day = []
        for day, raw in zip(dates, pipe.execute(), strict=True):
            values = keys.texts(raw)
            per_day.append({
                "date": day,
                "files_started": int(values.get(STARTED, 0)),
                "files_processed": int(values.get(PROCESSED, 0)),
                "cpu_s": round(float(values.get(CPU_S, 0)), 3),
                "gpu_usd": round(float(values.get(GPU_USD, 0)), 6),
            })
        return {
            "workspace": workspace,
            "stored": {"files": files, "bytes": size},
            "quota": self.quota(workspace).to_dict(),
            "days": per_day,
        }

    def quota(self, workspace: str) -> Quota:
        values = keys.texts(self.redis.hgetall(keys.quota(workspace)))
        return Quota.from_dict({name: int(value) for name, value in values.items()})

    def set_quota(self, workspace: str, quota: Quota) -> None:
        key = keys.quota(workspace)
        limits = {name: value for name, value in quota.to_dict().items() if value is not None}
        pipe = self.redis.pipeline()
        pipe.delete(key)
        if limits:
            pipe.hset(key, mapping=limits)  # type: ignore[arg-type]
        pipe.execute()

    def refusal(self, workspace: str, incoming_bytes: int) -> str | None:
        """Why an upload of `incoming_bytes` must be refused, in words for the person uploading; None
        when it fits."""
        quota = self.quota(workspace)
        if quota.files_per_day is not None:
            count = self.uploads_today(workspace)
            if count >= quota.files_per_day:
                return (f"workspace upload quota of {quota.files_per_day} files a day is reached ({count} today); "
                        "try again after midnight UTC or ask an owner to raise it")
        if quota.storage_bytes is not None:
            _, used = self._stored_now(workspace)
            if used + incoming_bytes > quota.storage_bytes:
                unit = unit_for(quota.storage_bytes)
                limit, now = size_text(quota.storage_bytes, unit), size_text(max(used, 0), unit)
                if used >= quota.storage_bytes:
                    return (f"workspace storage quota of {limit} is reached ({now} used); "
                            "delete uploads or ask an owner to raise it")
                return (f"this file of {size_text(incoming_bytes)} does not fit in the workspace storage quota of "
                        f"{limit} ({now} used); delete uploads or ask an owner to raise it")
        return None

    def erase(self, workspace: str) -> None:
        """Removes every usage key and the quota of a workspace (erasure)."""
        found = list(self.redis.scan_iter(match=keys.usage_day(workspace, "*"), count=500))
        found += [keys.usage_stored(workspace), keys.quota(workspace)]
        self.redis.delete(*found)
        logger.info("usage of workspace %s erased (%d keys)", workspace, len(found))
