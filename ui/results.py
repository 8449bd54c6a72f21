"""How the result view reads step results: transcripts, content labels, captions and summaries.

Analyzer results arrive from several functions whose shapes grow over time, so every reader here
tolerates missing steps and keys and returns an empty value rather than failing the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from functions.nsfw.regions import EXPLICIT_REGIONS, HUMAN_NAMES
from scheduler.service import skipped


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def segments(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Transcript segments with start, end and text, from whichever step transcribed."""
    for name in ("transcribe", "transcript", "speech"):
        found = _dict(results.get(name)).get("segments")
        if isinstance(found, list):
            return [
                {"start": float(s.get("start") or 0.0), "end": float(s.get("end") or s.get("start") or 0.0),
                 "text": str(s.get("text") or "").strip()}
                for s in found
                if isinstance(s, dict)
            ]
    return []


def labels(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Content labels with their scores, most likely first, from CLIP (its safety labels too; results stored
    before they moved to CLIP have them under the NSFW check)."""
    found: dict[str, float] = {}
    clip = _dict(results.get("clip"))
    for source in (clip.get("labels"), clip.get("safety"), _dict(results.get("nsfw")).get("clip_labels")):
        for item in source if isinstance(source, list) else []:
            if isinstance(item, dict) and item.get("label"):
                label = str(item["label"])
                found[label] = max(found.get(label, 0.0), float(item.get("score") or 0.0))
    return [{"label": label, "score": score} for label, score in sorted(found.items(), key=lambda kv: -kv[1])]


def nsfw_regions(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The NSFW regions worth drawing: exposed intimate parts only, and none unless the verdict flags the
    picture. nudenet also reports faces, feet and covered parts on ordinary photos; drawn, they read as
    accusations ("FACE_FEMALE 64%") on a picture the verdict itself calls safe."""
    nsfw = _dict(results.get("nsfw"))
    if nsfw.get("verdict") in (None, "", "safe"):
        return []
    return [
        {"label": str(region["label"]), "name": HUMAN_NAMES[str(region["label"])],
         "score": float(region.get("score") or 0.0), "box": region.get("box")}
        for region in nsfw.get("regions") or []
        if isinstance(region, dict) and region.get("label") in EXPLICIT_REGIONS
    ]


def clip_missing(steps: Mapping[str, Any]) -> bool:
    """Whether a CLIP step of this upload (the picture's or a keyframe's) was skipped: no model installed."""
    return skipped(steps, "clip")


def captions(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What the picture shows, in words: the image's caption, or each keyframe's with its time."""
    found = []
    own = _dict(results.get("caption"))
    if own.get("caption"):
        found.append({"time": None, "text": str(own["caption"]), "tags": [str(t) for t in own.get("tags") or []]})
    times = {
        str(frame.get("index", position)): frame.get("time")
        for position, frame in enumerate(_dict(results.get("extract")).get("keyframes") or [])
        if isinstance(frame, dict)
    }
    for key, by_function in sorted(_dict(results.get("keyframes")).items(), key=lambda item: int(item[0])):
        caption = _dict(_dict(by_function).get("caption"))
        if caption.get("caption"):
            found.append({"time": times.get(key), "text": str(caption["caption"]),
                          "tags": [str(t) for t in caption.get("tags") or []]})
    return found


def summary(results: Mapping[str, Any]) -> dict[str, Any]:
    """A recording's title, summary and chapters ({} when it was not summarized)."""
    found = _dict(results.get("summarize"))
    if not (found.get("title") or found.get("summary")):
        return {}
    chapters = [
        {"start": float(c.get("start") or 0.0), "end": float(c.get("end") or 0.0), "title": str(c.get("title") or "")}
        for c in found.get("chapters") or []
        if isinstance(c, dict)
    ]
    return {"title": str(found.get("title") or ""), "summary": str(found.get("summary") or ""), "chapters": chapters}


def text(results: Mapping[str, Any], limit: int = 200) -> str:
    """The text read in a picture, its lines joined, cut to a length a screen reader reads out comfortably."""
    ocr = _dict(results.get("ocr"))
    lines = [str(line.get("text") or "").strip() for line in ocr.get("lines") or [] if isinstance(line, dict)]
    found = " ".join(line for line in lines if line) or str(ocr.get("text") or "").strip()
    return found if len(found) <= limit else found[: limit - 1].rstrip() + "…"
