"""Tells images, audio and video apart by decoding them, and describes what it finds."""

from __future__ import annotations

from typing import Any

from PIL import Image

from functions.common import images, media
from functions.common.contract import InputError
from functions.common.transfer import Source, sha256_of, size_of

ENGINE = {"engine": "probe", "model": "pillow+pyav", "version": "1"}

# Formats Pillow opens that are not pictures a person uploads as an image.
NOT_IMAGES = {"PDF", "EPS", "PSD"}


def describe(data: Source) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "size": size_of(data),
        "sha256": sha256_of(data),
        "engine": ENGINE,
    }
    if not summary["size"]:
        raise InputError("the file is empty")
    image = _as_image(data)
    if image is not None:
        return {**summary, **image}
    return {**summary, **_as_audio_or_video(data)}


def _as_image(data: Source) -> dict[str, Any] | None:
    try:
        opened = images.open_image(data)
    except InputError as exc:
        if "pixels" in str(exc):
            raise
        return None
    if opened.format in NOT_IMAGES:
        return None
    frames = getattr(opened, "n_frames", 1)
    info = {"format": opened.format, "mode": opened.mode, "frames": frames}
    # A full decode here turns a truncated or corrupt file into a clear failure at the first step.
    upright = images.decode_rgb(data)
    return {
        "media_type": "image",
        "mime": Image.MIME.get(opened.format or "", "application/octet-stream"),
        "width": upright.width,
        "height": upright.height,
        "duration": None,
        "streams": [],
        "image": info,
    }


def _as_audio_or_video(data: Source) -> dict[str, Any]:
    try:
        opened = media.open_container(data)
    except InputError as exc:
        raise InputError(
            "the file is not a media file this platform can read: not an image, audio or video"
        ) from exc
    with opened as container:
        streams = media.describe_streams(container)
        duration = media.container_duration(container, streams)
        format_name = container.format.name
    kinds = {stream["type"] for stream in streams}
    video = next((s for s in streams if s["type"] == "video"), None)
    if video is not None:
        media_type = "video"
    elif "audio" in kinds:
        media_type = "audio"
    else:
        raise InputError("the file has no audio or video streams")
    return {
        "media_type": media_type,
        "mime": _mime(format_name, media_type),
        "width": video["width"] if video else None,
        "height": video["height"] if video else None,
        "duration": duration,
        "streams": streams,
        "container": format_name,
    }


def _mime(format_name: str, media_type: str) -> str:
    known = {
        "mov,mp4,m4a,3gp,3g2,mj2": {"video": "video/mp4", "audio": "audio/mp4"},
        "matroska,webm": {"video": "video/x-matroska", "audio": "audio/webm"},
        "mp3": {"audio": "audio/mpeg"},
        "ogg": {"audio": "audio/ogg", "video": "video/ogg"},
        "wav": {"audio": "audio/wav"},
        "flac": {"audio": "audio/flac"},
        "avi": {"video": "video/x-msvideo"},
    }
    return known.get(format_name, {}).get(media_type, f"{media_type}/{format_name.split(',')[0]}")
