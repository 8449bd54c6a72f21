"""OpenFaaS handler for transcribe: language, timed segments and optional word timings of speech.

A call covers the whole file, or one chunk when ``options.start_s`` is given: the result's
``next_start_s`` says where the next chunk starts (None at the end), so a scheduler can run one
chunk per job and report progress per chunk.
"""

from __future__ import annotations

import logging
from typing import Any

from functions.common import audio, contract

from . import chunks, engines
from .settings import settings

logger = logging.getLogger(__name__)


def load() -> None:
    engines.engine().load()


def analyze(request: contract.Request) -> dict[str, Any]:
    options = Options.from_request(request)
    config = settings()
    data = request.fetch_source()
    span = options.duration_s or (config.chunk_s if options.chunked else None)
    # One chunk of a longer file decodes a little past its nominal end, to find a pause to end in.
    reach = None if span is None else span + config.boundary_search_s
    with request.timed("decode"):
        sound = audio.decode_audio(
            data, options.start_s, reach, config.max_duration_s, "MEDIALENS_TRANSCRIBE_MAX_DURATION_S"
        )
    if options.chunked and len(sound.samples) == 0:
        raise contract.InputError(f"start_s {options.start_s} is at or past the end of the audio")
    more_follows = reach is not None and sound.end < (sound.file_duration or float("inf")) - 0.01
    if span is None:
        windows = chunks.plan(sound.samples, config.chunk_s, config.boundary_search_s)
    else:
        windows = chunks.plan(sound.samples, span, config.boundary_search_s, last_is_end=not more_follows)
    model = engines.engine().load()
    language = options.language
    transcripts = []
    with request.timed("transcribe"):
        for number, (begin, end) in enumerate(windows, start=1):
            offset = sound.start + begin / audio.SAMPLE_RATE
            part = model.predict(sound.samples[begin:end], offset, language, options.word_timestamps)
            # Later chunks keep the language detected where there was speech first.
            if language is None and part.segments:
                language = part.language
            transcripts.append(part)
            logger.info("transcribed chunk %d/%d (%.0f s)", number, len(windows), offset)
    end_s = sound.start + windows[-1][1] / audio.SAMPLE_RATE if windows else sound.start
    # Without speech there is no language to report, only the guess made on silence.
    spoken = next((part for part in transcripts if part.segments), None)
    return {
        "engine": model.info(),
        "language": spoken.language if spoken else options.language,
        "language_probability": spoken.language_probability if spoken else None,
        "segments": [segment for part in transcripts for segment in part.segments],
        "duration": None if sound.file_duration is None else round(sound.file_duration, 3),
        "start": round(sound.start, 3),
        "end": round(end_s, 3),
        "next_start_s": round(end_s, 3) if more_follows else None,
        "truncated": sound.truncated,
    }


class Options:
    """The request's options, checked: a bad value is the caller's mistake (422)."""

    def __init__(
        self,
        start_s: float,
        duration_s: float | None,
        chunked: bool,
        language: str | None,
        word_timestamps: bool,
    ) -> None:
        if start_s < 0:
            raise contract.InputError("options.start_s must be 0 or more seconds")
        if duration_s is not None and duration_s <= 0:
            raise contract.InputError("options.duration_s must be more than 0 seconds")
        self.start_s, self.duration_s, self.chunked = start_s, duration_s, chunked
        self.language, self.word_timestamps = language, word_timestamps

    @classmethod
    def from_request(cls, request: contract.Request) -> Options:
        raw = request.options
        try:
            start = float(raw.get("start_s") or 0.0)
            duration = None if raw.get("duration_s") is None else float(raw["duration_s"])
        except (TypeError, ValueError) as exc:
            raise contract.InputError("options.start_s and options.duration_s must be numbers") from exc
        language = raw.get("language")
        if language is not None and not isinstance(language, str):
            raise contract.InputError("options.language must be a language code such as 'en'")
        return cls(
            start_s=start,
            duration_s=duration,
            chunked="start_s" in raw or "duration_s" in raw,
            language=language or None,
            word_timestamps=bool(raw.get("word_timestamps", False)),
        )


def handle(event: Any, context: Any) -> dict[str, Any]:
    return contract.run(event, analyze)
