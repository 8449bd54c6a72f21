"""What the `medialens` command prints: an upload's analysis, search hits, people and uploads as lines a
person reads in a terminal (its --json prints the API's documents instead)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from scheduler.service import KEYFRAMES, keyframe_results

# Every sentence the command prints about results, in one place.
CLIP_MISSING = "none: the CLIP model is not installed (an administrator runs `make models`)"
NOT_RUN = "none: the step did not run"
LABELS_SHOWN = 3


def clock(seconds: Any) -> str:
    value = max(0.0, float(seconds or 0.0))
    minutes = int(value // 60)
    return f"{minutes}:{value - minutes * 60:04.1f}"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def what_it_is(probe: Mapping[str, Any]) -> str:
    kind = str(probe.get("media_type") or "unknown type")
    parts = [kind]
    if probe.get("width") and probe.get("height"):
        parts.append(f"{probe['width']}x{probe['height']}")
    if probe.get("duration"):
        parts.append(f"{float(probe['duration']):.1f} s")
    return " ".join(parts)


def face_names(faces: list[Any]) -> str:
    names = []
    for face in faces:
        person = _dict(_dict(face).get("person"))
        names.append(str(person.get("label") or person.get("name") or "not recognised yet"))
    return f"{len(faces)}" + (f" ({', '.join(names)})" if names else "")


def labels_line(results: Mapping[str, Any], steps: Mapping[str, Any]) -> str:
    found = [item for item in _list(_dict(results.get("clip")).get("labels")) if _dict(item).get("label")]
    if found:
        return ", ".join(f"{item['label']} {float(item.get('score') or 0) * 100:.0f}%" for item in found[:LABELS_SHOWN])
    state = str(_dict(steps.get("clip")).get("state") or "")
    return CLIP_MISSING if state == "skipped" else NOT_RUN if state in ("", "failed") else "none"


def analysis(view: Mapping[str, Any]) -> list[str]:
    """One upload's results: what it is, the text on it, its transcript, faces with names, labels, NSFW."""
    results = _dict(view.get("results"))
    steps = _dict(view.get("steps"))
    lines = [f"  {what_it_is(_dict(results.get('probe')))}"]
    text = [str(line.get("text")) for line in _list(_dict(results.get("ocr")).get("lines")) if _dict(line).get("text")]
    if text:
        lines.append("  text: " + " / ".join(text))
    for index, found in keyframe_results(results).items():
        on_screen = [str(_dict(line).get("text")) for line in _list(_dict(found.get("ocr")).get("lines"))
                     if _dict(line).get("text")]
        if on_screen:
            lines.append(f"  text in keyframe {index}: " + " / ".join(on_screen))
    faces = _list(_dict(results.get("faces")).get("faces"))
    if "faces" in results:
        lines.append(f"  faces: {face_names(faces)}")
    if results.get("clip") is not None or "clip" in steps:
        lines.append(f"  labels: {labels_line(results, steps)}")
    verdict = _dict(results.get("nsfw")).get("verdict")
    if verdict:
        lines.append(f"  nsfw: {verdict}")
    segments = _list(_dict(results.get("transcribe")).get("segments"))
    if segments:
        lines.append("  transcript:")
        lines += [f"    [{clock(_dict(s).get('start'))}] {str(_dict(s).get('text') or '').strip()}" for s in segments]
    return lines


def name_of(hit: Mapping[str, Any]) -> str:
    return str(hit.get("key") or hit.get("upload_id") or "").split("/")[-1]


def search_hits(reply: Mapping[str, Any]) -> list[str]:
    """Exact matches apart from similar ones, each with where and why."""
    hits = _list(reply.get("hits"))
    groups = (("exact matches", [h for h in hits if h.get("match") == "exact"]),
              ("similar in meaning", [h for h in hits if h.get("match") != "exact"]))
    lines: list[str] = []
    for title, found in groups:
        if not found:
            continue
        lines.append(f"{title}:")
        for hit in found:
            at = f" at {clock(hit['start'])}" if hit.get("start") is not None else ""
            why = (f"score {float(hit.get('score') or 0):.2f}" if hit.get("match") != "exact"
                   else "text on screen" if hit.get("source") == "ocr" else "said")
            lines.append(f"  {name_of(hit)}{at} ({why}): {hit.get('text', '')}  [{hit.get('upload_id')}]")
    return lines or [f"nothing found for “{reply.get('query', '')}”"]


def image_hits(reply: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    copies = _list(reply.get("duplicates"))
    if copies:
        lines.append("copies:")
        lines += [f"  {name_of(c)} ({'the same file' if c.get('match') == 'exact' else 'resized or re-encoded'})"
                  f"  [{c.get('upload_id')}]" for c in copies]
    seen = {c.get("upload_id") for c in copies}
    similar = [h for h in _list(reply.get("hits")) if h.get("upload_id") not in seen]
    if similar:
        lines.append("similar pictures:")
        lines += [f"  {name_of(h)} (score {float(h.get('score') or 0):.2f})  [{h.get('upload_id')}]" for h in similar]
    if reply.get("notice"):
        lines.append(str(reply["notice"]))
    return lines or ["no copy and no similar picture found"]


def people_lines(reply: Mapping[str, Any]) -> list[str]:
    found = _list(reply.get("people"))
    if not found:
        return ["no faces have been grouped into people yet"]
    return [f"{p.get('label') or p.get('id')}: {p.get('faces', 0)} face(s) in {p.get('uploads', 0)} upload(s)"
            f"{' (hidden)' if p.get('hidden') else ''}  [{p.get('id')}]" for p in found]


def uploads_lines(reply: Mapping[str, Any]) -> list[str]:
    found = _list(reply.get("uploads"))
    if not found:
        return ["no uploads yet"]
    lines = []
    for upload in found:
        made = time.strftime("%Y-%m-%d %H:%M", time.gmtime(float(upload.get("created_at") or 0)))
        reason = f" - {upload['reason']}" if upload.get("reason") else ""
        lines.append(f"{made}  {upload.get('state')!s:8} {upload.get('media_type') or '-'!s:6} "
                     f"{name_of(upload)}{reason}  [{upload.get('id')}]")
    return lines


def steps_lines(view: Mapping[str, Any]) -> list[str]:
    lines = [f"{name_of(view)}: {view.get('state')}" + (f" - {view['reason']}" if view.get("reason") else "")]
    for name, step in sorted(_dict(view.get("steps")).items()):
        if name == KEYFRAMES:
            continue
        reason = _dict(step).get("reason")
        state = str(_dict(step).get("state"))
        shown = "its model is not installed" if state == "skipped" else reason
        lines.append(f"  {name}: {state}" + (f" - {shown}" if shown else ""))
    return lines
