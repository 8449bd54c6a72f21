"""Text for the index: chunks of transcripts, OCR, captions and summaries, and their embeddings (all-MiniLM-L6-v2,
from the gateway's `embed` function, which owns the model: no worker or web app holds one)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .remote import FunctionUnavailable, RemoteFunction
from .settings import settings
from .wording import N_

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
OCR, TRANSCRIPT, CAPTION, SUMMARY = "ocr", "transcript", "caption", "summary"


@dataclass(frozen=True)
class Span:
    """Where one transcript segment sits in a chunk's text, so a word found maps to its time."""

    offset: int
    start: float
    end: float


@dataclass(frozen=True)
class Chunk:
    text: str
    source: str
    start: float | None = None
    end: float | None = None
    spans: tuple[Span, ...] = field(default_factory=tuple)

    def spans_json(self) -> str:
        return json.dumps([[span.offset, span.start, span.end] for span in self.spans])


def spans_from_json(raw: str | None) -> list[Span]:
    try:
        return [Span(int(offset), float(start), float(end)) for offset, start, end in json.loads(raw or "[]")]
    except (TypeError, ValueError):
        return []


def time_at(spans: Sequence[Span], offset: int) -> Span | None:
    """The segment that holds character ``offset`` of a chunk."""
    found = None
    for span in spans:
        if span.offset <= offset:
            found = span
    return found


def transcript_chunks(segments: Sequence[Mapping[str, Any]], max_words: int) -> list[Chunk]:
    """Consecutive segments joined up to ``max_words``: enough context for meaning, a tight time range."""
    chunks: list[Chunk] = []
    parts: list[str] = []
    spans: list[Span] = []
    words = 0

    def close() -> None:
        nonlocal parts, spans, words
        if parts:
            chunks.append(Chunk(" ".join(parts), TRANSCRIPT, spans[0].start, spans[-1].end, tuple(spans)))
        parts, spans, words = [], [], 0

    for segment in sorted(segments, key=lambda s: float(s.get("start") or 0.0)):
        text = " ".join(str(segment.get("text") or "").split())
        if not text:
            continue
        count = len(text.split())
        if parts and words + count > max_words:
            close()
        start = float(segment.get("start") or 0.0)
        end = max(start, float(segment.get("end") or start))
        offset = sum(len(part) + 1 for part in parts)
        parts.append(text)
        spans.append(Span(offset, round(start, 3), round(end, 3)))
        words += count
    close()
    return chunks


def ocr_chunk(
    lines: Sequence[Mapping[str, Any]], start: float | None = None, end: float | None = None
) -> Chunk | None:
    text = "\n".join(" ".join(str(line.get("text") or "").split()) for line in lines)
    text = "\n".join(line for line in text.splitlines() if line)
    return Chunk(text, OCR, start, end) if text else None


def caption_chunk(
    caption: Mapping[str, Any], start: float | None = None, end: float | None = None
) -> Chunk | None:
    """A picture's caption and its tags, found by their words and their meaning."""
    sentence = " ".join(str(caption.get("caption") or "").split())
    tags = [str(tag) for tag in caption.get("tags") or [] if str(tag).strip()]
    text = " ".join([sentence, *(["Tags: " + ", ".join(tags)] if tags else [])]).strip()
    return Chunk(text, CAPTION, start, end) if text else None


def summary_chunk(summary: Mapping[str, Any]) -> Chunk | None:
    """A recording's title, summary and chapter titles: what the whole of it is about."""
    chapters = [str(chapter.get("title") or "") for chapter in summary.get("chapters") or []
                if isinstance(chapter, Mapping)]
    parts = [str(summary.get("title") or ""), str(summary.get("summary") or ""), *chapters]
    text = "\n".join(" ".join(part.split()) for part in parts if part.strip())
    return Chunk(text, SUMMARY) if text else None


# What a person is told when passages close in meaning cannot be looked for (words as written still are).
MEANING_UNAVAILABLE = N_(
    "Passages close in meaning cannot be searched for right now: the embed function does not answer. Words "
    "as written are still found; try again in a few minutes, the System page shows an operator why."
)

EMBED = RemoteFunction("embed", unreachable=MEANING_UNAVAILABLE, not_installed=MEANING_UNAVAILABLE,
                       loading=MEANING_UNAVAILABLE)


class TextEmbedder:
    """Sentence embeddings from the embed function, in requests within its bounds.

    Raises FunctionUnavailable when the function gives no answer: an index job fails and RQ runs it
    again later (search/jobs.py), a search tells the reader (search/queries.py)."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """L2-normalised embeddings, one row per text."""
        limits = settings()
        rows: list[list[float]] = []
        for first in range(0, len(texts), limits.embed_batch):
            # The model reads only a text's first 256 word pieces: what lies beyond cannot change its vector.
            batch = [text[: limits.embed_max_chars] for text in texts[first : first + limits.embed_batch]]
            request = {"options": {"texts": batch}}  # no URL in it: the same for any gateway
            body = EMBED.call(lambda gateway: request)  # noqa: B023 (called at once, in this iteration)
            vectors = body.get("embeddings")
            if not isinstance(vectors, list) or len(vectors) != len(batch) or not all(map(_is_vector, vectors)):
                raise FunctionUnavailable(f"the embed function answered {len(batch)} texts with malformed embeddings")
            rows.extend([float(value) for value in vector] for vector in vectors)
        return rows


def _is_vector(vector: Any) -> bool:
    return (isinstance(vector, list) and len(vector) == DIMENSIONS
            and all(isinstance(value, int | float) and not isinstance(value, bool) for value in vector))


def embedder() -> TextEmbedder:
    """The text embedder (it holds nothing: the embed function has the model)."""
    return TextEmbedder()
