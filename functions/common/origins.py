"""Origins (scheme, host, port) and the allow-lists that say which of them a process may talk to."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: object) -> Origin:
        """Where httpx would connect for ``url``; ValueError when it names no http(s) host.

        httpx's own parser decides, so a URL cannot read as one host here and reach another there
        (``http://allowed@elsewhere/`` is elsewhere to both)."""
        if not isinstance(url, str):
            raise ValueError("a URL must be a string")
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ValueError(f"not a URL: {exc}") from exc
        if parsed.scheme not in DEFAULT_PORTS or not parsed.host:
            raise ValueError("not an http(s) URL with a host")
        return cls(parsed.scheme, parsed.host.lower(), parsed.port or DEFAULT_PORTS[parsed.scheme])

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def allow_list(text: str) -> frozenset[Origin]:
    """The origins of a comma-separated setting (``http://127.0.0.1:8333,https://s3.example.com``).

    Empty means none: nothing is allowed, never everything."""
    return frozenset(Origin.of(entry.strip()) for entry in text.split(",") if entry.strip())


def allowed(url: object, origins: frozenset[Origin]) -> bool:
    try:
        return Origin.of(url) in origins
    except ValueError:
        return False
