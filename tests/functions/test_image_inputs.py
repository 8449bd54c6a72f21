"""Every image format and pixel layout a user may upload decodes to the same upright RGB picture."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PIL import Image
from skimage import data as samples

from functions.common import images

ASTRONAUT = Image.fromarray(samples.astronaut())

Call = Callable[[str, dict[str, Any] | bytes], tuple[int, dict[str, Any]]]


def encoded(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


VARIANTS: dict[str, Callable[[], bytes]] = {
    "jpeg": lambda: encoded(ASTRONAUT, "JPEG", quality=95),
    "png": lambda: encoded(ASTRONAUT, "PNG"),
    "webp": lambda: encoded(ASTRONAUT, "WEBP", quality=95),
    "bmp": lambda: encoded(ASTRONAUT, "BMP"),
    "tiff": lambda: encoded(ASTRONAUT, "TIFF"),
    "gif": lambda: encoded(ASTRONAUT.convert("P", palette=Image.Palette.ADAPTIVE), "GIF"),
    "grayscale": lambda: encoded(ASTRONAUT.convert("L"), "PNG"),
    "cmyk jpeg": lambda: encoded(ASTRONAUT.convert("CMYK"), "JPEG", quality=95),
    "alpha png": lambda: encoded(ASTRONAUT.convert("RGBA"), "PNG"),
    "16-bit png": lambda: encoded(
        Image.fromarray((np.asarray(ASTRONAUT.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)), "PNG"
    ),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_each_variant_decodes_to_the_same_picture(variant: str) -> None:
    decoded = images.decode_rgb(VARIANTS[variant]())
    assert decoded.mode == "RGB" and decoded.size == ASTRONAUT.size
    reference = np.asarray(ASTRONAUT.convert("L"), dtype=np.float64)
    got = np.asarray(decoded.convert("L"), dtype=np.float64)
    assert np.abs(got - reference).mean() < 12, "the same picture, give or take compression and palettes"


@pytest.mark.parametrize("variant", ["webp", "cmyk jpeg", "16-bit png", "gif"])
def test_an_analyzer_finds_the_face_in_each_variant(
    variant: str, call_function: Call, source_url: Callable[..., str]
) -> None:
    status, result = call_function("faces", {"source": {"url": source_url(VARIANTS[variant]())}})
    assert status == 200, result
    assert len(result["faces"]) == 1


def test_an_animation_is_analysed_by_its_first_frame() -> None:
    red, blue = Image.new("RGB", (64, 48), (220, 20, 20)), Image.new("RGB", (64, 48), (20, 20, 220))
    animation = encoded(red, "GIF", save_all=True, append_images=[blue], duration=100, loop=0)
    first = np.asarray(images.decode_rgb(animation), dtype=np.int32)
    assert first[..., 0].mean() > 180 and first[..., 2].mean() < 60


def test_transparency_is_flattened_on_white() -> None:
    clear = Image.new("RGBA", (32, 32), (0, 0, 0, 0))
    assert np.asarray(images.decode_rgb(encoded(clear, "PNG"))).min() == 255
