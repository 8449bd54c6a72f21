"""OpenFaaS handler for extract: a video's keyframes (JPEG) and audio track (16 kHz mono WAV).

Keyframe count is not known in advance, so the request brings ``outputs.keyframe_0`` ...
``keyframe_{M-1}`` (M = ``options.max_keyframes``) and ``outputs.audio``; the result says which
outputs were written, with each keyframe's time.
"""

from __future__ import annotations

import io
import logging
import time
from dataclasses import dataclass
from typing import Any

import av
import numpy as np

from functions.common import audio, contract, media
from functions.common.settings import settings as function_settings

from .scenes import THUMB_SIZE, SceneDetector
from .settings import settings

logger = logging.getLogger(__name__)

LIMIT_SETTING = "MEDIALENS_EXTRACT_MAX_DURATION_S"


def analyze(request: contract.Request) -> dict[str, Any]:
    options = Options.from_request(request)
    data = request.fetch_source()
    with media.open_container(data) as container:
        return Extraction(request, options, container).run()


@dataclass
class Options:
    max_keyframes: int
    min_interval_s: float

    @classmethod
    def from_request(cls, request: contract.Request) -> Options:
        config = settings()
        raw = request.options
        try:
            wanted = int(raw.get("max_keyframes", config.max_keyframes))
            interval = float(raw.get("min_interval_s", config.min_interval_s))
        except (TypeError, ValueError) as exc:
            raise contract.InputError(
                "options.max_keyframes and options.min_interval_s must be numbers"
            ) from exc
        if not 1 <= wanted <= config.max_keyframes_limit:
            raise contract.InputError(
                f"options.max_keyframes must be between 1 and {config.max_keyframes_limit}"
            )
        if interval <= 0:
            raise contract.InputError("options.min_interval_s must be more than 0 seconds")
        return cls(max_keyframes=wanted, min_interval_s=interval)


def keyframe_outputs(outputs: dict[str, str], wanted: int) -> list[str] | None:
    """The keyframe output names usable in order; None when the request asks for times only."""
    names = []
    for index in range(wanted):
        if not outputs.get(f"keyframe_{index}"):
            break
        names.append(f"keyframe_{index}")
    if not names and not any(name.startswith("keyframe_") for name in outputs):
        return None
    if not names:
        raise contract.InputError("outputs name keyframes but no keyframe_0: number them from 0")
    return names


class Extraction:
    """One pass over the file: video frames feed scene detection, audio frames the WAV."""

    def __init__(self, request: contract.Request, options: Options, container: Any) -> None:
        self.request, self.container, self.config = request, container, settings()
        self.streams = media.describe_streams(container)
        if not container.streams.video:
            raise contract.InputError(
                "the file has no video stream; send audio-only files to the transcribe function"
            )
        self.video = container.streams.video[0]
        self.sound = container.streams.audio[0] if container.streams.audio else None
        self.declared = media.container_duration(container, self.streams)
        limit = self.config.max_duration_s
        if self.declared is not None and self.declared > limit:
            raise audio.too_long("video", self.declared, limit, LIMIT_SETTING)
        width, height = self.video.codec_context.width, self.video.codec_context.height
        max_pixels = function_settings().max_pixels
        if width * height > max_pixels:
            raise contract.InputError(
                f"the video frames are {width} x {height} pixels, "
                f"more than the limit of {max_pixels / 1e6:.0f} MP"
            )
        self.video.thread_type = "AUTO"
        self.outputs = keyframe_outputs(request.outputs, options.max_keyframes)
        wanted = options.max_keyframes if self.outputs is None else len(self.outputs)
        # On long videos the interval widens so that the keyframes cover the whole video.
        self.interval = max(options.min_interval_s, (self.declared or 0.0) / max(wanted, 1))
        self.scenes = SceneDetector(self.config.scene_threshold, self.interval, wanted)
        self.keyframes: list[dict[str, Any]] = []
        self.pcm: list[np.ndarray] = []
        self.mono = audio.Mono16k() if self.sound is not None else None
        self.frames_seen = self.frames_compared = 0
        self.last_time = 0.0
        self.next_sample = 0.0

    def run(self) -> dict[str, Any]:
        truncated = False
        started = time.perf_counter()
        before = dict(self.request.timings)
        streams = [self.video] + ([self.sound] if self.sound is not None else [])
        try:
            for packet in self.container.demux(*streams):
                for frame in packet.decode():
                    if isinstance(frame, av.VideoFrame):
                        self.on_video(frame)
                    elif isinstance(frame, av.AudioFrame):
                        self.on_audio(frame)
        except av.FFmpegError as exc:
            logger.info("decoding stopped early: %s", exc)
            truncated = True
        if not self.frames_seen:
            raise contract.InputError("the video is damaged: not one frame could be decoded")
        self._record_decode_time(started, before)
        extent = self.last_time + self._frame_duration()
        # A header can promise more than the file holds when its tail was cut off.
        truncated = truncated or (self.declared is not None and extent < self.declared - 1.0)
        duration = extent if truncated or self.declared is None else self.declared
        return {
            "keyframes": self.keyframes,
            "audio": self.write_audio(),
            "duration": round(duration, 3),
            "truncated": truncated,
            "interval_s": round(self.interval, 3),
            "frames": {"decoded": self.frames_seen, "compared": self.frames_compared},
            "streams": self.streams,
        }

    def on_video(self, frame: av.VideoFrame) -> None:
        self.frames_seen += 1
        moment = float(frame.time) if frame.time is not None else self.last_time + self._frame_duration()
        self.last_time = max(self.last_time, moment)
        if moment > self.config.max_duration_s:
            raise audio.too_long("video", moment, self.config.max_duration_s, LIMIT_SETTING)
        # A millisecond of slack: frame times are floats, and 0.6 may arrive as 0.59999.
        if self.scenes.full or moment < self.next_sample - 1e-3:
            return
        self.next_sample = moment + 1.0 / self.config.sample_fps
        self.frames_compared += 1
        with self.request.timed("scenes"):
            thumb = frame.to_ndarray(
                width=THUMB_SIZE[0], height=THUMB_SIZE[1], format="rgb24", interpolation="AREA"
            )
            score = self.scenes.offer(moment, thumb)
        if score is not None:
            self.keep(frame, moment, score)

    def keep(self, frame: av.VideoFrame, moment: float, score: float) -> None:
        index = len(self.keyframes)
        with self.request.timed("encode"):
            width, height = _fit(frame.width, frame.height, self.config.keyframe_long_side)
            image = frame.reformat(width=width, height=height, format="rgb24").to_image()
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=self.config.jpeg_quality)
        name = None if self.outputs is None else self.outputs[index]
        if name is not None:
            self.request.put_output(name, buffer.getvalue(), "image/jpeg", timing="put")
        self.keyframes.append(
            {
                "index": index,
                "time": round(moment, 3),
                "output": name,
                "width": width,
                "height": height,
                "score": round(score, 2),
            }
        )

    def on_audio(self, frame: av.AudioFrame) -> None:
        assert self.mono is not None
        with self.request.timed("audio"):
            self.pcm.extend(audio.pcm16(piece) for piece in self.mono.push(frame))

    def write_audio(self) -> dict[str, Any] | None:
        if self.mono is None:
            return None
        with self.request.timed("audio"):
            self.pcm.extend(audio.pcm16(piece) for piece in self.mono.push(None))
            samples = np.concatenate(self.pcm) if self.pcm else np.zeros(0, dtype="<i2")
            wav = audio.wav_bytes(samples)
        name = "audio" if self.request.outputs.get("audio") else None
        if name is not None:
            self.request.put_output(name, wav, "audio/wav", timing="put")
        return {
            "output": name,
            "duration": round(len(samples) / audio.SAMPLE_RATE, 3),
            "sample_rate": audio.SAMPLE_RATE,
            "bytes": len(wav),
        }

    def _frame_duration(self) -> float:
        rate = self.video.average_rate
        return 1.0 / float(rate) if rate else 0.0

    def _record_decode_time(self, started: float, before: dict[str, float]) -> None:
        """Decoding happens inside the demux loop; its share is the loop minus the timed steps."""
        loop_ms = (time.perf_counter() - started) * 1000
        steps = sum(
            self.request.timings.get(key, 0.0) - before.get(key, 0.0)
            for key in ("scenes", "encode", "put", "audio")
        )
        self.request.timings["decode"] = round(loop_ms - steps, 3)


def _fit(width: int, height: int, long_side: int) -> tuple[int, int]:
    scale = min(1.0, long_side / max(width, height))
    # Even sizes keep every chroma layout happy when scaling.
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def handle(event: Any, context: Any) -> dict[str, Any]:
    return contract.run(event, analyze)
