"""The shape of an upload's analysis document: one result per function, a video's keyframes nested.

`scheduler.steps.finish` stores it in the results bucket, and the API and the result page serve
the same ``results``::

    {
      "format": 2,
      "upload": {...},            # the upload record, with its final state and reason
      "media_type": "video",
      "steps": {"probe": {...}, "ocr@3": {...}},     # each step's status, by step name
      "results": {
        "probe": {...}, "thumbnail": {...}, "extract": {...}, "transcribe": {...},
        "keyframes": {"0": {"ocr": {...}, "faces": {...}, ...}, "3": {...}},
      },
      "artefacts": {"thumbnail.jpg": "<object key>", "keyframe_0.jpg": "<object key>", ...},  # and a
                                  # picture's "analysis.jpg": the image its analyzers read
      "timeline": {...},          # videos only
      "transcript": [...],        # when something was transcribed
    }

A function run on the upload itself (every analyzer of an image) has its result at the top of
``results``; one run on a video's keyframe has it under ``results["keyframes"][key]``, the key
being the keyframe's index as text (JSON keys are text). Readers take a result by function and
keyframe and never parse a step name. Documents stored before format 2 held keyframe results
flat, under their step names (``"ocr@3"``): `readable` converts them, and is the one place that does.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .names import Keyframe, StepName
from .timeline import build_timeline

FORMAT = 2
KEYFRAMES = "keyframes"


def nested(step_results: Mapping[str, Any]) -> dict[str, Any]:
    """Results keyed by step name (as Redis holds them) in the document's shape."""
    results: dict[str, Any] = {}
    keyframes: dict[Keyframe, dict[str, Any]] = {}
    for text, result in step_results.items():
        name = StepName.parse(text)
        if name.keyframe is None:
            results[name.function] = result
        else:
            keyframes.setdefault(name.keyframe, {})[name.function] = result
    if keyframes:
        results[KEYFRAMES] = {keyframe.key: keyframes[keyframe] for keyframe in sorted(keyframes)}
    return results


def keyframe_results(results: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    """Each keyframe's results by function, by keyframe index."""
    found = results.get(KEYFRAMES)
    if not isinstance(found, Mapping):
        return {}
    return {Keyframe.from_key(key).index: dict(by_function) for key, by_function in found.items()}


def function_results(results: Mapping[str, Any], function: str) -> list[Any]:
    """Every result of one function: the upload's own, then each keyframe's."""
    own = [results[function]] if function in results else []
    return own + [
        by_function[function] for by_function in keyframe_results(results).values() if function in by_function
    ]


def readable(document: Mapping[str, Any]) -> dict[str, Any]:
    """A stored document in the current shape, whichever format it was written in."""
    if document.get("format") == FORMAT:
        return dict(document)
    return {**document, "format": FORMAT, "results": nested(document.get("results") or {})}


def timeline(results: Mapping[str, Any]) -> dict[str, Any] | None:
    """What is seen and heard, range by range: from extract's keyframes and the transcript."""
    extract = results.get("extract") or {}
    spoken = (results.get("transcribe") or {}).get("segments") or []
    if not extract and not spoken:
        return None
    return build_timeline(extract, keyframe_results(results), spoken).to_dict()


def overview(results: Mapping[str, Any]) -> dict[str, int]:
    """What the analysis found, counted for a one-line summary: the most faces and people in one picture,
    the distinct lines of text read and the transcript's spoken segments (only the counts above zero)."""

    def most(function: str, member: str) -> int:
        return max((len(found.get(member) or []) for found in function_results(results, function)
                    if isinstance(found, Mapping)), default=0)

    lines = {str(line.get("text", "")).strip() for found in function_results(results, "ocr")
             if isinstance(found, Mapping) for line in found.get("lines") or [] if isinstance(line, Mapping)}
    spoken = [segment for segment in (results.get("transcribe") or {}).get("segments") or []
              if isinstance(segment, Mapping) and str(segment.get("text", "")).strip()]
    counts = {"faces": most("faces", "faces"), "people": most("pose", "people"),
              "text_lines": len(lines - {""}), "spoken_segments": len(spoken)}
    return {name: count for name, count in counts.items() if count}


def taken_at(probe: Mapping[str, Any]) -> float | None:
    """When the picture or clip was taken, as probe read it from its EXIF or container (epoch seconds).

    EXIF dates carry no zone: they are read as UTC, which keeps their calendar day."""
    stamp = (probe.get("metadata") or {}).get("taken_at") if isinstance(probe.get("metadata"), Mapping) else None
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
