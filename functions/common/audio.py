"""Audio for speech engines: any track decoded to 16 kHz mono float32, and WAV out."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from dataclasses import dataclass

import av
import numpy as np
from av.audio.resampler import AudioResampler

from .contract import InputError
from .media import container_duration, describe_streams, open_container
from .transfer import Source

SAMPLE_RATE = 16_000
# Decoded before a seek's target and dropped: AAC's and Opus's first frames after a seek lack the state that the
# frames before them leave (AAC's overlap, Opus's pre-skip).
PREROLL_S = 0.5


class Mono16k:
    """Resamples decoded frames of any layout and rate to 16 kHz mono float32."""

    def __init__(self) -> None:
        self._resampler = AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)

    def push(self, frame: av.AudioFrame | None) -> Iterator[np.ndarray]:
        """Yields resampled samples; ``None`` flushes what the resampler still holds."""
        for out in self._resampler.resample(frame):
            yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)


@dataclass
class Audio:
    """A stretch of 16 kHz mono samples and where it sits in its file."""

    samples: np.ndarray
    start: float
    file_duration: float | None
    truncated: bool = False

    @property
    def end(self) -> float:
        return self.start + len(self.samples) / SAMPLE_RATE


def too_long(what: str, seconds: float, limit: float, setting: str) -> InputError:
    return InputError(
        f"the {what} lasts {seconds / 60:.1f} min, more than the limit of {limit / 60:.1f} min: "
        f"split it, or raise {setting}"
    )


def decode_audio(
    data: Source,
    start_s: float = 0.0,
    duration_s: float | None = None,
    max_duration_s: float | None = None,
    limit_setting: str = "the duration limit",
) -> Audio:
    """Decodes [start_s, start_s + duration_s) of the first audio track to 16 kHz mono.

    Seeks rather than decoding from the start, so chunk N of a long file costs one chunk.
    A damaged tail gives what was decodable before it, marked ``truncated``.
    """
    with open_container(data) as container:
        if not container.streams.audio:
            raise InputError("the file has no audio track")
        stream = container.streams.audio[0]
        declared = container_duration(container, describe_streams(container))
        if max_duration_s is not None and declared is not None and declared > max_duration_s:
            raise too_long("audio", declared, max_duration_s, limit_setting)
        if start_s > 0:
            # Lands on a packet at or before start_s, PREROLL_S early so that the decoder has settled by start_s;
            # the samples before start_s are cut below. The seek is the audio stream's, in its time base: FFmpeg
            # ignored a seek of the whole container for every format tried, decoding from the start, so chunk N
            # of an hour's recording cost N chunks (issue 17).
            target = max(0.0, start_s - PREROLL_S)
            if stream.time_base is None:
                container.seek(int(target / av.time_base), backward=True, any_frame=False)
            else:
                container.seek(int(target / stream.time_base), stream=stream, backward=True, any_frame=False)
        stop = None if duration_s is None else start_s + duration_s
        mono = Mono16k()
        pieces: list[np.ndarray] = []
        first: float | None = None
        decoded = 0
        truncated, reached_end = False, True
        try:
            for frame in container.decode(stream):
                if first is None:
                    first = float(frame.time or 0.0)
                for piece in mono.push(frame):
                    pieces.append(piece)
                    decoded += len(piece)
                position = first + decoded / SAMPLE_RATE
                if max_duration_s is not None and position > max_duration_s:
                    raise too_long("audio", position, max_duration_s, limit_setting)
                if stop is not None and position >= stop:
                    reached_end = False
                    break
        except av.FFmpegError:
            if not pieces:
                raise InputError("the audio track is damaged: no sound could be decoded") from None
            truncated = True
        pieces.extend(mono.push(None))
    samples = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    start = max(first or 0.0, start_s)
    samples = samples[max(0, round((start_s - (first or 0.0)) * SAMPLE_RATE)) :]
    if stop is not None:
        samples = samples[: max(0, round((stop - start) * SAMPLE_RATE))]
    file_duration = declared
    if reached_end and (declared is None or truncated):
        file_duration = start + len(samples) / SAMPLE_RATE
    return Audio(samples=samples, start=start, file_duration=file_duration, truncated=truncated)


def pcm16(samples: np.ndarray) -> np.ndarray:
    """Float samples as 16-bit integers: half the memory while a long track accumulates."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")


def wav_bytes(pcm: np.ndarray) -> bytes:
    """16 kHz mono WAV from 16-bit samples (see ``pcm16``): what every speech engine reads."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()
