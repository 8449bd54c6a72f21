"""What a search may be narrowed to: a media type, the uploads a person appears in, an upload date range."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# When a filter is set, the nearest passages are asked for this many times over, as many may be left out.
OVERFETCH = 4


@dataclass(frozen=True)
class Filters:
    """Empty fields filter nothing. ``uploads`` is a set of upload ids (a person's), ``since``/``until``
    bound the upload time (seconds since the epoch, ``until`` exclusive)."""

    media_type: str = ""
    uploads: frozenset[str] | None = None
    since: float | None = None
    until: float | None = None

    def __bool__(self) -> bool:
        return bool(self.media_type) or self.uploads is not None or self.since is not None or self.until is not None

    def where(self) -> dict[str, Any] | None:
        """The part Chroma can filter on itself (its metadata holds media type and upload id)."""
        parts: list[dict[str, Any]] = []
        if self.media_type:
            parts.append({"media_type": self.media_type})
        if self.uploads is not None:
            parts.append({"upload_id": {"$in": sorted(self.uploads) or [""]}})
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else {"$and": parts}

    def keeps(self, metadata: dict[str, Any], uploaded_at: Callable[[str], float | None]) -> bool:
        """Whether a hit (its index metadata) passes; ``uploaded_at`` tells an upload's time, None if gone."""
        upload = str(metadata.get("upload_id") or "")
        if self.media_type and metadata.get("media_type") != self.media_type:
            return False
        if self.uploads is not None and upload not in self.uploads:
            return False
        if self.since is None and self.until is None:
            return True
        when = uploaded_at(upload)
        if when is None:
            return False
        return (self.since is None or when >= self.since) and (self.until is None or when < self.until)
