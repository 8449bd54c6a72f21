"""thumbnail: a small JPEG of an image or of a video's first frame, written to the store."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from functions.common import contract, images, media
from functions.common.transfer import Source

DEFAULT_SIZE = 320
ENGINE = {"engine": "thumbnail", "model": "pillow", "version": "1"}


def handle(event: Any, context: Any) -> dict[str, Any]:
    return contract.run(event, analyze)


def analyze(request: contract.Request) -> dict[str, Any]:
    data = request.fetch_source()
    size = int(request.options.get("size", DEFAULT_SIZE))
    if not 16 <= size <= 2048:
        raise contract.InputError("thumbnail size must be between 16 and 2048 pixels")
    with request.timed("decode"):
        picture = _picture(data, request.options.get("media_type", "image"))
    with request.timed("encode"):
        picture.thumbnail((size, size), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=82, optimize=True)
    request.put_output("thumbnail", buffer.getvalue(), "image/jpeg")
    return {
        "width": picture.width,
        "height": picture.height,
        "bytes": buffer.tell(),
        "engine": ENGINE,
    }


def _picture(data: Source, media_type: str) -> Image.Image:
    if media_type == "video":
        frame: Image.Image = media.first_video_frame(data)
        return frame.convert("RGB")
    return images.decode_rgb(data)
