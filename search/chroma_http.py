"""The deployment's Chroma server, spoken to over its HTTP API (v2) without Chroma's Python client.

The chromadb package's HttpClient brings the whole client with it (its settings, gRPC, OpenTelemetry):
11 MiB in every worker and web app, which only send the index's few requests over HTTP (issue 17).
These are those requests, with the paths and bodies chromadb 1.x's client sends (vectors packed in
base64 where the server reads them so, a quarter of their size as decimals), so collections made by
either are the same. The bearer token goes with each (search/server.py checks it).
"""

from __future__ import annotations

import base64
import sys
from array import array
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx

from .vector_store import OWN_EMBEDDINGS, Metadata

API = "/api/v2"
COLLECTIONS = "/tenants/default_tenant/databases/default_database/collections"
# Longest wait for one answer (a large upsert, a server busy compacting); a server that is not there
# is known sooner.
TIMEOUT = httpx.Timeout(300.0, connect=10.0)


class ChromaError(RuntimeError):
    """Chroma refused a request or could not answer it; ``kind`` is Chroma's name for the error."""

    def __init__(self, status: int, message: str, kind: str = "") -> None:
        super().__init__(f"the index answered {status}: {message}")
        self.status, self.kind = status, kind


# Vectors are float32 on the way, built with the standard library's array: numpy was 14 MiB in each
# worker for these two conversions (issue 17).
Vectors = Sequence[Sequence[float]]


def decimals(embeddings: Vectors) -> list[list[float]]:
    """Each vector rounded to float32, as Chroma stores it."""
    return [array("f", row).tolist() for row in embeddings]


def packed(embeddings: Vectors) -> list[str]:
    """Each vector's little-endian float32 bytes in base64, as chromadb's client sends them."""
    return [base64.b64encode(_little_endian(array("f", row)).tobytes()).decode() for row in embeddings]


def _little_endian(row: array[float]) -> array[float]:
    if sys.byteorder == "big":
        row.byteswap()
    return row


class RemoteCollection:
    def __init__(self, chroma: ChromaHttp, info: dict[str, Any]) -> None:
        self._chroma = chroma
        self.id: str = info["id"]
        self.name: str = info["name"]
        self.metadata: Metadata | None = info.get("metadata")

    def _post(self, verb: str, body: dict[str, Any]) -> Any:
        return self._chroma.request("POST", f"{COLLECTIONS}/{self.id}/{verb}", body)

    def upsert(self, *, ids: list[str], embeddings: Vectors, metadatas: list[Metadata],
               documents: list[str] | None = None) -> None:
        sent = packed(embeddings) if self._chroma.checks().get("supports_base64_encoding") else decimals(embeddings)
        self._post("upsert", {"ids": ids, "embeddings": sent, "metadatas": metadatas, "documents": documents,
                              "uris": None})

    def delete(self, *, where: Metadata) -> None:
        self._post("delete", {"ids": None, "where": where, "where_document": None})

    def count(self) -> int:
        return int(self._chroma.request("GET", f"{COLLECTIONS}/{self.id}/count"))

    def get(self, *, ids: list[str] | None = None, where: Metadata | None = None, limit: int | None = None,
            offset: int | None = None, include: list[str]) -> Any:
        return self._post("get", {"ids": ids, "where": where, "limit": limit, "offset": offset,
                                  "where_document": None, "include": include})

    def query(self, *, query_embeddings: Vectors, n_results: int, where: Metadata | None = None,
              include: list[str]) -> Any:
        return self._post("query", {"ids": None, "query_embeddings": decimals(query_embeddings),
                                    "n_results": n_results, "where": where, "where_document": None,
                                    "include": include})

    def modify(self, *, name: str, metadata: Metadata) -> None:
        self._chroma.request("PUT", f"{COLLECTIONS}/{self.id}",
                             {"new_name": name, "new_metadata": metadata, "new_configuration": None})
        self.name, self.metadata = name, metadata


class ChromaHttp:
    """A Chroma server's collections (search/vector_store.py's `Chroma`)."""

    def __init__(self, url: str, token: str = "") -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=url.rstrip("/") + API, headers=headers, timeout=TIMEOUT)
        self._checks: dict[str, Any] | None = None

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            reply = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ChromaError(0, f"no answer ({exc})") from exc
        if not reply.is_success:
            try:
                said = reply.json()
            except ValueError:
                said = None
            said = said if isinstance(said, dict) else {}
            raise ChromaError(reply.status_code, str(said.get("message") or reply.text), str(said.get("error", "")))
        return reply.json()

    def checks(self) -> dict[str, Any]:
        """What the server takes (the most vectors one write may carry, packed vectors), asked once."""
        if self._checks is None:
            self._checks = dict(self.request("GET", "/pre-flight-checks"))
        return self._checks

    def listing(self) -> list[RemoteCollection]:
        return [RemoteCollection(self, info) for info in self.request("GET", COLLECTIONS)]

    def create(self, name: str, space: str, metadata: Metadata) -> RemoteCollection:
        configuration = {"hnsw": {"space": space}, "spann": None,
                         "embedding_function": {"name": OWN_EMBEDDINGS, "type": "known", "config": {}}}
        return RemoteCollection(self, self.request("POST", COLLECTIONS, {
            "name": name, "metadata": metadata, "configuration": configuration, "schema": None,
            "get_or_create": True,
        }))

    def find(self, name: str) -> RemoteCollection | None:
        try:
            return RemoteCollection(self, self.request("GET", f"{COLLECTIONS}/{quote(name, safe='')}"))
        except ChromaError as error:
            if error.kind == "NotFoundError":  # Chroma's own answer, not a 404 of something in between
                return None
            raise

    def drop(self, name: str) -> None:
        self.request("DELETE", f"{COLLECTIONS}/{quote(name, safe='')}")

    def batch_size(self) -> int:
        return int(self.checks().get("max_batch_size", -1))

    def close(self) -> None:
        self._http.close()
