"""Speed of audio and video analysis: transcription real-time factor, extract time and where it goes,
a one-minute 720p video with speech from upload to stored result through the embedded stack, and an
hour-long recording through the same stack with its memory read all along.

Run alone with ``python -m bench.media``; ``run()`` returns the numbers for ``make bench``.
Functions are called through their handlers with presigned-style URLs served on loopback, so
fetch, decode, analysis and artefact writes are all counted, as on a functions host.
"""

from __future__ import annotations

import importlib
import json
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from bench.sample_media import Scene, Speech, make_audio, make_video, soundtrack

if TYPE_CHECKING:
    import httpx

    from embedded.stack import Stack

MINUTE = 60.0
# The three speech fixtures, one after the other with pauses, for one minute.
TALK = [
    Speech(offset + start, name)
    for offset in (0.0, 20.0, 40.0)
    for start, name in ((1.0, "fox"), (6.0, "report"), (11.5, "weather"))
]
# An hour-long recording: one of the three clips every 15 s, over silence (a talk with pauses, a meeting).
HOUR_MINUTES = 60
HOUR = [Speech(start, ("fox", "report", "weather")[number % 3])
        for number, start in enumerate(range(2, HOUR_MINUTES * 60 - 10, 15))]
SAMPLE_S = 2.0  # how often the stack's memory is read while the recording is analysed (about 35 times an hour's)
FLAT = 0.05  # memory is flat where the functions host's median in the last quarter is within this of the second's
READINGS_NEEDED = 8  # fewer readings say nothing of a trend
WORDS = ["HARBOR", "MARKET", "GARDEN", "LIBRARY", "STATION", "MUSEUM", "BRIDGE", "CASTLE", "FOREST", "ISLAND"]
COLOURS = [(30, 60, 160), (200, 50, 40), (40, 150, 60), (220, 190, 40), (120, 40, 140), (20, 140, 160)]
IMAGE_STEPS = ("ocr", "faces", "pose", "nsfw")


class _Blobs(BaseHTTPRequestHandler):
    """GET and PUT of in-memory objects: the part of an object store a function sees."""

    store: dict[str, bytes] = {}

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        data = self.store.get(self.path)
        self.send_response(200 if data is not None else 404)
        self.send_header("Content-Length", str(len(data or b"")))
        self.end_headers()
        self.wfile.write(data or b"")

    def do_PUT(self) -> None:
        self.store[self.path] = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.end_headers()


ALLOWED_ORIGINS = "MEDIALENS_FN_ALLOWED_ORIGINS"


@contextmanager
def environment(name: str, value: str) -> Iterator[None]:
    """``name`` set to ``value`` in this process's environment inside the block, restored after it."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


@contextmanager
def store_for_functions(endpoint: str) -> Iterator[None]:
    """Functions called in this process may fetch from and write to ``endpoint`` (and nothing
    else) inside the block, as a functions host started with MEDIALENS_FN_ALLOWED_ORIGINS may."""
    from functions.common.settings import settings

    try:
        with environment(ALLOWED_ORIGINS, endpoint):
            settings.cache_clear()
            yield
    finally:  # after the variable is restored: a settings() read in between would keep the endpoint
        settings.cache_clear()


@contextmanager
def blob_server() -> Iterator[str]:
    """A loopback store for the bench: functions in this process may use it while it runs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Blobs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with store_for_functions(url):
            yield url
    finally:
        server.shutdown()
        server.server_close()


def call(name: str, body: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """Calls functions/<name>/handler.py as the template does; returns the result and seconds taken."""
    from host.server import template

    handler = importlib.import_module(f"functions.{name}.handler")
    event = template.Event(json.dumps(body).encode(), {"Content-Type": "application/json"}, "POST", {}, "/")
    started = time.perf_counter()
    reply = handler.handle(event, template.Context())
    elapsed = time.perf_counter() - started
    if reply["statusCode"] != 200:
        raise RuntimeError(f"{name} answered {reply['statusCode']}: {reply['body']}")
    return reply["body"], elapsed


def transcription(base_url: str, model: str, beam_size: int) -> dict[str, Any]:
    from functions.transcribe import engines
    from functions.transcribe.settings import settings

    os.environ["MEDIALENS_TRANSCRIBE_MODEL"] = model
    os.environ["MEDIALENS_TRANSCRIBE_BEAM_SIZE"] = str(beam_size)
    settings.cache_clear()
    engines.engine.cache_clear()
    started = time.perf_counter()
    engines.engine().load()
    load_s = time.perf_counter() - started
    _Blobs.store["/talk.ogg"] = make_audio(soundtrack(TALK, MINUTE))
    warm_up = {"start_s": 0, "duration_s": 5}
    call("transcribe", {"source": {"url": f"{base_url}/talk.ogg"}, "options": warm_up})
    result, seconds = call("transcribe", {"source": {"url": f"{base_url}/talk.ogg"}})
    return {
        "model": model,
        "beam_size": beam_size,
        "load_s": round(load_s, 2),
        "audio_s": result["duration"],
        "seconds": round(seconds, 2),
        "rtf": round(seconds / result["duration"], 3),
        "segments": len(result["segments"]),
    }


def video_analysis(base_url: str) -> dict[str, Any]:
    """Extract on a generated one-minute 640x360 video, then every image step on each keyframe."""
    scenes = [Scene(6.0 * i, WORDS[i], COLOURS[i % len(COLOURS)]) for i in range(10)]
    _Blobs.store["/film.mp4"] = make_video(scenes, MINUTE, TALK, fps=25, size=(640, 360), noise=2.0)
    outputs = {f"keyframe_{i}": f"{base_url}/out/{uuid.uuid4().hex}" for i in range(40)}
    outputs["audio"] = f"{base_url}/out/audio.wav"
    body = {"source": {"url": f"{base_url}/film.mp4"}, "outputs": outputs, "options": {}}
    extract, extract_s = call("extract", body)
    steps: dict[str, float | str] = {}
    for name in IMAGE_STEPS:
        try:
            total = 0.0
            for frame in extract["keyframes"]:
                _, seconds = call(name, {"source": {"url": outputs[frame["output"]]}})
                total += seconds
            steps[name] = round(total, 2)
        except Exception as exc:  # a step not ready yet is reported, not fatal
            steps[name] = f"unavailable: {type(exc).__name__}"
    _, transcribe_s = call("transcribe", {"source": {"url": outputs["audio"]}})
    analysed = extract_s + transcribe_s + sum(v for v in steps.values() if isinstance(v, float))
    return {
        "video_s": extract["duration"],
        "keyframes": len(extract["keyframes"]),
        "extract_s": round(extract_s, 2),
        "extract_timing_ms": extract["timing_ms"],
        "transcribe_s": round(transcribe_s, 2),
        "image_steps_s": steps,
        "analysed_s": round(analysed, 2),
    }


def through_stack() -> dict[str, Any]:
    """The one-minute 720p video with speech, then the hour-long recording, uploaded to the embedded stack."""
    from pathlib import Path

    from bench.stack import api_client, warm_up, with_stack
    from embedded.settings import EmbeddedSettings

    scenes = [Scene(6.0 * i, WORDS[i], COLOURS[i % len(COLOURS)]) for i in range(10)]
    film = make_video(scenes, MINUTE, TALK, fps=25, size=(1280, 720), noise=2.0)
    recording = make_audio(soundtrack(HOUR, HOUR_MINUTES * MINUTE))

    def measure(stack: Stack) -> dict[str, Any]:
        api = api_client(stack)
        warm_up(stack, api)
        return {"video_stack": video_through_stack(stack, api, film),
                "recording": recording_through_stack(stack, api, recording) | {"model_idle_s": 0}}

    # Every model stays loaded (the stack inherits this), so a recording that outlasts the idle time shows its
    # own memory, not the image models' leaving.
    with environment("MEDIALENS_FN_MODEL_IDLE_S", "0"):
        return with_stack(Path(EmbeddedSettings().model_dir).resolve(), workers=4, run=measure)


def settled(record: dict[str, Any], data: bytes, put_at: float) -> dict[str, Any]:
    """What a settled upload says: its state, put to settled, and the summed running time of each function's
    steps."""
    return {
        "state": record["state"],
        "reason": record.get("reason", ""),
        "megabytes": round(len(data) / 2**20, 1),
        "wall_s": round(record["updated_at"] - put_at, 2),
        "steps": len(record["steps"]),
        "skipped": sorted(name for name, step in record["steps"].items() if step["state"] == "skipped"),
        "step_seconds": {name: round(sum(finished - started for started, finished in runs), 2)
                         for name, runs in sorted(step_runs(record).items())},
    }


def step_runs(record: dict[str, Any]) -> dict[str, list[tuple[float, float]]]:
    """Each function's steps of the upload (a video's per-keyframe steps are ``name@frame``): when each started
    and finished, epoch seconds."""
    runs: dict[str, list[tuple[float, float]]] = {}
    for name, step in record["steps"].items():
        if step.get("started_at") and step.get("finished_at"):
            runs.setdefault(name.split("@")[0], []).append((step["started_at"], step["finished_at"]))
    return runs


def video_through_stack(stack: Stack, api: httpx.Client, film: bytes) -> dict[str, Any]:
    """The one-minute video: put to every step settled."""
    from bench.stack import put, wait_one

    key = f"bench/video-{uuid.uuid4().hex}.mp4"
    put_at = put(stack, key, film, "video/mp4")
    return settled(wait_one(api, key, 600), film, put_at)


def recording_through_stack(stack: Stack, api: httpx.Client, recording: bytes) -> dict[str, Any]:
    """The hour-long recording: put to settled, and the memory of the functions host and of the whole stack,
    read every SAMPLE_S seconds, in each quarter of the time from the put to transcription's end (summarize,
    after it, is left out: one call on the whole transcript)."""
    from bench.stack import put, resident_memory, wait_one

    readings: list[tuple[float, float, float]] = []  # when (epoch s), functions host MiB, stack MiB
    missing = 0  # readings that found no functions host (restarting)

    def read() -> None:
        nonlocal missing
        memory = resident_memory(stack)
        if "functions" in memory["services_mb"]:
            readings.append((time.time(), memory["services_mb"]["functions"], memory["total_mb"]))
        else:
            missing += 1

    key = f"bench/recording-{uuid.uuid4().hex}.ogg"
    put_at = put(stack, key, recording, "audio/ogg")
    record = wait_one(api, key, 3600, poll_s=SAMPLE_S, each=read)
    end = max((finished for _, finished in step_runs(record).get("transcribe", [])), default=record["updated_at"])
    quarters: list[list[tuple[float, float, float]]] = [[], [], [], []]
    for reading in readings:
        if reading[0] <= end:
            quarters[min(3, int(4 * (reading[0] - put_at) / (end - put_at)))].append(reading)
    return settled(record, recording, put_at) | {
        "minutes": HOUR_MINUTES,
        "transcribed_s": round(end - put_at, 1),
        "readings": sum(map(len, quarters)),
        "missing_readings": missing,
        "quarters": [{
            "readings": len(part),
            "functions_median_mb": statistics.median(functions for _, functions, _ in part),
            "functions_max_mb": max(functions for _, functions, _ in part),
            "total_max_mb": max(total for _, _, total in part),
        } for part in quarters if part],
    }


def run() -> dict[str, Any]:
    from functions.transcribe.engines import ModelNotInstalled, model_source

    results: dict[str, Any] = {"transcription": [], "video": None}
    knobs = ("MEDIALENS_TRANSCRIBE_MODEL", "MEDIALENS_TRANSCRIBE_BEAM_SIZE")
    saved = {key: os.environ.get(key) for key in knobs}
    with blob_server() as base_url:
        try:
            for model, beam in (("tiny.en", 5), ("tiny.en", 1), ("base", 5)):
                try:
                    model_source(model)
                except ModelNotInstalled as exc:
                    results["transcription"].append({"model": model, "error": str(exc)})
                    continue
                results["transcription"].append(transcription(base_url, model, beam))
        finally:
            _restore(saved)
        results["video"] = video_analysis(base_url)
    results.update(through_stack())
    return results


def _restore(saved: dict[str, str | None]) -> None:
    from functions.transcribe import engines
    from functions.transcribe.settings import settings

    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    settings.cache_clear()
    engines.engine.cache_clear()


def markdown(results: dict[str, Any]) -> str:
    rows = ["| measure | value |", "|---|---|"]
    for entry in results["transcription"]:
        beam = f", beam {entry['beam_size']}" if "beam_size" in entry else ""
        label = f"transcribe {entry['model']}{beam}"
        if "error" in entry:
            rows.append(f"| {label} | {entry['error']} |")
            continue
        rows.append(
            f"| {label}: real-time factor | {entry['rtf']} ({entry['seconds']} s for {entry['audio_s']} s; "
            f"load {entry['load_s']} s) |"
        )
    video = results["video"]
    timing: dict[str, float] = video["extract_timing_ms"]
    parts = ", ".join(f"{key} {value / 1000:.2f} s" for key, value in timing.items() if key != "total")
    rows += [
        f"| extract, {video['video_s']:.0f} s 640x360 25 fps video | {video['extract_s']} s "
        f"({video['keyframes']} keyframes) |",
        f"| extract: where the time goes | {parts} |",
        f"| transcribe its audio (default model) | {video['transcribe_s']} s |",
    ]
    for name, value in video["image_steps_s"].items():
        rows.append(f"| {name} on every keyframe | {value}{' s' if isinstance(value, float) else ''} |")
    rows.append(f"| one-minute video fully analysed (one core, sequential) | {video['analysed_s']} s |")
    whole = results.get("video_stack")
    if whole:
        rows += [
            f"| **one-minute 720p video with speech through the stack** (upload to stored result, 2 cores, "
            f"{whole['megabytes']} MB, {whole['steps']} steps{skipped(whole)}) | **{whole['wall_s']} s** "
            f"({outcome(whole)}); goal under 20 s |",
            f"| its steps' summed running time | {busy(whole)} |",
        ]
    recording = results.get("recording")
    return "\n".join(rows) + (f"\n\n{recording_markdown(recording)}" if recording else "")


def skipped(upload: dict[str, Any]) -> str:
    return f"; skipped: {', '.join(upload['skipped'])}" if upload["skipped"] else ""


def outcome(upload: dict[str, Any]) -> str:
    return upload["state"] + (f": {upload['reason']}" if upload["reason"] else "")


def busy(upload: dict[str, Any]) -> str:
    return ", ".join(f"{name} {seconds} s" for name, seconds in upload["step_seconds"].items())


def recording_markdown(recording: dict[str, Any]) -> str:
    quarters = recording["quarters"]
    loaded = ("Every model of the stack stayed loaded throughout (no idle unloading), after the video above."
              if recording.get("model_idle_s") == 0 else "")
    if len(quarters) < 4 or recording["readings"] < READINGS_NEEDED:
        flat = (f"Memory flat: not judged, {recording['readings']} readings in {len(quarters)} quarters (at least "
                f"{READINGS_NEEDED}, in every quarter, needed).")
    else:
        second, last = quarters[1]["functions_median_mb"], quarters[-1]["functions_median_mb"]
        growth = (last - second) / second
        flat = (f"Memory flat (the functions host's median in the last quarter within {FLAT:.0%} of the second's; "
                f"the first, the transcription's start, is left out as its warm-up): {growth:+.1%}, "
                f"{'met' if abs(growth) < FLAT else '**not met**'}.")
    return "\n".join([
        f"**A {recording['minutes']}-minute recording through the stack** (speech every 15 s over silence, Ogg "
        f"Opus, {recording['megabytes']} MB, {recording['steps']} steps{skipped(recording)}): upload to stored "
        f"result in **{recording['wall_s']:,.0f} s** ({outcome(recording)}); its steps' summed running time: "
        f"{busy(recording)}. {loaded} The memory of every process was read every {SAMPLE_S:g} s; each row is a "
        f"quarter of the {recording['transcribed_s']:,.0f} s from the put to the end of transcription.",
        "",
        "| quarter | readings | functions host RSS, median MiB | functions host RSS, max MiB | stack RSS, max MiB |",
        "|---|---|---|---|---|",
        *(f"| {n} | {q['readings']} | {q['functions_median_mb']:,.0f} | {q['functions_max_mb']:,.0f} | "
          f"{q['total_max_mb']:,.0f} |" for n, q in enumerate(quarters, 1)),
        "",
        flat,
    ])


def main(emit: Callable[[str], None] = print) -> None:
    emit(markdown(run()))


if __name__ == "__main__":
    main()
