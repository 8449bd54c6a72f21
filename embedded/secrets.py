"""Credentials made once per installation and kept in the state directory (mode 0600)."""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .private import write_private


@dataclass(frozen=True)
class Secrets:
    s3_access_key: str
    s3_secret_key: str
    intake_token: str
    gateway_password: str
    session_key: str
    redis_password: str
    # SeaweedFS signs volume reads and writes, and filer reads and writes, with these.
    seaweed_volume_jwt_key: str
    seaweed_filer_jwt_key: str
    # The first password of the web UI's user "admin" (it can be changed there).
    admin_password: str
    # The index server's bearer token; the server runs when the stack shares its storage with other hosts.
    index_token: str
    # The S3 identity of worker hosts: objects in every bucket, no buckets or identities (embedded/stack.py).
    worker_s3_access_key: str
    worker_s3_secret_key: str

    @classmethod
    def generate(cls) -> Secrets:
        return cls(
            s3_access_key="medialens-" + secrets.token_hex(4),
            s3_secret_key=secrets.token_urlsafe(24),
            intake_token=secrets.token_urlsafe(24),
            gateway_password=secrets.token_urlsafe(16),
            session_key=secrets.token_urlsafe(32),
            redis_password=secrets.token_urlsafe(24),
            seaweed_volume_jwt_key=secrets.token_urlsafe(32),
            seaweed_filer_jwt_key=secrets.token_urlsafe(32),
            admin_password=secrets.token_urlsafe(12),
            index_token=secrets.token_urlsafe(24),
            worker_s3_access_key="medialens-workers-" + secrets.token_hex(4),
            worker_s3_secret_key=secrets.token_urlsafe(24),
        )

    @classmethod
    def load_or_create(cls, state_dir: Path) -> Secrets:
        """The stored secrets; one that a newer release added and the file lacks is made and saved."""
        path = state_dir / "secrets.json"
        stored = json.loads(path.read_text()) if path.exists() else {}
        known = {f.name for f in fields(cls)}
        made = cls(**{**asdict(cls.generate()), **{k: v for k, v in stored.items() if k in known}})
        if not known <= set(stored):
            write_private(path, json.dumps({**stored, **asdict(made)}, indent=2))
        return made

