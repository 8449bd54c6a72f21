"""Images for the analyzer tests: photos that ship in packages, rendered text, face photos."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib
import numpy as np
import skimage.data
from PIL import Image, ImageDraw, ImageFont

FACES_DIR = Path(__file__).parent.parent / "data" / "faces"
FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
GRACE_HOPPER = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
TEXT_LINES = ["Invoice 2024-117 due March 3", "Pay to: Harbour Lights Ltd", "Total amount EUR 1,482.50"]


def photo(name: str, long_side: int | None = None) -> Image.Image:
    """A scikit-image sample photo (astronaut, camera, coffee, chelsea, rocket...) as RGB."""
    image = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
    if long_side:
        scale = long_side / max(image.size)
        image = image.resize(
            (round(image.width * scale), round(image.height * scale)), Image.Resampling.BILINEAR
        )
    return image


def grace_hopper() -> Image.Image:
    return Image.open(GRACE_HOPPER).convert("RGB")


def face_photo(name: str) -> bytes:
    """obama, obama2, obama3 or biden (face_recognition 1.3.0's test images)."""
    return (FACES_DIR / f"{name}.jpg").read_bytes()


def encode(image: Image.Image, format: str = "PNG", quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, quality=quality)
    return buffer.getvalue()


def render_text(size: int, lines: list[str] = TEXT_LINES) -> Image.Image:
    """Black DejaVu Sans text, ``size`` px high, on white, one line per entry."""
    font = ImageFont.truetype(str(FONT), size)
    width = int(max(font.getlength(line) for line in lines)) + 2 * size
    height = int(len(lines) * size * 1.8) + 2 * size
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(lines):
        draw.text((size, size + number * size * 1.8), line, font=font, fill="black")
    return image


def text_on_photo(long_side: int, size: int) -> Image.Image:
    """A label of ``size`` px text pasted on a photo of ``long_side`` px: text as small as a sign in a
    picture, where the detector sees the whole photo, not a crop around the text."""
    picture = photo("coffee", long_side)
    picture.paste(render_text(size), (long_side // 10, long_side // 12))
    return picture


def text_cases() -> dict[str, Image.Image]:
    """Several sizes, a 6 degree rotation, heavy JPEG noise, and small text inside whole photos."""
    cases = {f"{size}px": render_text(size) for size in (16, 24, 40)}
    cases["in-640px-photo"] = text_on_photo(640, 16)
    cases["in-1280px-photo"] = text_on_photo(1280, 20)
    cases["rotated"] = render_text(28).rotate(
        6, expand=True, fillcolor="white", resample=Image.Resampling.BICUBIC
    )
    cases["jpeg-q15"] = Image.open(io.BytesIO(encode(render_text(24), "JPEG", quality=15))).convert("RGB")
    return cases


def character_error_rate(found: str, expected: str) -> float:
    """Levenshtein distance over characters, divided by the expected length."""
    previous = list(range(len(expected) + 1))
    for i, got in enumerate(found, 1):
        current = [i]
        for j, want in enumerate(expected, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (got != want)))
        previous = current
    return previous[-1] / len(expected)


def normalised_text(lines: list[str]) -> str:
    return "\n".join(" ".join(line.split()) for line in lines)


def blank(width: int = 640, height: int = 480) -> np.ndarray:
    """A plain gradient: no person, no face, no text."""
    ramp = np.linspace(60, 200, width, dtype=np.uint8)
    return np.ascontiguousarray(np.broadcast_to(ramp[None, :, None], (height, width, 3)))
