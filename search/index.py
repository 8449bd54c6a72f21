"""The vector index in Chroma: one collection per workspace, kind and embedding model, kept fresh across
processes.

A workspace's vectors live in collections of its own, so no query of one workspace can reach
another's, and a search reads only its own workspace's data however much the others hold.

Embedded Chroma (a PersistentClient) keeps its HNSW graphs in process memory and never notices
what another process wrote, and two processes writing at once would overwrite each other's
graph files. So writers hold a Redis lock and bump a Redis counter; every process reopens its
client when the counter moved. A Chroma server (``MEDIALENS_INDEX_SERVER_URL``) needs none of it,
but the lock is cheap and keeps one code path.
"""

from __future__ import annotations

import gc
import logging
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from redis import Redis
from redis.exceptions import LockError, RedisError
from redis.lock import Lock

from scheduler import keys
from scheduler.context import current

from .chroma_http import ChromaHttp
from .fingerprints import Fingerprint, Fingerprints
from .indexed import Indexed
from .settings import IndexSettings, settings
from .vector_store import Chroma, VectorCollection, gone
from .words import WordIndex

logger = logging.getLogger(__name__)


IMAGES, FACES, TEXT = "images", "faces", "text"
T = TypeVar("T")
# Faces are compared by Euclidean distance (dlib's threshold is Euclidean); CLIP and text by cosine.
SPACES = {IMAGES: "cosine", FACES: "l2", TEXT: "cosine"}
# Documents read per request for a partial word: a scan's page, or a batch of the chunks that may hold it.
SCAN_PAGE = 1000


class IndexBusy(RuntimeError):
    """Another writer held the index lock for longer than the lock timeout."""


@dataclass
class Entry:
    """One vector with where it came from; ``upload_id`` in metadata ties it to its upload."""

    id: str
    kind: str
    model: str
    embedding: Sequence[float]
    metadata: dict[str, str | int | float | bool]
    document: str | None = None


@dataclass
class Hit:
    id: str
    distance: float
    metadata: dict[str, Any]
    document: str | None = None
    embedding: list[float] | None = field(default=None, repr=False)


def workspace_collections(prefix: str, workspace: str) -> str:
    """What the name of each of a workspace's collections starts with. "_" is in no workspace id or
    kind, so one workspace's names never start like another's."""
    return f"{prefix}_{workspace}_"


def collection_name(prefix: str, workspace: str, kind: str, model: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-._") or "default"
    return f"{workspace_collections(prefix, workspace)}{kind}_{slug}"[:500]


@contextmanager
def renewed(lock: Lock, every_s: float) -> Iterator[None]:
    """Renews a held lock's lease every ``every_s`` until the block ends (a lock made with
    ``thread_local=False``: the renewing thread must see its token)."""
    done = threading.Event()

    def renew() -> None:
        while not done.wait(every_s):
            try:
                lock.reacquire()
            except (LockError, RedisError) as exc:
                logger.warning("the index write lock could not be renewed: %s", exc)
                return

    renewing = threading.Thread(target=renew, name="index-lock", daemon=True)
    renewing.start()
    try:
        yield
    finally:
        done.set()
        renewing.join()


class Index:
    """Reads and writes the collections of every workspace, each call those of the one it names; one
    instance per process is enough."""

    def __init__(self, redis: Redis, config: IndexSettings | None = None) -> None:
        self.redis = redis
        self.config = config or settings()
        self._client: Chroma | None = None
        self._seen: Any = None
        self._version: Any = None
        # Every collection by name, as of index version `_listed_at` (None: read again).
        self._listing: dict[str, VectorCollection] | None = None
        self._listed_at: Any = None
        self._written = -1  # which write (keys.INDEX_WRITES) this process's last one was, when tracked
        self._mutex = threading.RLock()

    def words(self, workspace: str) -> WordIndex:
        """The workspace's word index: kept beside its collections and written under the same lock, so
        the two never disagree."""
        return WordIndex(self.redis, workspace, self.config.collection_prefix)

    def indexed(self, workspace: str) -> Indexed:
        """The workspace's uploads that may have vectors: a first indexing deletes nothing."""
        return Indexed(self.redis, workspace, self.config.collection_prefix)

    def fingerprints(self, workspace: str) -> Fingerprints:
        """The workspace's picture fingerprints (duplicates without CLIP): written with its vectors."""
        return Fingerprints(self.redis, workspace, self.config.collection_prefix)

    # -- the client ---------------------------------------------------------------------------
    def _open(self) -> Chroma:
        if self.config.server_url:
            return ChromaHttp(self.config.server_url, self.config.token)
        from .chroma_local import LocalChroma  # Chroma's own client: imported only where it runs

        return LocalChroma(self.config.chroma_path())

    def _fresh_client(self) -> Chroma:
        version = self._version = self.redis.get(keys.INDEX_VERSION)
        if self._client is None or (not self.config.server_url and version != self._seen):
            if self._client is not None:
                self._client.close()
            self._client = self._open()
            self._seen = version
        return self._client

    def close(self) -> None:
        """Lets go of the Chroma client and what it holds open (an embedded index: a dozen files, its
        database, vector segments and runtime), for a process that goes on without this index: a test's or
        a bench's. Embedded Chroma's objects refer to each other in cycles, which only the cycle collector
        frees; the next use opens the index again."""
        with self._mutex:
            if self._client is not None:
                self._client.close()
            self._client, self._listing = None, None
        gc.collect()

    @contextmanager
    def reading(self) -> Iterator[Chroma]:
        with self._mutex:
            yield self._fresh_client()

    def _read(self, read: Callable[[Chroma], T]) -> T:
        """``read`` on the collections listed at this index version. A collection that another process dropped
        in a write not finished yet (the version moves at its end) answers that it is not there: the
        collections are listed again and ``read`` made once more, so a search in a workspace being rebuilt or
        erased finds what is left rather than failing."""
        with self.reading() as client:
            try:
                return read(client)
            except Exception as error:
                if not gone(error):
                    raise
                self._listing = None
                return read(client)

    @contextmanager
    def writing(self, tracked: bool = False) -> Iterator[Chroma]:
        """Exclusive across processes; whatever is written is seen by every reader afterwards.

        ``tracked``: the collections change only through `_collection` and `_drop`, which keep this
        process's listing up to date, so that the next write of this process takes it as it is when no
        other write began in between (counted when they begin, so that one killed half-way counts). A
        write asked for every collection, then for each one it wrote to: a request of 3-4 ms each, under
        the lock every index job waits for."""
        # A short lease, renewed while the writer lives: one killed mid-write (or cut off from Redis, so
        # that it cannot release) holds the index a few seconds, not the longest write there could be,
        # while every worker's index job waits for it.
        lock = self.redis.lock(
            keys.INDEX_LOCK, timeout=self.config.lock_lease_s, blocking_timeout=self.config.lock_timeout_s,
            thread_local=False,  # renewed from a thread of its own
        )
        if not lock.acquire():
            raise IndexBusy(f"the index stayed locked for {self.config.lock_timeout_s} s")
        try:
            with renewed(lock, self.config.lock_lease_s / 3), self._mutex:
                client = self._fresh_client()
                begun = int(self.redis.incr(keys.INDEX_WRITES))
                if begun != self._written + 1:
                    self._listing = None
                written = False
                try:
                    yield client
                    written = tracked
                finally:
                    self._version = self._seen = str(self.redis.incr(keys.INDEX_VERSION)).encode()
                    self._listed_at, self._written = (self._version, begun) if written else (None, -1)
        finally:
            lock.release()

    # -- collections ----------------------------------------------------------------------------
    def _collection(
        self, client: Chroma, workspace: str, kind: str, model: str, create: bool
    ) -> VectorCollection | None:
        name = collection_name(self.config.collection_prefix, workspace, kind, model)
        listing = self._every_collection(client)
        if name in listing or not create:
            return listing.get(name)
        made = listing[name] = client.create(name, SPACES[kind], {"kind": kind, "model": model,
                                                                  "workspace": workspace})
        return made

    def _drop(self, client: Chroma, collection: VectorCollection) -> None:
        client.drop(collection.name)
        self._every_collection(client).pop(collection.name, None)

    def _all(self, client: Chroma, workspace: str, kind: str | None = None) -> list[VectorCollection]:
        """The workspace's collections (of one kind, or all)."""
        start = workspace_collections(self.config.collection_prefix, workspace)
        found = []
        for collection in self._every_collection(client).values():
            meta = collection.metadata or {}
            if not collection.name.startswith(start) or meta.get("workspace") != workspace or "kind" not in meta:
                continue
            if kind is None or meta["kind"] == kind:
                found.append(collection)
        return found

    def _every_collection(self, client: Chroma) -> dict[str, VectorCollection]:
        """Every collection by name, listed once per index version: only a write, under the lock, changes
        them, and it bumps the version. Listing them all on each query cost a search in one of many
        workspaces more than the search itself; asking for each collection by name again cost a request
        per collection."""
        if self._listing is None or self._listed_at != self._version:
            self._listing = {collection.name: collection for collection in client.listing()}
            self._listed_at = self._version
        return self._listing

    def models(self, workspace: str, kind: str) -> list[str]:
        with self.reading() as client:
            return [str((c.metadata or {}).get("model")) for c in self._all(client, workspace, kind)]

    # -- writes ---------------------------------------------------------------------------------
    def replace(
        self, workspace: str, upload_id: str, entries: Sequence[Entry],
        still_wanted: Callable[[], bool] = lambda: True, fingerprint: Fingerprint | None = None,
    ) -> int:
        """Makes the upload's vectors in its workspace exactly ``entries`` (so indexing twice changes nothing).

        ``still_wanted`` is asked under the lock, so an upload deleted meanwhile gets no vectors.
        """
        with self.writing(tracked=True) as client:
            first = not self._all(client, workspace)
            indexed = self.indexed(workspace)
            self._remove(client, workspace, upload_id, vectors=indexed.may_have(upload_id, no_collections=first))
            if not still_wanted():
                return 0
            indexed.add(upload_id, first)  # before any of its vectors is written
            groups: dict[tuple[str, str], list[Entry]] = {}
            for entry in entries:
                groups.setdefault((entry.kind, entry.model), []).append(entry)
            batch = max(1, client.batch_size())
            for (kind, model), group in groups.items():
                target = self._collection(client, workspace, kind, model, create=True)
                assert target is not None
                for begin in range(0, len(group), batch):
                    part = group[begin : begin + batch]
                    target.upsert(
                        ids=[entry.id for entry in part],
                        embeddings=[entry.embedding for entry in part],
                        metadatas=[{**entry.metadata, "upload_id": upload_id} for entry in part],
                        documents=[entry.document or "" for entry in part] if kind == TEXT else None,
                    )
            chunks = {entry.id: entry.document or "" for entry in entries if entry.kind == TEXT}
            self.words(workspace).add(upload_id, chunks)
            if fingerprint is not None:
                self.fingerprints(workspace).put(upload_id, fingerprint)
        return len(entries)

    def remove(self, workspace: str, upload_id: str) -> None:
        with self.writing(tracked=True) as client:
            self._remove(client, workspace, upload_id)

    def _remove(self, client: Chroma, workspace: str, upload_id: str, vectors: bool = True) -> None:
        """The upload's word index entries and fingerprint, and its vectors unless ``vectors`` is false."""
        if vectors:
            for collection in self._all(client, workspace):
                collection.delete(where={"upload_id": upload_id})
            self.indexed(workspace).discard(upload_id)
        self.words(workspace).remove(upload_id)
        self.fingerprints(workspace).remove(upload_id)

    def drop_workspace(self, workspace: str) -> int:
        """Deletes every collection and the word index of a workspace (a rebuild, or its erasure);
        how many collections went."""
        with self.writing(tracked=True) as client:
            found = self._all(client, workspace)
            for collection in found:
                self._drop(client, collection)
            self.words(workspace).clear()
            self.fingerprints(workspace).clear()
            self.indexed(workspace).clear()
        return len(found)

    # -- reads ----------------------------------------------------------------------------------
    def count(self, workspace: str, upload_id: str | None = None) -> int:
        """Vectors of one upload (or all) of a workspace, across its collections."""

        def read(client: Chroma) -> int:
            total = 0
            for collection in self._all(client, workspace):
                if upload_id is None:
                    total += collection.count()
                else:
                    total += len(collection.get(where={"upload_id": upload_id}, include=[])["ids"])
            return total

        return self._read(read)

    def nearest(
        self, workspace: str, kind: str, model: str, embedding: Sequence[float], limit: int,
        where: dict[str, Any] | None = None,
    ) -> list[Hit]:
        def read(client: Chroma) -> Any:
            collection = self._collection(client, workspace, kind, model, create=False)
            if collection is None or limit <= 0:
                return None
            return collection.query(
                query_embeddings=[embedding],
                n_results=limit,
                where=where or None,
                include=["metadatas", "documents", "distances"],
            )

        reply = self._read(read)
        if reply is None:
            return []
        ids = reply["ids"][0]
        distances = (reply.get("distances") or [[]])[0]
        metadatas = (reply.get("metadatas") or [[]])[0]
        documents = (reply.get("documents") or [[None] * len(ids)])[0]
        return [
            Hit(id=i, distance=_distance(kind, float(d)), metadata=dict(m or {}), document=doc)
            for i, d, m, doc in zip(ids, distances, metadatas, documents, strict=True)
        ]

    def containing(
        self, workspace: str, kind: str, text: str, limit: int, max_chunks: int,
        keep: Callable[[Hit], bool] = lambda hit: True,
    ) -> tuple[list[Hit], bool]:
        """A workspace's entries whose document holds ``text`` (any case), from every model's collection, looking at
        no more than ``max_chunks`` documents; True when that left none unread or ``limit`` were found.

        A scan: Chroma's own ``$regex`` filter reads every document of a collection when nothing
        matches, so the pages are read here, where their number can be bounded.
        """
        wanted = text.lower()

        def scan(client: Chroma) -> tuple[list[Hit], bool]:
            hits: list[Hit] = []
            read = 0
            for collection in self._all(client, workspace, kind):
                total = collection.count()
                offset = 0
                while offset < total:
                    if read >= max_chunks:
                        return hits, False
                    page = _listed(collection.get(
                        limit=min(SCAN_PAGE, max_chunks - read), offset=offset, include=["metadatas", "documents"]
                    ))
                    if not page:
                        break
                    read += len(page)
                    offset += len(page)
                    hits += [hit for hit in page if wanted in (hit.document or "").lower() and keep(hit)]
                    if len(hits) >= limit:
                        return hits[:limit], True
            return hits, True

        return self._read(scan)

    def by_ids(self, workspace: str, kind: str, ids: Sequence[str]) -> list[Hit]:
        """A workspace's entries with these ids, from every model's collection, in the order asked."""
        ids = list(dict.fromkeys(ids))  # Chroma refuses a get that names an id twice

        def read(client: Chroma) -> dict[str, Hit]:
            found: dict[str, Hit] = {}
            for collection in self._all(client, workspace, kind):
                for hit in _listed(collection.get(ids=ids, include=["metadatas", "documents"])):
                    found.setdefault(hit.id, hit)
            return found

        found = self._read(read)
        return [found[i] for i in ids if i in found]

    def get(self, workspace: str, kind: str, model: str, where: dict[str, Any]) -> list[Hit]:
        """A workspace's entries matching metadata, with their embeddings."""
        def read(client: Chroma) -> list[Hit]:
            collection = self._collection(client, workspace, kind, model, create=False)
            if collection is None:
                return []
            return _listed(collection.get(where=where, include=["metadatas", "embeddings", "documents"]))

        return self._read(read)


def _listed(reply: Any) -> list[Hit]:
    """The hits of a ``Collection.get`` reply; embeddings and documents where it included them."""
    count = len(reply["ids"])
    embeddings = reply.get("embeddings")
    embeddings = [None] * count if embeddings is None else embeddings
    documents = reply.get("documents") or [None] * count
    return [
        Hit(id=i, distance=0.0, metadata=dict(m or {}), document=doc,
            embedding=None if e is None else [float(x) for x in e])
        for i, m, e, doc in zip(reply["ids"], reply["metadatas"], embeddings, documents, strict=True)
    ]


def _distance(kind: str, raw: float) -> float:
    # Chroma's "l2" space returns the squared distance; thresholds are stated on the plain one.
    return max(raw, 0.0) ** 0.5 if SPACES[kind] == "l2" else raw


def index() -> Index:
    """The index of this process's context, on its Redis."""
    context = current()
    return context.shared("search.index", lambda: Index(context.redis))
