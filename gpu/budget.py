"""GPU spend against a daily and a monthly cap: booked from each node's price and running time,
reconciled with the account's own figures, and kept below the caps with a reserve for stopping.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from redis import Redis

from scheduler import keys

from .nodes import GpuNode
from .settings import GpuSettings


def day_of(at: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(at))


def month_of(at: float) -> str:
    return time.strftime("%Y-%m", time.gmtime(at))


def month_start(at: float) -> float:
    t = time.gmtime(at)
    return float(calendar.timegm((t.tm_year, t.tm_mon, 1, 0, 0, 0)))


def _by_day(start: float, end: float) -> Iterator[tuple[float, float]]:
    """Splits [start, end) at UTC midnights, so each day is charged its own share."""
    while start < end:
        midnight = (start // 86400 + 1) * 86400
        stop = min(end, midnight)
        yield start, stop
        start = stop


def booked_usd(redis: Redis, now: float) -> dict[str, float]:
    """USD booked for the UTC day and month of `now`, by period; empty while this month has none."""
    month = redis.get(keys.gpu_spend(month_of(now)))
    if month is None:
        return {}
    day = redis.get(keys.gpu_spend(day_of(now)))
    return {"day": float(day or 0.0), "month": float(month)}


@dataclass(frozen=True)
class Spend:
    day: float  # in the caps' currency
    month: float
    day_cap: float
    month_cap: float
    credit: float | None  # the account's credit, in the caps' currency, when known

    @property
    def left(self) -> float:
        left = min(self.day_cap - self.day, self.month_cap - self.month)
        if self.credit is not None:
            left = min(left, self.credit)
        return max(0.0, left)


class Budget:
    """Spend is kept in USD (as Vast.ai bills) and shown and capped in the user's currency."""

    def __init__(self, redis: Redis, settings: GpuSettings) -> None:
        self.redis = redis
        self.settings = settings

    def _book(self, usd: float, start: float, end: float, instance: int) -> None:
        if usd <= 0:
            return
        with self.redis.pipeline() as pipe:
            span = max(end - start, 1e-9)
            for a, b in _by_day(start, end) if end > start else [(start, start)]:
                share = usd * ((b - a) / span if end > start else 1.0)
                pipe.incrbyfloat(keys.gpu_spend(day_of(a)), share)
                pipe.incrbyfloat(keys.gpu_spend(month_of(a)), share)
            pipe.hincrbyfloat(keys.gpu_instance_spend(month_of(end)), str(instance), usd)
            pipe.execute()

    def accrue(self, node: GpuNode, now: float) -> GpuNode:
        """Books the node's price from where it was booked last up to `now`."""
        if now > node.accrued_until:
            self._book(node.dph * (now - node.accrued_until) / 3600, node.accrued_until, now, node.id)
            node.accrued_until = now
        return node

    def reconcile(self, charged_usd: dict[int, float], now: float) -> float:
        """Where the account charged more for one of our instances than we booked, books the difference."""
        key = keys.gpu_instance_spend(month_of(now))
        booked = {int(k): float(v) for k, v in self.redis.hgetall(key).items()}
        added = 0.0
        for instance, charged in charged_usd.items():
            if instance in booked and charged > booked[instance]:
                self._book(charged - booked[instance], now, now, instance)
                added += charged - booked[instance]
        return added

    def record_credit(self, credit_usd: float, now: float) -> None:
        self.redis.hset(keys.GPU_ACCOUNT, mapping={"credit": credit_usd, "checked_at": now})

    def spend(self, now: float) -> Spend:
        rate = self.settings.usd_rate
        credit = self.redis.hget(keys.GPU_ACCOUNT, "credit")
        booked = booked_usd(self.redis, now)
        return Spend(
            day=booked.get("day", 0.0) * rate,
            month=booked.get("month", 0.0) * rate,
            day_cap=self.settings.daily_cap,
            month_cap=self.settings.monthly_cap,
            credit=float(credit) * rate if credit is not None else None,
        )

    def _burn(self, nodes: Iterable[GpuNode]) -> float:
        """Spend per second of these nodes, in the caps' currency."""
        return sum(node.dph for node in nodes) / 3600 * self.settings.usd_rate

    def reserve(self, nodes: Iterable[GpuNode]) -> float:
        """What running nodes may still cost once we decide to stop them: the manager notices at its
        next tick and a destroy needs up to `stop_margin_s` to end the billing."""
        s = self.settings
        return self._burn(nodes) * (2 * s.tick_s + s.stop_margin_s)

    def must_stop(self, nodes: list[GpuNode], now: float) -> bool:
        return bool(nodes) and self.spend(now).left <= self.reserve(nodes)

    def can_start(self, dph: float, nodes: list[GpuNode], now: float) -> bool:
        """A new node must fit with its worst case: a full boot, its idle time and the stop reserve."""
        s = self.settings
        new = dph / 3600 * s.usd_rate * (s.boot_timeout_s + s.idle_s + 2 * s.tick_s + s.stop_margin_s)
        return self.spend(now).left - self.reserve(nodes) >= new
