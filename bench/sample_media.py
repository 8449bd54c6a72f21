"""Builds sample media in memory for tests and benchmarks: photos and text pages, videos with words at known
times, speech."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from functions.common import audio

SPEECH_DIR = Path(__file__).resolve().parent.parent / "tests" / "data" / "speech"
FACES_DIR = Path(__file__).resolve().parent.parent / "tests" / "data" / "faces"
FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
TEXT = [
    ["Quarterly report 2024", "Revenue grew 12% to EUR 4.1 million", "Next review: 14 March"],
    ["PARKING ONLY", "Monday to Friday 8am - 6pm", "Violators will be towed"],
    ["Flight LH 1234 to Berlin", "Gate B42, boarding 17:05", "Seat 23C, group 3"],
    ["Tomato soup 4.50", "Grilled cheese 6.00", "Coffee or tea 2.20"],
]


@dataclass(frozen=True)
class Scene:
    """A word shown on a plain background from ``start`` until the next scene."""

    start: float
    word: str
    background: tuple[int, int, int]


@dataclass(frozen=True)
class Speech:
    """A speech fixture (tests/data/speech/<name>.ogg) spoken from ``start`` seconds."""

    start: float
    name: str


def speech_bytes(name: str) -> bytes:
    return (SPEECH_DIR / f"{name}.ogg").read_bytes()


def speech_samples(name: str) -> np.ndarray:
    return audio.decode_audio(speech_bytes(name)).samples


def render(word: str, background: tuple[int, int, int], size: tuple[int, int]) -> np.ndarray:
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONT), size[1] // 5)
    left, top, right, bottom = draw.textbbox((0, 0), word, font=font)
    position = ((size[0] - (right - left)) / 2 - left, (size[1] - (bottom - top)) / 2 - top)
    draw.text(position, word, fill=(255, 255, 255) if sum(background) < 384 else (0, 0, 0), font=font)
    return np.asarray(image)


def photos() -> dict[str, Image.Image]:
    """Photos that ship in packages: portraits (one person in several, another beside him), full body, and
    scenes with no one in them."""
    import skimage.data

    return {
        "camera": Image.fromarray(skimage.data.camera()),
        "astronaut": Image.fromarray(skimage.data.astronaut()),
        "grace_hopper": Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"),
        **{name: Image.open(FACES_DIR / f"{name}.jpg") for name in ("obama", "obama2", "obama3", "biden")},
        "coffee": Image.fromarray(skimage.data.coffee()),
        "chelsea": Image.fromarray(skimage.data.chelsea()),
        "rocket": Image.fromarray(skimage.data.rocket()),
        "motorcycle": Image.fromarray(skimage.data.stereo_motorcycle()[0]),
    }


def text_pages(width: int = 640) -> dict[str, Image.Image]:
    """Printed text: pages rendered from TEXT, and scikit-image's scanned page."""
    import skimage.data

    font = ImageFont.truetype(str(FONT), 32)
    pages = {}
    for number, lines in enumerate(TEXT):
        page = Image.new("RGB", (width, 360), "white")
        draw = ImageDraw.Draw(page)
        for row, line in enumerate(lines):
            draw.text((30, 40 + row * 90), line, font=font, fill="black")
        pages[f"text{number + 1}"] = page
    pages["page"] = Image.fromarray(skimage.data.page())
    return pages


def jpeg(image: Image.Image, long_side: int, quality: int = 90) -> bytes:
    """The image as an RGB JPEG scaled to ``long_side`` pixels on its longer side."""
    image = image.convert("RGB")
    scale = long_side / max(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def image_set(count: int, long_side: int, seed: int = 0) -> dict[str, bytes]:
    """``count`` distinct JPEGs made from the photos and text pages in turn, each one varied: cropped to
    80-100 % of each side, its colours scaled by up to 8 % per channel, photos mirrored half the time
    (mirrored text is not what people upload). No two share their bytes, so none shares an etag."""
    rng = np.random.default_rng(seed)
    sources = [(name, image, True) for name, image in photos().items()]
    sources += [(name, image, False) for name, image in text_pages(long_side).items()]
    made: dict[str, bytes] = {}
    digests = set()
    for number in range(count):
        name, image, may_mirror = sources[number % len(sources)]
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32)
        height, width = pixels.shape[:2]
        keep_h, keep_w = (int(side * rng.uniform(0.8, 1.0)) for side in (height, width))
        top, left = rng.integers(0, height - keep_h + 1), rng.integers(0, width - keep_w + 1)
        pixels = pixels[top:top + keep_h, left:left + keep_w] * rng.uniform(0.92, 1.08, 3)
        if may_mirror and rng.random() < 0.5:
            pixels = pixels[:, ::-1]
        data = jpeg(Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)), long_side)
        digests.add(hashlib.md5(data).hexdigest())
        made[f"{number:04d}-{name}"] = data
    if len(digests) != count:
        raise RuntimeError(f"{count - len(digests)} of the {count} varied images came out the same; change the seed")
    return made


def soundtrack(speech: list[Speech], duration: float) -> np.ndarray:
    """16 kHz mono samples: silence with each speech clip placed at its start."""
    track = np.zeros(int(duration * audio.SAMPLE_RATE), dtype=np.float32)
    for clip in speech:
        samples = speech_samples(clip.name)
        begin = int(clip.start * audio.SAMPLE_RATE)
        end = min(len(track), begin + len(samples))
        track[begin:end] += samples[: end - begin]
    return track


def make_video(
    scenes: list[Scene],
    duration: float,
    speech: list[Speech] | None = None,
    fps: int = 10,
    size: tuple[int, int] = (320, 180),
    container: str = "mp4",
    noise: float = 0.0,
) -> bytes:
    """Encodes the scenes (H.264) and, when ``speech`` is given, an AAC track (``None``: no audio)."""
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    with av.open(buffer, mode="w", format=container) as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height = size
        video.pix_fmt = "yuv420p"
        video.options = {"preset": "veryfast"}
        sound = None if speech is None else out.add_stream("aac", rate=audio.SAMPLE_RATE, layout="mono")
        frames = {scene.word: render(scene.word, scene.background, size) for scene in scenes}
        for number in range(int(duration * fps)):
            moment = number / fps
            current = [scene for scene in scenes if scene.start <= moment][-1]
            pixels = frames[current.word]
            if noise:
                # Camera-like grain, so that "no change" is not trivially zero difference.
                pixels = np.clip(pixels + rng.normal(0, noise, pixels.shape), 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = number
            frame.time_base = Fraction(1, fps)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        if sound is not None and speech is not None:
            _encode_audio(out, sound, soundtrack(speech, duration))
    return buffer.getvalue()


def make_audio(samples: np.ndarray, container: str = "ogg", codec: str = "libopus") -> bytes:
    """Encodes 16 kHz mono samples; opus needs 48 kHz, so it is resampled by the encoder setup."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as out:
        rate = 48_000 if codec == "libopus" else audio.SAMPLE_RATE
        stream = out.add_stream(codec, rate=rate, layout="mono")
        _encode_audio(out, stream, samples)
    return buffer.getvalue()


def _encode_audio(out: av.container.OutputContainer, stream: Any, samples: np.ndarray) -> None:
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1).astype(np.float32), format="flt", layout="mono")
    frame.sample_rate = audio.SAMPLE_RATE
    frame.pts = 0
    frame.time_base = Fraction(1, audio.SAMPLE_RATE)
    resampler = av.AudioResampler(
        format=stream.codec_context.format, layout="mono", rate=stream.codec_context.sample_rate
    )
    for piece in resampler.resample(frame) + resampler.resample(None):
        for packet in stream.encode(piece):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
