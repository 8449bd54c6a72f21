"""Credentials made once per installation and kept in the state directory (mode 0600)."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Secrets:
    s3_access_key: str
    s3_secret_key: str
    intake_token: str
    gateway_password: str
    session_key: str

    @classmethod
    def generate(cls) -> Secrets:
        return cls(
            s3_access_key="medialens-" + secrets.token_hex(4),
            s3_secret_key=secrets.token_urlsafe(24),
            intake_token=secrets.token_urlsafe(24),
            gateway_password=secrets.token_urlsafe(16),
            session_key=secrets.token_urlsafe(32),
        )

    @classmethod
    def load_or_create(cls, state_dir: Path) -> Secrets:
        path = state_dir / "secrets.json"
        if path.exists():
            return cls(**json.loads(path.read_text()))
        made = cls.generate()
        state_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(asdict(made), handle, indent=2)
        return made
