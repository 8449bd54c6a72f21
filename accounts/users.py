"""People who sign in to the web UI: a name and a password hashed with argon2id."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from redis import Redis

from scheduler import keys

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{1,63}")
MIN_PASSWORD = 10
# argon2-cffi's defaults are the RFC 9106 low-memory profile of argon2id.
HASHER = PasswordHasher()


@cache
def absent_hash() -> str:
    """Checked when the name is unknown, so a wrong name costs as long as a wrong password. Made once, on
    first use: made on import, it cost every process that reads accounts 0.25 s of CPU and 64 MiB for a
    moment, `make up` among them (issue 17); the web app makes it before it serves (ui/app.py)."""
    return HASHER.hash("no such user")


class UserError(ValueError):
    """The name or password cannot be used; the message says why."""


@dataclass(frozen=True)
class User:
    name: str
    operator: bool
    created_at: float


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")


class Users:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def create(self, name: str, password: str, operator: bool = False) -> User:
        if not NAME.fullmatch(name):
            raise UserError("a user name is 2 to 64 letters, digits or . _ @ -, starting with a letter or digit")
        check_password(password)
        user = User(name, operator, time.time())
        record = {"hash": HASHER.hash(password), "operator": operator, "created_at": user.created_at}
        if not self.redis.hsetnx(keys.USERS, name, json.dumps(record)):
            raise UserError(f"the user {name} exists already")
        return user

    def _record(self, name: str) -> dict[str, object] | None:
        raw = self.redis.hget(keys.USERS, name) if name else None
        return json.loads(raw) if raw else None

    def get(self, name: str) -> User | None:
        record = self._record(name)
        if record is None:
            return None
        return User(name, bool(record["operator"]), float(str(record["created_at"])))

    def verify(self, name: str, password: str) -> User | None:
        """The user when the password is theirs, else None; the hash is upgraded when parameters change."""
        record = self._record(name)
        stored = str(record["hash"]) if record else absent_hash()
        try:
            HASHER.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if record is None:
            return None
        if HASHER.check_needs_rehash(stored):
            self.redis.hset(keys.USERS, name, json.dumps({**record, "hash": HASHER.hash(password)}))
        return self.get(name)

    def set_password(self, name: str, password: str) -> None:
        check_password(password)
        record = self._record(name)
        if record is None:
            raise UserError(f"no user {name}")
        self.redis.hset(keys.USERS, name, json.dumps({**record, "hash": HASHER.hash(password)}))

    def set_operator(self, name: str, operator: bool) -> None:
        record = self._record(name)
        if record is None:
            raise UserError(f"no user {name}")
        self.redis.hset(keys.USERS, name, json.dumps({**record, "operator": operator}))

    def all(self) -> list[User]:
        return sorted((u for u in map(self.get, (keys.text(n) for n in self.redis.hkeys(keys.USERS))) if u),
                      key=lambda u: u.created_at)

    def delete(self, name: str) -> bool:
        return bool(self.redis.hdel(keys.USERS, name))
