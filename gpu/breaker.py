"""A circuit breaker per gateway, in Redis: a node that fails gets no calls until it has cooled down.

    closed --(N failures in a row, or one lost connection)--> open --(cooldown)--> half-open
    half-open --(success)--> closed; half-open --(failure)--> open
"""

from __future__ import annotations

from dataclasses import dataclass

from redis import Redis

from scheduler import keys

from . import clock


@dataclass(frozen=True)
class BreakerState:
    failures: int
    opened_at: float | None

    def open_at(self, now: float, cooldown_s: float) -> bool:
        return self.opened_at is not None and now < self.opened_at + cooldown_s


class Breaker:
    def __init__(self, redis: Redis, failures: int = 3, cooldown_s: float = 60.0) -> None:
        self.redis = redis
        self.threshold = failures
        self.cooldown_s = cooldown_s

    @staticmethod
    def _key(gateway: str) -> str:
        return keys.gpu_breaker(gateway)

    def state(self, gateway: str) -> BreakerState:
        raw = {keys.text(k): keys.text(v) for k, v in self.redis.hgetall(self._key(gateway)).items()}
        opened = raw.get("opened_at")
        return BreakerState(int(raw.get("failures", 0)), float(opened) if opened else None)

    def allows(self, gateway: str) -> bool:
        """Closed, or half-open after the cooldown (one more try decides)."""
        return not self.state(gateway).open_at(clock.now(), self.cooldown_s)

    def success(self, gateway: str) -> None:
        self.redis.delete(self._key(gateway))

    def failure(self, gateway: str, trip: bool = False) -> bool:
        """Counts a failure; `trip` opens at once (the node is gone). True when the breaker is open."""
        key = self._key(gateway)
        failures = int(self.redis.hincrby(key, "failures", 1))
        if trip or failures >= self.threshold:
            self.redis.hset(key, "opened_at", clock.now())
            return True
        return False

    def forget(self, gateway: str) -> None:
        self.redis.delete(self._key(gateway))
