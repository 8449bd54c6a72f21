"""Decodes images safely: pixel limit, EXIF orientation, one RGB layout for every engine."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .contract import InputError, Request
from .settings import settings
from .transfer import Source, readable, size_of

# Pillow's own bomb limit (89 Mpx, a warning, then an error at twice that) would overrule max_pixels,
# and call an image past it "not an image": open_image checks max_pixels itself, before any decoding.
Image.MAX_IMAGE_PIXELS = None


def open_image(data: Source, max_pixels: int | None = None) -> Image.Image:
    """Opens an image without decoding pixels, refusing empty, unknown and oversized input."""
    if not size_of(data):
        raise InputError("the file is empty")
    limit = max_pixels or settings().max_pixels
    try:
        image = Image.open(readable(data))
    except UnidentifiedImageError:
        image = None
    except MemoryError:
        raise  # the memory bound, not a damaged file
    except Exception as exc:  # any decoder failure means a bad file
        raise InputError(f"the image cannot be read: {exc}") from exc
    if image is None:
        raise InputError("the file is not an image this platform can read")
    width, height = image.size
    if width * height > limit:
        raise InputError(_too_many_pixels(width, height, limit))
    return image


def decode_rgb(data: Source, max_pixels: int | None = None) -> Image.Image:
    """Fully decodes an image to upright 8-bit RGB (first frame of animations)."""
    image = open_image(data, max_pixels)
    try:
        image.seek(0)
        upright = ImageOps.exif_transpose(image) or image
        if upright.mode in ("I;16", "I;16B", "I;16L", "I"):
            array = np.asarray(upright, dtype=np.float64)
            peak = array.max() or 1.0
            upright = Image.fromarray((array * (255.0 / peak)).astype(np.uint8))
        if upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info):
            rgba = upright.convert("RGBA")
            background = Image.new("RGB", rgba.size, (255, 255, 255))
            background.paste(rgba, mask=rgba.getchannel("A"))
            return background
        return upright.convert("RGB")
    except (InputError, MemoryError):
        raise
    except Exception as exc:  # truncated or corrupt pixel data
        raise InputError(f"the image is damaged and cannot be decoded: {exc}") from exc


def analysis_image(request: Request) -> Image.Image:
    """The request's source image, upright RGB, at most `analysis_long_side` on its long side."""
    upright = decode_rgb(request.fetch_source())
    refuse_degenerate(upright.width, upright.height)
    return fit_long_side(upright)


def refuse_degenerate(width: int, height: int) -> None:
    """Refuses shapes no analyzer can work on: a strip 1 pixel high sent OCR to 15 GB."""
    s = settings()
    short, long = sorted((width, height))
    if short < s.min_side_px or long > short * s.max_aspect_ratio:
        raise InputError(
            f"the image is {width} x {height} pixels: too thin to analyse (sides under {s.min_side_px} px "
            f"or shapes longer than {s.max_aspect_ratio:g}:1 are not analysed)"
        )


def to_array(image: Image.Image) -> np.ndarray:
    """RGB uint8 array, height x width x 3."""
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def fit_long_side(image: Image.Image, long_side: int | None = None) -> Image.Image:
    """Shrinks an image so its long side is at most ``long_side``; never enlarges."""
    s = settings()
    target = long_side or s.analysis_long_side
    scale = target / max(image.size)
    if scale >= 1:
        return image
    exact = [side * scale for side in image.size]
    # Rounded to the nearest pixel, but up where rounding down would make a shape refuse_degenerate
    # accepted one it refuses: the analysis image probe writes is checked again by every analyzer.
    thinnest = max(exact) / s.max_aspect_ratio
    width, height = (max(1, round(side) if round(side) >= thinnest else math.ceil(side)) for side in exact)
    return image.resize((width, height), Image.Resampling.BILINEAR)


def _too_many_pixels(width: int, height: int, limit: int) -> str:
    return (
        f"the image is {width} x {height} pixels ({width * height / 1e6:.0f} MP), "
        f"more than the limit of {limit / 1e6:.0f} MP"
    )
