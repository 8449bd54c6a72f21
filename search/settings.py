"""Search and index settings (environment variables prefixed MEDIALENS_INDEX_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from functions.faces.same_person import SAME_PERSON_DISTANCE
from scheduler.context import current


class IndexSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIALENS_INDEX_")

    server_url: str = Field(
        "", description="Chroma server (http://host:8000); empty: an embedded index under `path`."
    )
    path: Path = Field(
        Path(".state/chroma"),
        description="Embedded index directory (when no server_url); the data directory of `python -m search.server`.",
    )
    token: str = Field(
        "", description="Bearer token the Chroma server requires (search/server.py) and the client sends; "
        "empty: none sent.",
    )
    serve_host: str = Field("127.0.0.1", description="Address `python -m search.server` listens on.")
    serve_port: int = Field(8000, description="Port `python -m search.server` listens on.")
    chroma_port: int = Field(
        8010, description="Loopback port of the Chroma server that `python -m search.server` runs behind itself."
    )
    collection_prefix: str = Field("medialens", description="Prefix of every Chroma collection name.")
    embed_batch: int = Field(64, description="Texts sent to the embed function in one request (it takes up to 256).")
    embed_max_chars: int = Field(
        4000, description="A text is cut to this many characters before it is embedded (the embed function takes "
        "up to 10,000; its model reads only the first 256 word pieces)."
    )
    index_retry_s: list[int] = Field(
        [60, 300, 900, 3600, 3600], description="Pauses before an index job that failed (the embed function gave "
        "no answer) runs again, in seconds; one run per pause (JSON list)."
    )
    chunk_words: int = Field(60, description="Transcript segments join into chunks of up to this many words.")
    same_person_distance: dict[str, float] = Field(
        default_factory=lambda: dict(SAME_PERSON_DISTANCE),
        description="Face distance (Euclidean) under which two faces are one person, per embedding model "
        "(default: the faces function's, functions/faces/same_person.py).",
    )
    face_neighbours: int = Field(20, description="Nearest known faces looked at when placing a new face.")
    duplicate_distance: float = Field(
        0.04, description="CLIP cosine distance under which two images count as near-duplicates."
    )
    duplicate_bits: int = Field(
        8, description="Perceptual-hash bits (of 64) within which two pictures count as near-duplicates "
        "(resized or re-encoded copies measured 0, different photos 20-40; functions/probe/fingerprint.py).",
    )
    semantic_max_distance: float = Field(
        0.55, description="Text hits farther than this cosine distance are not shown (all-MiniLM-L6-v2: "
        "passages about a query word measured 0.26-0.52, unrelated ones and nonsense words 0.60-0.85).",
    )
    semantic_margin: float = Field(
        0.25, description="Text hits farther than the closest one by more than this cosine distance are not shown.",
    )
    scan_max_chunks: int = Field(
        20_000, description="Most text chunks one search reads when a query word is no whole word of any chunk "
        "(a partial word): read from the chunks holding a word that contains it (or from every chunk while the "
        "workspace keeps no vocabulary yet); such a search says when it stopped there.",
    )
    lock_timeout_s: int = Field(600, description="Longest wait of a writer for the index write lock.")
    lock_lease_s: int = Field(
        15, description="How long the index write lock outlives a writer that died; a live writer renews it."
    )

    def chroma_path(self) -> Path:
        return self.path


def settings() -> IndexSettings:
    """The search settings of this process's context (scheduler/context.py)."""
    return current().shared("search.settings", IndexSettings)
