"""Tells images, audio and video apart by decoding them, and describes what it finds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from PIL import Image

from functions.common import images, media
from functions.common.contract import InputError
from functions.common.transfer import Source, head, sha256_of, size_of

from . import capture
from .fingerprint import perceptual_hash

ENGINE = {"engine": "probe", "model": "pillow+pyav", "version": "2"}

# Formats Pillow opens that are not pictures a person uploads as an image.
NOT_IMAGES = {"PDF", "EPS", "PSD"}

# How image files begin: one that begins so but does not decode is a damaged picture, not a video
# (ffmpeg's image-pipe demuxers would otherwise call a cut-off JPEG a zero-pixel "video").
SIGNATURES = {
    b"\xff\xd8\xff": "JPEG", b"\x89PNG\r\n\x1a\n": "PNG", b"GIF8": "GIF", b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF", b"BM": "BMP",
}
SVG = re.compile(rb"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*|<!DOCTYPE[^>]*>\s*)*<svg[\s>]", re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class Findings:
    """What an upload is, and, when it is a picture, that picture decoded: upright 8-bit RGB, full size."""

    description: dict[str, Any]
    picture: Image.Image | None = None


def describe(data: Source) -> dict[str, Any]:
    return examine(data).description


def examine(data: Source) -> Findings:
    summary: dict[str, Any] = {
        "size": size_of(data),
        "sha256": sha256_of(data),
        "engine": ENGINE,
    }
    if not summary["size"]:
        raise InputError("the file is empty")
    _refuse_drawings_and_damaged_pictures(data)
    image = _as_image(data)
    if image is not None:
        found, picture = image
        return Findings({**summary, **found}, picture)
    return Findings({**summary, **_as_audio_or_video(data)})


def _refuse_drawings_and_damaged_pictures(data: Source) -> None:
    start = head(data, 1024)
    if SVG.match(start):
        raise InputError("SVG drawings are not analysed: export the picture as PNG or JPEG and upload that")
    kind = next((name for signature, name in SIGNATURES.items() if start.startswith(signature)), None)
    if kind is None:
        return
    try:
        images.open_image(data)
    except InputError as exc:
        if "pixels" in str(exc):
            raise
        raise InputError(f"the {kind} image is damaged or cut short and cannot be read") from exc


def _as_image(data: Source) -> tuple[dict[str, Any], Image.Image] | None:
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
    images.refuse_degenerate(upright.width, upright.height)
    return {
        "media_type": "image",
        "mime": Image.MIME.get(opened.format or "", "application/octet-stream"),
        "width": upright.width,
        "height": upright.height,
        "duration": None,
        "streams": [],
        "image": info,
        "phash": perceptual_hash(upright),
        "metadata": capture.of_image(opened),
    }, upright


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
        metadata = capture.of_container(container, streams)
    kinds = {stream["type"] for stream in streams}
    # An image pipe that read nothing reports a 0 x 0 "video": that is no picture at all.
    video = next((s for s in streams if s["type"] == "video" and s.get("width")), None)
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
        "metadata": metadata,
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
