"""What a recording's summary is made from: its transcript, the captions and on-screen text of its keyframes.

The summarize step runs once every other step of an audio or video upload has settled (`finish`
plans it, scheduler/steps.py), so it sees all of them; its request carries this material.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .analysis import keyframe_results


def material(results: Mapping[str, Any]) -> dict[str, Any] | None:
    """The summarize request's options, or None when nothing was said, written or seen to summarize."""
    transcribe = results.get("transcribe") or {}
    transcript = [
        {"start": float(segment.get("start") or 0.0), "end": float(segment.get("end") or 0.0),
         "text": " ".join(str(segment.get("text") or "").split())}
        for segment in transcribe.get("segments") or []
        if isinstance(segment, Mapping) and str(segment.get("text") or "").strip()
    ]
    times = {
        int(frame.get("index", position)): float(frame.get("time") or 0.0)
        for position, frame in enumerate((results.get("extract") or {}).get("keyframes") or [])
        if isinstance(frame, Mapping)
    }
    captions, screen_text = [], []
    for index, analyses in sorted(keyframe_results(results).items()):
        time = times.get(index, 0.0)
        caption = str((analyses.get("caption") or {}).get("caption") or "").strip()
        if caption:
            captions.append({"time": time, "text": caption})
        written = " ".join(str((analyses.get("ocr") or {}).get("text") or "").split())
        if written:
            screen_text.append({"time": time, "text": written})
    if not (transcript or captions or screen_text):
        return None
    duration = (results.get("extract") or {}).get("duration") or (results.get("probe") or {}).get("duration")
    return {
        "transcript": transcript,
        "captions": captions,
        "screen_text": screen_text,
        "language": transcribe.get("language") or "",
        "duration": float(duration or 0.0),
    }
