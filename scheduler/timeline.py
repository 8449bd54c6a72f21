"""A video's timeline: what is seen and heard in each time range, built from step results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Whisper's segment ends are off by a few hundred milliseconds: a segment that pokes this little
# into a range does not belong to it, unless it lies wholly inside that range.
MIN_OVERLAP_S = 0.5


@dataclass
class TimeRange:
    """From one keyframe to the next: what that keyframe shows and what is said meanwhile."""

    start: float
    end: float
    keyframe: int | None = None
    faces: int = 0
    face_refs: list[dict[str, Any]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    transcript: list[dict[str, Any]] = field(default_factory=list)
    pose: int = 0
    nsfw: str | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"a time range cannot end ({self.end}) before it starts ({self.start})")

    def overlap(self, start: float, end: float) -> float:
        return max(0.0, min(end, self.end) - max(start, self.start))

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "keyframe": self.keyframe,
            "faces": self.faces,
            "face_refs": self.face_refs,
            "text": self.text,
            "transcript": self.transcript,
            "pose": self.pose,
            "nsfw": self.nsfw,
        }


@dataclass
class Timeline:
    duration: float
    ranges: list[TimeRange]

    def to_dict(self) -> dict[str, Any]:
        return {"duration": self.duration, "ranges": [time_range.to_dict() for time_range in self.ranges]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Timeline:
        return cls(
            duration=float(data["duration"]),
            ranges=[TimeRange(**time_range) for time_range in data.get("ranges") or []],
        )


def build_timeline(
    extract: Mapping[str, Any] | None,
    analyses: Mapping[Any, Mapping[str, Any] | None] | None = None,
    transcript: Sequence[Mapping[str, Any]] | None = None,
) -> Timeline:
    """Joins the extract result, per-keyframe analyses and transcript segments into ranges.

    ``analyses`` maps a keyframe index (int, or str after a JSON round trip) to the results of
    the image steps on that keyframe: ``{"faces": ..., "ocr": ..., "pose": ..., "nsfw": ...}``.
    Any step, key or keyframe may be missing: a step that failed leaves its fields empty.
    """
    extract = extract or {}
    analyses = {int(index): result for index, result in (analyses or {}).items()}
    segments = [_segment(segment) for segment in transcript or []]
    keyframes = sorted(
        (frame for frame in extract.get("keyframes") or [] if frame.get("time") is not None),
        key=lambda frame: float(frame["time"]),
    )
    ends = [float(frame["time"]) for frame in keyframes] + [segment["end"] for segment in segments]
    duration = float(extract.get("duration") or max(ends, default=0.0))
    starts = [float(frame["time"]) for frame in keyframes] or [0.0]
    # The first range starts at 0 so that speech before the first decodable frame has a home.
    starts[0] = 0.0
    bounds = [*starts[1:], max(duration, starts[-1])]
    ranges = []
    for position, (start, end) in enumerate(zip(starts, bounds, strict=True)):
        time_range = TimeRange(start=round(start, 3), end=round(end, 3))
        if keyframes:
            index = int(keyframes[position].get("index", position))
            time_range.keyframe = index
            _fill(time_range, index, analyses.get(index) or {})
        ranges.append(time_range)
    for segment in segments:
        for time_range in _ranges_of(segment, ranges):
            time_range.transcript.append(segment)
    return Timeline(duration=round(duration, 3), ranges=ranges)


def _ranges_of(segment: Mapping[str, Any], ranges: Sequence[TimeRange]) -> list[TimeRange]:
    """The ranges a segment overlaps by MIN_OVERLAP_S (or all its length), else the one nearest its middle."""
    start, end = segment["start"], segment["end"]
    overlaps = [(time_range.overlap(start, end), time_range) for time_range in ranges]
    enough = [
        time_range
        for amount, time_range in overlaps
        if amount > 0 and amount >= min(MIN_OVERLAP_S, end - start)
    ]
    if enough or not ranges:
        return enough
    # Zero-length, straddling a boundary by slivers, or past the last range.
    middle = (start + end) / 2
    return [min(ranges, key=lambda time_range: max(time_range.start - middle, middle - time_range.end, 0.0))]


def _fill(time_range: TimeRange, keyframe: int, results: Mapping[str, Any]) -> None:
    faces = (results.get("faces") or {}).get("faces") or []
    time_range.faces = len(faces)
    time_range.face_refs = [_face_ref(keyframe, number, face) for number, face in enumerate(faces)]
    lines = (results.get("ocr") or {}).get("lines") or []
    time_range.text = [str(line["text"]) for line in lines if line.get("text")]
    time_range.pose = len((results.get("pose") or {}).get("people") or [])
    time_range.nsfw = (results.get("nsfw") or {}).get("verdict")


def _face_ref(keyframe: int, number: int, face: Mapping[str, Any]) -> dict[str, Any]:
    """Where a face is, without its embedding: vectors live in the vector store, not here."""
    ref: dict[str, Any] = {"keyframe": keyframe, "face": number, "box": face.get("box")}
    for key in ("person", "match", "score"):
        if key in face:
            ref[key] = face[key]
    return ref


def _segment(segment: Mapping[str, Any]) -> dict[str, Any]:
    start = float(segment.get("start") or 0.0)
    end = max(start, float(segment.get("end") or start))
    return {"start": start, "end": end, "text": str(segment.get("text") or "").strip()}
