"""The deployment's Chroma server, spoken to over its HTTP API (v2) without Chroma's Python client.

The chromadb package's HttpClient brings the whole client with it (its settings, gRPC, OpenTelemetry):
11 MiB in every worker and web app, which only send the index's few requests over HTTP (issue 17).
These are those requests, in the shapes Chroma's own client sends them, so collections made by
either are the same. The bearer token goes with each (search/server.py checks it).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import numpy as np

from .collections import OWN_EMBEDDINGS, Metadata

API = "/api/v2"
COLLECTIONS = "/tenants/default_tenant/databases/default_database/collections"
# Longest wait for one request: a large upsert, or a server busy compacting.
TIMEOUT_S = 300.0


class ChromaError(RuntimeError):
    """Chroma refused a request or could not answer it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"the index answered {status}: {message}")
        self.status = status


def vectors(embeddings: Any) -> list[list[float]]:
    return np.asarray(embeddings, dtype=np.float32).tolist()  # type: ignore[no-any-return]



class RemoteCollection:
    def __init__(self, chroma: ChromaHttp, info: dict[str, Any]) -> None:
        self._chroma = chroma
        self.id: str = info["id"]
        self.name: str = info["name"]
        self.metadata: Metadata | None = info.get("metadata")

    def _post(self, verb: str, body: dict[str, Any]) -> Any:
        return self._chroma.request("POST", f"{COLLECTIONS}/{self.id}/{verb}", body)

    def upsert(self, *, ids: list[str], embeddings: Any, metadatas: list[Metadata],
               documents: list[str] | None = None) -> None:
        self._post("upsert", {"ids": ids, "embeddings": vectors(embeddings), "metadatas": metadatas,
                              "documents": documents, "uris": None})

    def delete(self, *, where: Metadata) -> None:
        self._post("delete", {"ids": None, "where": where, "where_document": None})

    def count(self) -> int:
        return int(self._chroma.request("GET", f"{COLLECTIONS}/{self.id}/count"))

    def get(self, *, ids: list[str] | None = None, where: Metadata | None = None, limit: int | None = None,
            offset: int | None = None, include: list[str]) -> Any:
        return self._post("get", {"ids": ids, "where": where, "limit": limit, "offset": offset,
                                  "where_document": None, "include": include})

    def query(self, *, query_embeddings: Any, n_results: int, where: Metadata | None = None,
              include: list[str]) -> Any:
        return self._post("query", {"ids": None, "query_embeddings": vectors(query_embeddings),
                                    "n_results": n_results, "where": where, "where_document": None,
                                    "include": include})

    def modify(self, *, name: str, metadata: Metadata) -> None:
        self._chroma.request("PUT", f"{COLLECTIONS}/{self.id}",
                             {"new_name": name, "new_metadata": metadata, "new_configuration": None})
        self.name, self.metadata = name, metadata


class ChromaHttp:
    """A Chroma server's collections (search/collections.py's `Chroma`)."""

    def __init__(self, url: str, token: str = "") -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=url.rstrip("/") + API, headers=headers, timeout=TIMEOUT_S)
        self._checks: dict[str, Any] | None = None

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            reply = self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ChromaError(0, f"no answer ({exc})") from exc
        if not reply.is_success:
            try:
                message = str(reply.json().get("message") or reply.text)
            except ValueError:
                message = reply.text
            raise ChromaError(reply.status_code, message)
        return reply.json()

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
            if error.status == httpx.codes.NOT_FOUND:
                return None
            raise

    def drop(self, name: str) -> None:
        self.request("DELETE", f"{COLLECTIONS}/{quote(name, safe='')}")

    def checks(self) -> dict[str, Any]:
        """What the server takes (the most vectors one write may carry), asked once."""
        if self._checks is None:
            self._checks = dict(self.request("GET", "/pre-flight-checks"))
        return self._checks

    def batch_size(self) -> int:
        return int(self.checks().get("max_batch_size", -1))

    def close(self) -> None:
        self._http.close()
