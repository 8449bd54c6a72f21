"""What the result page's details panel shows of an upload: when, where and with what it was captured,
its size and form, and a map of the place from the tile server set in the settings."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MAP_ZOOM = 15
MAP_SPAN = 3  # tiles a side: the place's tile in the middle of its neighbours


@dataclass(frozen=True)
class Map:
    """A square of tiles around a place, row by row, and where the place is on it (percent from top left)."""

    tiles: list[list[str]]
    left: float
    top: float


def place_map(latitude: float, longitude: float, template: str, zoom: int = MAP_ZOOM) -> Map | None:
    """The tiles of a Web Mercator map (as OpenStreetMap serves them) around a place; None without a server."""
    if not template or not (-85.05 < latitude < 85.05):
        return None
    scale = 2**zoom
    x = (longitude + 180.0) / 360.0 * scale
    y = (1 - math.asinh(math.tan(math.radians(latitude))) / math.pi) / 2 * scale
    first_x, first_y = int(x) - MAP_SPAN // 2, int(y) - MAP_SPAN // 2
    tiles = [[template.format(z=zoom, x=(first_x + column) % scale, y=first_y + row) for column in range(MAP_SPAN)]
             for row in range(MAP_SPAN)]
    return Map(tiles, round((x - first_x) / MAP_SPAN * 100, 2), round((y - first_y) / MAP_SPAN * 100, 2))


def _when(stamp: Any) -> str | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    zone = moment.strftime(" %z") if moment.tzinfo else ""
    return moment.strftime("%Y-%m-%d %H:%M") + (f"{zone[:-2]}:{zone[-2:]}" if zone else "")


def _bytes(size: int) -> str:
    value, unit = float(size), "B"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            break
        value /= 1024
    return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"


def _duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    return (f"{hours}:" if hours else "") + f"{rest // 60:0{2 if hours else 1}d}:{rest % 60:02d}"


def details(upload: dict[str, Any], probe: dict[str, Any]) -> dict[str, str]:
    """The panel's rows by name (the page holds their labels), only those known."""
    found = probe.get("metadata")
    metadata: dict[str, Any] = found if isinstance(found, dict) else {}
    gps = metadata.get("gps") if isinstance(metadata.get("gps"), dict) else None
    width, height = probe.get("width"), probe.get("height")
    duration = upload.get("duration") or probe.get("duration")
    codecs = [metadata.get(name) for name in ("video_codec", "audio_codec") if metadata.get(name)]
    rows = {
        "taken": _when(metadata.get("taken_at")),
        "camera": metadata.get("camera"),
        "lens": metadata.get("lens"),
        "place": f"{gps['latitude']:.5f}, {gps['longitude']:.5f}" if gps else None,
        "dimensions": f"{width} \N{MULTIPLICATION SIGN} {height}" if width and height else None,
        "duration": _duration(float(duration)) if duration else None,
        "codec": " + ".join(str(codec) for codec in codecs) or None,
        "orientation": str(metadata["orientation"]) if metadata.get("orientation") else None,
        "size": _bytes(int(upload["size"])) if upload.get("size") else None,
        "uploaded": datetime.fromtimestamp(float(upload["created_at"]), UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    return {name: str(value) for name, value in rows.items() if value}


def where(probe: dict[str, Any]) -> tuple[float, float] | None:
    gps = (probe.get("metadata") or {}).get("gps") if isinstance(probe.get("metadata"), dict) else None
    if not isinstance(gps, dict):
        return None
    try:
        return float(gps["latitude"]), float(gps["longitude"])
    except (KeyError, TypeError, ValueError):
        return None
