"""When, where and with what a picture or clip was captured: EXIF of images, container tags of video and sound.

Every member is optional: a file that says nothing of itself gives an empty dict, and a malformed tag is
left out rather than failing the probe (the file is still a fine picture).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from PIL import ExifTags, Image

EXIF_IFD = 0x8769
GPS_IFD = 0x8825
# "2021:06:01 12:30:05" (EXIF), with an optional offset in OffsetTimeOriginal ("+02:00").
EXIF_DATE = re.compile(r"(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
# ISO 6709 as phones write it in a container's "location" tag: +48.8577+002.2950+035.000/
ISO6709 = re.compile(r"([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)")


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    found = str(value).strip("\x00 ").strip() if value is not None else ""
    return found or None


def exif_date(value: Any, offset: Any = None) -> str | None:
    """An EXIF date as ISO 8601 (with its offset when the camera wrote one), or None."""
    found = EXIF_DATE.match(_text(value) or "")
    if not found:
        return None
    try:
        year, month, day, hour, minute, second = (int(part) for part in found.groups())
        moment = datetime(year, month, day, hour, minute, second)
    except ValueError:  # "0000:00:00 00:00:00", as some cameras write for "unknown"
        return None
    zone = _text(offset)
    return moment.isoformat() + (zone if zone and re.fullmatch(r"[+-]\d{2}:\d{2}", zone) else "")


def _degrees(parts: Any, reference: Any) -> float | None:
    """Degrees, minutes, seconds (rationals) and N/S/E/W as signed decimal degrees."""
    try:
        degrees, minutes, seconds = (float(part) for part in parts)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = degrees + minutes / 60 + seconds / 3600
    return round(-value if _text(reference) in ("S", "W") else value, 6)


def _gps(gps: dict[int, Any]) -> dict[str, float] | None:
    tags = ExifTags.GPS
    latitude = _degrees(gps.get(tags.GPSLatitude), gps.get(tags.GPSLatitudeRef))
    longitude = _degrees(gps.get(tags.GPSLongitude), gps.get(tags.GPSLongitudeRef))
    if latitude is None or longitude is None or not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    found = {"latitude": latitude, "longitude": longitude}
    try:
        altitude = float(gps[tags.GPSAltitude])
        found["altitude"] = round(-altitude if gps.get(tags.GPSAltitudeRef) in (1, b"\x01") else altitude, 1)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        pass
    return found


def of_image(image: Image.Image) -> dict[str, Any]:
    """Date taken, camera, lens, GPS position and orientation from an image's EXIF."""
    try:
        exif = image.getexif()
        details = exif.get_ifd(EXIF_IFD)
        gps = exif.get_ifd(GPS_IFD)
    except Exception:  # a damaged EXIF block says nothing; the picture itself is fine
        return {}
    tags = ExifTags.Base
    make, model = _text(exif.get(tags.Make)), _text(exif.get(tags.Model))
    said_twice = make and model and model.lower().startswith(make.lower())
    camera = model if said_twice else " ".join(filter(None, [make, model]))
    found: dict[str, Any] = {
        "taken_at": exif_date(details.get(tags.DateTimeOriginal), details.get(tags.OffsetTimeOriginal))
        or exif_date(exif.get(tags.DateTime)),
        "camera": camera or None,
        "lens": _text(details.get(tags.LensModel)),
        "gps": _gps(gps) if gps else None,
        "orientation": exif.get(tags.Orientation) if exif.get(tags.Orientation) in range(1, 9) else None,
    }
    return {name: value for name, value in found.items() if value is not None}


def of_container(container: Any, streams: list[dict[str, Any]]) -> dict[str, Any]:
    """Creation time, codecs and a GPS position (ISO 6709 location tag) from a container's tags."""
    tags = {str(k).lower(): v for k, v in (getattr(container, "metadata", None) or {}).items()}
    for stream in container.streams:
        for name, value in (getattr(stream, "metadata", None) or {}).items():
            tags.setdefault(str(name).lower(), value)
    found: dict[str, Any] = {}
    created = _text(tags.get("creation_time"))
    if created:
        try:
            found["taken_at"] = datetime.fromisoformat(created.replace("Z", "+00:00")).isoformat()
        except ValueError:
            pass
    location = ISO6709.match(_text(tags.get("location") or tags.get("com.apple.quicktime.location.iso6709")) or "")
    if location:
        latitude, longitude = float(location.group(1)), float(location.group(2))
        if -90 <= latitude <= 90 and -180 <= longitude <= 180:
            found["gps"] = {"latitude": latitude, "longitude": longitude}
    camera = _text(tags.get("com.apple.quicktime.model") or tags.get("model"))
    if camera:
        found["camera"] = camera
    for kind in ("video", "audio"):
        codec = next((s.get("codec") for s in streams if s["type"] == kind and s.get("codec")), None)
        if codec:
            found[f"{kind}_codec"] = codec
    return found
