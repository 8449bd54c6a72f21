"""The join file: what a worker host needs to work against the storage another machine shares.

The sharing machine writes it (<state>/join.json, mode 0600) when it starts with a share address;
copy it to each worker host (scp) and start there with `make worker JOIN=join.json`. It holds
credentials: treat it as a password.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from .private import write_private

FILE = "join.json"


@dataclass(frozen=True)
class JoinFile:
    redis_url: str  # rediss://:password@address:port/0, through the sharing machine's TLS tunnel
    s3_endpoint: str  # https://address:port
    s3_access_key: str
    s3_secret_key: str
    index_url: str  # https://address:port of the index server
    index_token: str
    ca_pem: str  # the only certificate authority the worker host trusts for all three

    def __post_init__(self) -> None:
        if urlsplit(self.redis_url).scheme != "rediss":
            where = self.redis_url.split("@")[-1]
            raise ValueError(f"a worker host reaches Redis over TLS only (rediss://), not {where}")
        for url in (self.s3_endpoint, self.index_url):
            if urlsplit(url).scheme != "https":
                raise ValueError(f"a worker host reaches S3 and the index over HTTPS only, not {url}")
        if "BEGIN CERTIFICATE" not in self.ca_pem:
            raise ValueError("the join file holds no CA certificate (ca_pem)")

    @classmethod
    def sharing(cls, address: str, ports: tuple[int, int, int], redis_password: str, s3_access_key: str,
                s3_secret_key: str, index_token: str, ca_pem: str) -> JoinFile:
        redis, s3, index = ports
        return cls(
            redis_url=f"rediss://:{quote(redis_password, safe='')}@{address}:{redis}/0",
            s3_endpoint=f"https://{address}:{s3}",
            s3_access_key=s3_access_key,
            s3_secret_key=s3_secret_key,
            index_url=f"https://{address}:{index}",
            index_token=index_token,
            ca_pem=ca_pem,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JoinFile:
        missing = sorted(set(cls.__dataclass_fields__) - set(data))
        if missing:
            raise ValueError(f"the join file lacks {', '.join(missing)}: write it again on the sharing machine")
        return cls(**{name: str(data[name]) for name in cls.__dataclass_fields__})

    def save(self, path: Path) -> None:
        write_private(path, json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: Path) -> JoinFile:
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            raise FileNotFoundError(f"no join file at {path}: copy <state>/{FILE} from the sharing machine") from None
