"""Audio and video containers opened in process with PyAV."""

from __future__ import annotations

from typing import Any

import av

from .contract import InputError
from .transfer import Source, readable, size_of


def open_container(data: Source) -> Any:
    """Opens a container, with a reason a person understands when it cannot."""
    if not size_of(data):
        raise InputError("the file is empty")
    try:
        return av.open(readable(data), mode="r")
    except (av.FFmpegError, ValueError) as exc:
        raise InputError("the file is not an audio or video format this platform can read") from exc


def describe_streams(container: Any) -> list[dict[str, Any]]:
    streams = []
    for stream in container.streams:
        entry: dict[str, Any] = {"index": stream.index, "type": stream.type}
        codec = stream.codec_context
        if codec is None:
            continue  # a stream no decoder here can read (an SVG through ffmpeg's svg pipe, say)
        entry["codec"] = getattr(codec, "name", None)
        if stream.duration is not None and stream.time_base is not None:
            entry["duration"] = round(float(stream.duration * stream.time_base), 3)
        if stream.type == "video":
            entry.update(width=codec.width, height=codec.height)
            if stream.average_rate:
                entry["fps"] = round(float(stream.average_rate), 3)
        elif stream.type == "audio":
            entry.update(sample_rate=codec.sample_rate, channels=codec.channels)
        streams.append(entry)
    return streams


def container_duration(container: Any, streams: list[dict[str, Any]]) -> float | None:
    if container.duration:
        return round(container.duration / av.time_base, 3)
    durations = [s["duration"] for s in streams if "duration" in s]
    return max(durations) if durations else None


def first_video_frame(data: Source) -> Any:
    """The first decodable frame of a video as a PIL image."""
    with open_container(data) as container:
        if not container.streams.video:
            raise InputError("the file has no video stream")
        try:
            for frame in container.decode(video=0):
                return frame.to_image()
        except av.FFmpegError as exc:
            raise InputError(f"the video is damaged and cannot be decoded: {exc}") from exc
    raise InputError("the video stream has no decodable frame")
