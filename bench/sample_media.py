"""Builds sample media in memory for tests and benchmarks: videos with words at known times, speech."""

from __future__ import annotations

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
FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


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
