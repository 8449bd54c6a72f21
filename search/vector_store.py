"""What the index asks of a Chroma: collections to list, make, find and drop, and their vectors.

Two Chromas answer it: the deployment's server over HTTP (search/chroma_http.py, what every service of
a stack uses) and an embedded one in a directory (search/chroma_local.py, for a process that names no
server). Search/index.py speaks to either through this and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

Metadata = Mapping[str, Any]
# The embedding function every collection names: medialens passes its own vectors, so Chroma never embeds.
OWN_EMBEDDINGS = "medialens-own-embeddings"


def gone(error: BaseException) -> bool:
    """Whether Chroma said a collection is not there: over HTTP (chroma_http's error names Chroma's kind) or
    from its own client (chromadb's NotFoundError, told by name: a service that reads over HTTP loads no
    chromadb)."""
    return getattr(error, "kind", None) == "NotFoundError" or type(error).__name__ == "NotFoundError"


class VectorCollection(Protocol):
    """One collection; replies are Chroma's: ``ids``, and per ``include`` the ``metadatas``, ``documents``,
    ``embeddings`` and (of a query) ``distances``, a query's one list deeper."""

    @property
    def name(self) -> str: ...

    @property
    def metadata(self) -> Metadata | None: ...

    def upsert(self, *, ids: list[str], embeddings: Any, metadatas: list[Metadata],
               documents: list[str] | None = None) -> Any: ...

    def delete(self, *, where: Metadata) -> Any: ...

    def count(self) -> int: ...

    def get(self, *, ids: list[str] | None = None, where: Metadata | None = None, limit: int | None = None,
            offset: int | None = None, include: list[str]) -> Any: ...

    def query(self, *, query_embeddings: Any, n_results: int, where: Metadata | None = None,
              include: list[str]) -> Any: ...

    def modify(self, *, name: str, metadata: Metadata) -> Any: ...


class Chroma(Protocol):
    """A Chroma's collections."""

    def listing(self) -> Sequence[VectorCollection]: ...

    def create(self, name: str, space: str, metadata: Metadata) -> VectorCollection:
        """The collection of this name, made with this distance space and metadata if it is not there."""
        ...

    def find(self, name: str) -> VectorCollection | None: ...

    def drop(self, name: str) -> None: ...

    def batch_size(self) -> int:
        """The most vectors one write may carry."""
        ...

    def close(self) -> None: ...
