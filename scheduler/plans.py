"""What runs for which media type: `probe` first, then the steps each finished step makes possible.

    image: probe -> thumbnail, pose, ocr, nsfw, faces, clip, caption   (in parallel, reading the analysis
                    image probe wrote: the picture decoded once, upright and at most the analysis size)
    video: probe -> thumbnail, extract -> per keyframe: pose, ocr, nsfw, faces, clip, caption
                                       -> transcribe (the extracted audio track)
           ... then, once all of them have settled: summarize
    audio: probe -> transcribe (chunk by chunk), then summarize

A step's children are planned only once it has succeeded, so nothing ever waits on a parent
that failed: the upload fails with the parent's reason instead. The closing steps (`summarize`)
are planned by `finish` once every other step has settled and none failed: they read what all of
them found.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from .names import Keyframe, MalformedName, StepName
from .summaries import material

IMAGE_ANALYZERS = ("pose", "ocr", "nsfw", "faces", "clip", "caption")
SUMMARIZED = ("audio", "video")


@dataclass(frozen=True)
class StepSpec:
    """One call (or, when chunked, one series of calls) of one function for one upload."""

    name: str
    function: str
    source: str = "upload"  # "upload", or the name of an artefact an earlier step wrote
    outputs: tuple[str, ...] = ()  # artefacts this step writes through presigned PUT URLs
    options: dict[str, Any] = field(default_factory=dict)
    chunked: bool = False  # called again from `next_start_s` until the media is covered
    expected_calls: int = 1

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outputs"] = list(self.outputs)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepSpec:
        return cls(**{**data, "outputs": tuple(data.get("outputs", ()))})


@dataclass(frozen=True)
class PlanSettings:
    """What plans are made with; the defaults are SchedulerSettings' (scheduler/settings.py)."""

    thumbnail_size: int
    max_keyframes: int
    keyframe_interval_s: float
    transcribe_chunk_s: float


ANALYSIS = "analysis"  # probe's output for a picture, stored as ANALYSIS_IMAGE
ANALYSIS_IMAGE = f"{ANALYSIS}.jpg"
PROBE = StepSpec(name="probe", function="probe", outputs=(ANALYSIS_IMAGE,))
THUMBNAIL = "thumbnail.jpg"  # the artefact lists show an upload by


# The order a person reads an upload's steps in: what it is, how it looks, what was cut from it, what
# each picture shows (the upload's own, then keyframe by keyframe), and last what was heard.
READING_ORDER = ("probe", "thumbnail", "extract", *IMAGE_ANALYZERS, "transcribe", "summarize")


@lru_cache(maxsize=4096)  # a page of 50 uploads asks it for 400 steps, of a few names
def position(step: str) -> int:
    """Where a step stands in the reading order: one number, so any client can sort steps by it."""
    try:
        name = StepName.parse(step)
    except MalformedName:
        return 10**9
    known = READING_ORDER.index(name.function) if name.function in READING_ORDER else len(READING_ORDER)
    if name.function == "transcribe":
        return 10**8
    frame = 0 if name.keyframe is None else name.keyframe.index + 1
    return frame * 100 + known


def after(step: StepSpec, result: dict[str, Any], config: PlanSettings) -> list[StepSpec]:
    """The steps that become possible once ``step`` has succeeded with ``result``."""
    if step.name == PROBE.name:
        return _after_probe(result, config)
    if step.function == "extract":
        return _after_extract(result, config)
    return []


def closing(media_type: str, results: dict[str, Any]) -> list[StepSpec]:
    """The steps that run once every other step has settled: a recording's summary, when there is
    anything to summarize."""
    if media_type not in SUMMARIZED:
        return []
    options = material(results)
    return [] if options is None else [StepSpec("summarize", "summarize", options=options)]


def _after_probe(probe: dict[str, Any], config: PlanSettings) -> list[StepSpec]:
    media_type = probe.get("media_type")
    if media_type == "image":
        analysis = _analysis_image(probe)
        # A thumbnail is made from the analysis image only where that is no smaller than the thumbnail.
        big_enough = analysis != "upload" and _long_side(probe.get("analysis_image")) >= config.thumbnail_size
        return [
            _thumbnail("image", config, analysis if big_enough else "upload"),
            *(StepSpec(name, name, source=analysis) for name in IMAGE_ANALYZERS),
        ]
    if media_type == "video":
        keyframes = tuple(Keyframe(index).artefact for index in range(config.max_keyframes))
        extract = StepSpec(
            "extract",
            "extract",
            outputs=(*keyframes, "audio.wav"),
            options={"max_keyframes": config.max_keyframes, "min_interval_s": config.keyframe_interval_s},
        )
        return [_thumbnail("video", config), extract]
    if media_type == "audio":
        return [_transcribe("upload", probe.get("duration"), config)]
    return []


def _after_extract(extract: dict[str, Any], config: PlanSettings) -> list[StepSpec]:
    keyframes = [Keyframe(int(frame["index"])) for frame in extract.get("keyframes") or []]
    steps = [
        StepSpec(StepName(name, keyframe).to_str(), name, source=keyframe.artefact)
        for keyframe in keyframes
        for name in IMAGE_ANALYZERS
    ]
    audio = extract.get("audio")
    if audio:
        steps.append(_transcribe(f"{audio.get('output', 'audio')}.wav", audio.get("duration"), config))
    return steps


def _analysis_image(probe: dict[str, Any]) -> str:
    """What the image analyzers read: the analysis image when probe wrote one, else the upload (already
    fit to be read as it is, or probed by a probe that wrote none)."""
    return ANALYSIS_IMAGE if ANALYSIS in (probe.get("outputs_written") or ()) else "upload"


def _long_side(image: Any) -> int:
    return max(int(image.get("width") or 0), int(image.get("height") or 0)) if isinstance(image, dict) else 0


def _thumbnail(media_type: str, config: PlanSettings, source: str = "upload") -> StepSpec:
    return StepSpec(
        "thumbnail", "thumbnail", source=source, outputs=(THUMBNAIL,),
        options={"size": config.thumbnail_size, "media_type": media_type},
    )


def _transcribe(source: str, duration: Any, config: PlanSettings) -> StepSpec:
    calls = math.ceil(float(duration or 0) / config.transcribe_chunk_s) + 1
    # The chunk length travels in the request, so the function covers exactly what the job was sized for.
    return StepSpec(
        "transcribe", "transcribe", source=source, chunked=True, expected_calls=calls,
        options={"duration_s": config.transcribe_chunk_s},
    )
