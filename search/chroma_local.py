"""An embedded Chroma in a directory, through Chroma's own client: for a process that names no index
server (a test, a bench, one process alone). Imported only then, as the client is search's heaviest import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import chromadb
from chromadb.api.client import SharedSystemClient
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import NotFoundError
from chromadb.utils.embedding_functions import register_embedding_function

from .vector_store import OWN_EMBEDDINGS, Metadata, VectorCollection


@register_embedding_function
class OwnEmbeddings(EmbeddingFunction[Documents]):
    """Stands where Chroma would put its default embedder, which downloads a model when called."""

    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:
        raise RuntimeError("medialens passes its own embeddings; Chroma must never embed text itself")

    @staticmethod
    def name() -> str:
        return OWN_EMBEDDINGS

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> OwnEmbeddings:
        return OwnEmbeddings()

    def get_config(self) -> dict[str, Any]:
        return {}


class LocalChroma:
    """The collections of the Chroma in ``path`` (search/vector_store.py's `Chroma`)."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._client = chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))

    def listing(self) -> list[VectorCollection]:
        return [cast(VectorCollection, found) for found in self._client.list_collections()]

    def create(self, name: str, space: str, metadata: Metadata) -> VectorCollection:
        return cast(VectorCollection, self._client.get_or_create_collection(
            name, embedding_function=OwnEmbeddings(),  # type: ignore[arg-type]
            configuration={"hnsw": {"space": space}},  # type: ignore[arg-type,typeddict-item]
            metadata=dict(metadata),
        ))

    def find(self, name: str) -> VectorCollection | None:
        try:
            return cast(VectorCollection, self._client.get_collection(
                name, embedding_function=OwnEmbeddings()))  # type: ignore[arg-type]
        except (NotFoundError, ValueError):
            return None

    def drop(self, name: str) -> None:
        self._client.delete_collection(name)

    def batch_size(self) -> int:
        return self._client.get_max_batch_size()

    def close(self) -> None:
        """Chroma keeps every client it opened, and their open files (a dozen per index), until told to
        forget them all."""
        SharedSystemClient.clear_system_cache()
