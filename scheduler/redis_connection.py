"""The one way every part connects to Redis: a plain URL, or a Sentinel group that follows a failover.

``redis://`` (``rediss://``, ``unix://``) connects to one server, as ``Redis.from_url`` does.
``redis+sentinel://[[user]:password@]host:port[,host:port...]/<master>[/<db>]`` asks the sentinels
which server is the master (``rediss+sentinel://`` for TLS to the data servers and the sentinels;
``?sentinel_password=...`` when the sentinels require a password of their own). Its connections ask
again after every connection error, and a command that meets one is retried for as long as a
failover takes, so a promotion looks like a slow command, not an error, to everything above.

Replication is asynchronous: a write the master acknowledged may not be on any replica when the master
dies. `replicated` is the barrier for the writes that must survive a failover (gateway-config/README.md,
"Redis failover").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from redis import Redis
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.connection import SSLConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelManagedConnection

from . import keys

PLAIN_SCHEMES = ("redis", "rediss", "unix")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
SENTINEL_PORT = 26379
SENTINEL_OPTIONS = ("sentinel_password",)
EXAMPLE = "redis+sentinel://:password@host1:26379,host2:26379,host3:26379/mymaster/0"

# How long a command retries through a failover: Sentinel's down-after-milliseconds plus the election
# and promotion (a few seconds at the values gateway-config/README.md gives), with room to spare: about
# 20 s measured with no master to be found.
# Past it the error reaches the caller: a worker waits and connects again, a step's job is retried.
FAILOVER_RETRIES = 16
FAILOVER_BACKOFF = ExponentialWithJitterBackoff(cap=2.0, base=0.1)
CONNECT_TIMEOUT_S = 5.0  # a master on a host that went away is given up on, not waited for minutes
SENTINEL_TIMEOUT_S = 1.0  # one sentinel that does not answer is passed over for the next at once


class RedisUrlError(ValueError):
    """A Redis URL that cannot be used; the message says what is wrong and what one looks like."""


@dataclass(frozen=True)
class SentinelGroup:
    """Where the sentinels are and which master of theirs to use."""

    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None
    ssl: bool = False

    def __post_init__(self) -> None:
        if not self.sentinels:
            raise RedisUrlError(f"a Sentinel URL names at least one sentinel as host:port, like {EXAMPLE}")
        if not self.master:
            raise RedisUrlError(f"a Sentinel URL names the master after the sentinels, like {EXAMPLE}")
        if self.db < 0:
            raise RedisUrlError(f"the database number must be 0 or more, not {self.db}")

    @classmethod
    def from_url(cls, url: str) -> SentinelGroup:
        parts = urlsplit(url)
        credentials, _, hosts = parts.netloc.rpartition("@")
        username, _, password = credentials.partition(":") if credentials else ("", "", "")
        path = [part for part in parts.path.split("/") if part]
        if len(path) > 2:
            raise RedisUrlError(f"a Sentinel URL's path is /<master>[/<db>], not {parts.path!r}; like {EXAMPLE}")
        db = 0
        if len(path) == 2:
            if not path[1].isdigit():
                raise RedisUrlError(f"the database after the master's name must be a number, not {path[1]!r}")
            db = int(path[1])
        options = parse_qs(parts.query)
        unknown = sorted(set(options) - set(SENTINEL_OPTIONS))
        if unknown:
            raise RedisUrlError(f"a Sentinel URL takes only {', '.join(SENTINEL_OPTIONS)} after '?', "
                                f"not {', '.join(unknown)}")
        return cls(
            sentinels=tuple(sentinel_address(host) for host in hosts.split(",") if host),
            master=unquote(path[0]) if path else "",
            db=db,
            username=unquote(username) or None,
            password=unquote(password) or None,
            sentinel_password=options["sentinel_password"][-1] if "sentinel_password" in options else None,
            ssl=parts.scheme == "rediss+sentinel",
        )


class MasterConnection(SentinelManagedConnection):
    """A connection to the master that asks the sentinels where the master is on every (re)connect.

    redis-py's own asks only when the pool opens it: a command retried after the master died
    reconnects to the dead address until its retries run out (redis/redis-py#3874)."""

    def _connect(self) -> Any:
        if self.connection_pool.is_master:
            self.host, self.port = self.connection_pool.get_master_address()
        return super()._connect()

    def connect_check_health(self, check_health: bool = True, retry_socket_connect: bool = True) -> None:
        # Once, not with retries: a reconnect happens inside the retries of a command already, and
        # retries inside retries would hold a command for minutes where the master is gone for good.
        super().connect_check_health(check_health=check_health, retry_socket_connect=False)


class MasterSSLConnection(MasterConnection, SSLConnection):
    pass


def sentinel_address(text: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or a bare host (port 26379)."""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    if not host:
        raise RedisUrlError(f"sentinel {text!r} has no host; name each as host:port, like {EXAMPLE}")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise RedisUrlError(f"sentinel {text!r} has no valid port; name each as host:port, like {EXAMPLE}")
    return host, int(port) if port else SENTINEL_PORT


def sentinel_group(url: str) -> SentinelGroup | None:
    """The Sentinel group a URL names, or None for a plain server's URL; a URL of neither kind, or a
    malformed one, raises RedisUrlError (which never repeats the URL: it may hold a password)."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme in SENTINEL_SCHEMES:
        return SentinelGroup.from_url(url)
    if scheme not in PLAIN_SCHEMES:
        raise RedisUrlError(
            f"a Redis URL starts with {', '.join(s + '://' for s in PLAIN_SCHEMES + SENTINEL_SCHEMES)}"
            f"{f', not {scheme}://' if scheme else ''}; for example redis://:password@host:6379/0 or {EXAMPLE}"
        )
    try:
        parse_url(url)
    except ValueError as exc:
        raise RedisUrlError(f"the Redis URL cannot be used: {exc}") from None
    return None


def connect(url: str) -> Redis:
    """A client of the server ``url`` names, or of whichever server its sentinels say is the master now."""
    group = sentinel_group(url)
    if group is None:
        return Redis.from_url(url)
    auth: dict[str, Any] = {"password": group.sentinel_password} if group.sentinel_password else {}
    sentinels = Sentinel(
        list(group.sentinels),
        sentinel_kwargs={"socket_timeout": SENTINEL_TIMEOUT_S, "socket_connect_timeout": SENTINEL_TIMEOUT_S,
                         "retry": Retry(NoBackoff(), 0), "ssl": group.ssl, **auth},
    )
    return sentinels.master_for(
        group.master, db=group.db, username=group.username, password=group.password,
        connection_class=MasterSSLConnection if group.ssl else MasterConnection,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        retry=Retry(FAILOVER_BACKOFF, FAILOVER_RETRIES, supported_errors=(RedisConnectionError, RedisTimeoutError)),
    )


def replicated(redis: Redis, replicas: int, timeout_ms: int) -> int:
    """Waits until every write made so far, on any connection, is on ``replicas`` replicas (at most
    ``timeout_ms``); returns how many it reached. Raises nothing when fewer did: the caller decides.

    WAIT covers only the writes of the connection it runs on, and a pool spreads a caller's writes over
    several: one more write on the same connection first puts the offset it waits for past them all."""
    if replicas <= 0:
        return 0
    with redis.pipeline(transaction=False) as pipe:
        pipe.incr(keys.REPLICATION_BARRIER)
        pipe.wait(replicas, timeout_ms)
        _, reached = pipe.execute()
    return int(reached)
