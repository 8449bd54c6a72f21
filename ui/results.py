"""How the result view reads step results: transcripts and content labels.

Analyzer results arrive from several functions whose shapes grow over time, so every reader here
tolerates missing steps and keys and returns an empty value rather than failing the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


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
    """Content labels with their scores, most likely first, from CLIP and the NSFW check."""
    found: dict[str, float] = {}
    for source in (_dict(results.get("clip")).get("labels"), _dict(results.get("nsfw")).get("clip_labels")):
        for item in source if isinstance(source, list) else []:
            if isinstance(item, dict) and item.get("label"):
                label = str(item["label"])
                found[label] = max(found.get(label, 0.0), float(item.get("score") or 0.0))
    return [{"label": label, "score": score} for label, score in sorted(found.items(), key=lambda kv: -kv[1])]


def text(results: Mapping[str, Any], limit: int = 200) -> str:
    """The text read in a picture, its lines joined, cut to a length a screen reader reads out comfortably."""
    ocr = _dict(results.get("ocr"))
    lines = [str(line.get("text") or "").strip() for line in ocr.get("lines") or [] if isinstance(line, dict)]
    found = " ".join(line for line in lines if line) or str(ocr.get("text") or "").strip()
    return found if len(found) <= limit else found[: limit - 1].rstrip() + "…"
