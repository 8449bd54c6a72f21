"""What a finished upload's analysis holds for the index: its pictures (image or keyframes), speech and summary.

Result documents are shaped as `scheduler.analysis` describes: an image's analyses sit at the top
of ``results``, a video's under each keyframe. Any step may be missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scheduler.analysis import keyframe_results
from scheduler.names import IMAGE_PICTURE, Keyframe

PICTURE_FUNCTIONS = ("faces", "clip", "ocr", "caption")


@dataclass
class Frame:
    """One picture the analyzers looked at: the uploaded image, or a video keyframe at ``time``."""

    name: str
    time: float | None = None
    end: float | None = None
    results: dict[str, Any] = field(default_factory=dict)


@dataclass
class Contents:
    upload_id: str
    key: str
    media_type: str
    frames: list[Frame]
    segments: list[dict[str, Any]]
    sha256: str = ""
    phash: str = ""
    summary: dict[str, Any] = field(default_factory=dict)  # the summarize result of a recording


def contents_of(document: Mapping[str, Any]) -> Contents:
    upload = document.get("upload") or {}
    results: Mapping[str, Any] = document.get("results") or {}
    media_type = str(document.get("media_type") or upload.get("media_type") or "")
    keyframes = _keyframes(results)
    duration = _duration(results)
    frames = [Frame(IMAGE_PICTURE, results=_pictured(results))]
    for index, analyses in keyframe_results(results).items():
        start, end = _range(keyframes, index, duration)
        frames.append(Frame(Keyframe(index).picture, start, end, _pictured(analyses)))
    segments = [
        dict(segment)
        for segment in (results.get("transcribe") or {}).get("segments") or []
        if isinstance(segment, Mapping)
    ]
    unique = {(s.get("start"), s.get("end"), s.get("text")): s for s in segments}
    return Contents(
        upload_id=str(upload.get("id") or ""),
        key=str(upload.get("key") or ""),
        media_type=media_type,
        frames=sorted(
            (frame for frame in frames if frame.results),
            key=lambda f: (f.time is not None, f.time or 0.0, f.name),
        ),
        segments=list(unique.values()),
        sha256=str((results.get("probe") or {}).get("sha256") or ""),
        phash=str((results.get("probe") or {}).get("phash") or ""),
        summary=dict(results["summarize"]) if isinstance(results.get("summarize"), Mapping) else {},
    )


def _pictured(analyses: Mapping[str, Any]) -> dict[str, Any]:
    """The results of the functions that look at a picture, of one picture's analyses."""
    return {
        function: analyses[function]
        for function in PICTURE_FUNCTIONS
        if isinstance(analyses.get(function), Mapping)
    }


def _keyframes(results: Mapping[str, Any]) -> dict[int, float]:
    frames = (results.get("extract") or {}).get("keyframes") or []
    times = {}
    for position, item in enumerate(frames):
        if isinstance(item, Mapping) and item.get("time") is not None:
            times[int(item.get("index", position))] = float(item["time"])
    return times


def _duration(results: Mapping[str, Any]) -> float | None:
    for step in ("extract", "probe"):
        value = (results.get(step) or {}).get("duration")
        if value is not None:
            return float(value)
    return None


def _range(
    keyframes: Mapping[int, float], index: int, duration: float | None
) -> tuple[float | None, float | None]:
    """A keyframe stands for the time until the next one, as in the timeline."""
    if index not in keyframes:
        return None, None
    start = keyframes[index]
    later = sorted(t for t in keyframes.values() if t > start)
    end = later[0] if later else max(duration or start, start)
    return start, end
