"""What a finished upload's analysis holds for the index: its pictures (image or keyframes) and speech.

Result documents come from `scheduler.steps.analysis`: ``results`` maps a step name to its
function's result. An image's steps are named after their functions (``faces``, ``clip``,
``ocr``). A video's keyframe steps carry the keyframe index in their name (``faces@3`` as
`scheduler.plans` names them; ``faces_kf3`` and ``keyframe_3_faces`` are read too), or the results nest per keyframe
(``results["keyframes"] = {index: {"faces": ...}}``); both are read. Any step may be missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PICTURE_FUNCTIONS = ("faces", "clip", "ocr")
IMAGE_FRAME = "image"

_FUNCTION = "|".join(PICTURE_FUNCTIONS)
_STEP_PATTERNS = (
    re.compile(rf"^(?P<fn>{_FUNCTION})$"),
    re.compile(rf"^(?P<fn>{_FUNCTION})[^A-Za-z0-9]*(?:keyframe|kf|frame)?[^A-Za-z0-9]*(?P<index>\d+)$"),
    re.compile(rf"^(?:keyframe|kf|frame)[^A-Za-z0-9]*(?P<index>\d+)[^A-Za-z0-9]+(?P<fn>{_FUNCTION})$"),
)


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


def step_target(step: str) -> tuple[str, int | None] | None:
    """(function, keyframe index or None) for a step name that holds a picture analysis."""
    for pattern in _STEP_PATTERNS:
        found = pattern.match(step)
        if found:
            index = found.groupdict().get("index")
            return found["fn"], None if index is None else int(index)
    return None


def contents_of(document: Mapping[str, Any]) -> Contents:
    upload = document.get("upload") or {}
    results: Mapping[str, Any] = document.get("results") or {}
    media_type = str(document.get("media_type") or upload.get("media_type") or "")
    frames: dict[str, Frame] = {}
    keyframes = _keyframes(results)
    duration = _duration(results)

    def frame(index: int | None) -> Frame:
        name = IMAGE_FRAME if index is None else f"kf{index}"
        if name not in frames:
            time, end = (None, None) if index is None else _range(keyframes, index, duration)
            frames[name] = Frame(name, time, end)
        return frames[name]

    for step, result in results.items():
        if not isinstance(result, Mapping):
            continue
        target = step_target(step)
        if target is not None:
            frame(target[1]).results[target[0]] = result
    for index, analyses in _nested_keyframes(results, document).items():
        for function, result in analyses.items():
            if function in PICTURE_FUNCTIONS and isinstance(result, Mapping):
                frame(index).results.setdefault(function, result)
    segments = [
        dict(segment)
        for step, result in sorted(results.items())
        if step.startswith("transcribe") and isinstance(result, Mapping)
        for segment in result.get("segments") or []
        if isinstance(segment, Mapping)
    ]
    unique = {(s.get("start"), s.get("end"), s.get("text")): s for s in segments}
    return Contents(
        upload_id=str(upload.get("id") or ""),
        key=str(upload.get("key") or ""),
        media_type=media_type,
        frames=sorted(frames.values(), key=lambda f: (f.time is not None, f.time or 0.0, f.name)),
        segments=list(unique.values()),
        sha256=str((results.get("probe") or {}).get("sha256") or ""),
    )


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


def _nested_keyframes(
    results: Mapping[str, Any], document: Mapping[str, Any]
) -> dict[int, Mapping[str, Any]]:
    nested = results.get("keyframes") or document.get("keyframes") or {}
    if isinstance(nested, Mapping):
        return {int(k): v for k, v in nested.items() if str(k).isdigit() and isinstance(v, Mapping)}
    if isinstance(nested, list):
        return {
            int(item.get("index", position)): item
            for position, item in enumerate(nested)
            if isinstance(item, Mapping)
        }
    return {}
