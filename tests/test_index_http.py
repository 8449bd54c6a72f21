"""The index over HTTP (search/chroma_http.py: what every service of a stack uses) answers as the embedded
Chroma does through Chroma's own client, and what it makes is what that client makes."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import chromadb
import httpx
import numpy as np
import pytest
from chromadb.api.models.Collection import Collection as ChromaCollection
from redis import Redis

from embedded.stack import Stack
from functions.catalog import PROJECT
from scheduler import keys
from search import upgrade
from search.chroma_http import RemoteCollection
from search.chroma_local import OwnEmbeddings
from search.index import FACES, IMAGES, SPACES, TEXT, Entry, Index, collection_name
from search.settings import IndexSettings
from storage.layout import LEGACY_WORKSPACE
from tests.search_data import INDEX_TOKEN

pytest_plugins = ["tests.search_support"]

WORKSPACE, OTHER = "ws-a", "ws-b"
COLLECTIONS = "/api/v2/tenants/default_tenant/databases/default_database/collections"


def on_server(index_server: str, redis_db: Redis) -> Index:
    """An index of collections of its own on the index server: the prefix keeps them apart."""
    return Index(redis_db, IndexSettings(server_url=index_server, token=INDEX_TOKEN,
                                         collection_prefix=f"t{uuid.uuid4().hex[:10]}"))


@pytest.fixture(params=["server", "embedded"])
def index(request: pytest.FixtureRequest, redis_db: Redis, tmp_path: Path) -> Iterator[Index]:
    """An index of collections of its own: on the index server, or embedded."""
    if request.param == "server":
        made = on_server(request.getfixturevalue("index_server"), redis_db)
    else:
        made = Index(redis_db, IndexSettings(path=tmp_path / "chroma", server_url=""))
    yield made
    made.close()


def entries(upload: str, rows: np.ndarray, kind: str = IMAGES) -> list[Entry]:
    return [Entry(f"{upload}-{n}", kind, "m", row.tolist(), {"n": n},
                  document=f"passage {n} of {upload}" if kind == TEXT else None) for n, row in enumerate(rows)]


def test_vectors_written_are_found_nearest_first_with_their_metadata(index: Index) -> None:
    rows = np.random.default_rng(1).normal(size=(8, 16)).astype(np.float32)
    assert index.replace(WORKSPACE, "u1", entries("u1", rows)) == 8
    hits = index.nearest(WORKSPACE, IMAGES, "m", rows[3].tolist(), 3)
    assert hits[0].id == "u1-3" and len(hits) == 3
    assert hits[0].distance == pytest.approx(0.0, abs=1e-5) and hits[0].metadata == {"n": 3, "upload_id": "u1"}
    assert [hit.distance for hit in hits] == sorted(hit.distance for hit in hits)
    stored = index.get(WORKSPACE, IMAGES, "m", {"upload_id": "u1"})
    kept = {hit.id: hit.embedding for hit in stored}["u1-5"]
    assert kept is not None and np.allclose(kept, rows[5], rtol=1e-6), "kept within float32 rounding"


def test_face_distances_are_plain_euclidean(index: Index) -> None:
    rows = np.array([[0.0, 0.0, 0.0, 0.1], [3.0, 4.0, 0.0, 0.1]], dtype=np.float32)
    index.replace(WORKSPACE, "u1", entries("u1", rows, FACES))
    hits = index.nearest(WORKSPACE, FACES, "m", [0.0, 0.0, 0.0, 0.1], 2)
    assert SPACES[FACES] == "l2" and [round(hit.distance, 4) for hit in hits] == [0.0, 5.0]
    stored = index.get(WORKSPACE, FACES, "m", {"upload_id": "u1"})
    kept = [hit.embedding for hit in sorted(stored, key=lambda hit: hit.id)]
    assert np.array_equal(np.asarray(kept, dtype=np.float32), rows), "kept bit for bit"


def test_counts_reads_and_removals_keep_to_their_upload_and_workspace(index: Index) -> None:
    rng = np.random.default_rng(2)
    index.replace(WORKSPACE, "u1", entries("u1", rng.normal(size=(3, 8)), TEXT))
    index.replace(WORKSPACE, "u2", entries("u2", rng.normal(size=(2, 8)), TEXT))
    index.replace(OTHER, "u3", entries("u3", rng.normal(size=(4, 8)), TEXT))
    index.replace(WORKSPACE, "u1", entries("u1", rng.normal(size=(3, 8)), TEXT))  # indexing again changes nothing
    assert (index.count(WORKSPACE), index.count(WORKSPACE, "u1"), index.count(OTHER)) == (5, 3, 4)
    assert [hit.id for hit in index.by_ids(WORKSPACE, TEXT, ["u2-1", "u3-0", "u1-0"])] == ["u2-1", "u1-0"]
    found, complete = index.containing(WORKSPACE, TEXT, "PASSAGE 1 OF U", limit=10, max_chunks=100)
    assert sorted(hit.id for hit in found) == ["u1-1", "u2-1"] and complete
    assert index.nearest(OTHER, IMAGES, "m", [0.0] * 8, 5) == [], "no collection of that kind: nothing"
    index.remove(WORKSPACE, "u1")
    assert (index.count(WORKSPACE), index.count(OTHER)) == (2, 4)
    assert index.drop_workspace(WORKSPACE) == 1 and index.count(WORKSPACE) == 0 and index.count(OTHER) == 4


def test_a_reader_sees_what_another_process_wrote_since_its_last_read(index: Index, redis_db: Redis) -> None:
    """A reader keeps the collections it listed until the index's version moves: a workspace another process
    dropped and indexed again (its collection made anew) and a model it added are what the next read sees."""
    writer = Index(redis_db, index.config)  # another process's: the same index and Redis
    rows = np.eye(4, dtype=np.float32)
    writer.replace(WORKSPACE, "u1", entries("u1", rows))
    assert [hit.id for hit in index.nearest(WORKSPACE, IMAGES, "m", rows[1].tolist(), 1)] == ["u1-1"]
    assert index.models(WORKSPACE, IMAGES) == ["m"]
    writer.drop_workspace(WORKSPACE)
    writer.replace(WORKSPACE, "u2", entries("u2", rows))
    writer.replace(WORKSPACE, "u3", [Entry("u3-0", IMAGES, "m2", rows[0].tolist(), {})])
    assert [hit.id for hit in index.nearest(WORKSPACE, IMAGES, "m", rows[1].tolist(), 1)] == ["u2-1"]
    assert sorted(index.models(WORKSPACE, IMAGES)) == ["m", "m2"]
    writer.close()


def test_a_search_while_another_process_erases_a_workspace_finds_what_is_left(index: Index, redis_db: Redis) -> None:
    """Collections dropped by a write not finished yet (the version has not moved) are read as gone, not as
    an error: the reader lists the collections again."""
    writer = Index(redis_db, index.config)
    rows = np.eye(4, dtype=np.float32)
    writer.replace(WORKSPACE, "u1", entries("u1", rows))
    writer.replace(WORKSPACE, "u2", entries("u2", rows, TEXT))
    with writer.writing() as chroma:
        assert index.count(WORKSPACE) == 8, "the reader has listed both collections"
        chroma.drop(collection_name(index.config.collection_prefix, WORKSPACE, IMAGES, "m"))
        assert index.nearest(WORKSPACE, IMAGES, "m", rows[1].tolist(), 1) == []
        assert index.count(WORKSPACE) == 4
        assert [hit.id for hit in index.by_ids(WORKSPACE, TEXT, ["u2-0"])] == ["u2-0"]
    writer.close()


KILLED_WRITER = """
import json, os, sys
from redis import Redis
from search.index import Index
from search.settings import IndexSettings
config, redis_url, name = json.loads(sys.argv[1])
with Index(Redis.from_url(redis_url), IndexSettings.model_validate(config)).writing() as chroma:
    chroma.drop(name)
    os._exit(9)  # killed: the write never ends
"""


def test_a_writer_killed_half_way_leaves_no_stale_listing_behind(index: Index, redis_server: Stack) -> None:
    """A write keeps the listing it brought up to date for the process's next write, unless another write began in
    between: one killed after dropping a collection never moves the version, and the next write must not write
    into what it dropped."""
    rows = np.eye(4, dtype=np.float32)
    index.replace(WORKSPACE, "u1", entries("u1", rows))
    index.replace(WORKSPACE, "u2", entries("u2", rows))  # written through the listing kept by the first write
    config = {**index.config.model_dump(mode="json"), "lock_lease_s": 1}
    name = collection_name(index.config.collection_prefix, WORKSPACE, IMAGES, "m")
    told = json.dumps([config, redis_server.redis_url(15), name])  # the database the index fixture uses
    killed = subprocess.run([sys.executable, "-c", KILLED_WRITER, told], cwd=PROJECT, capture_output=True, text=True,
                            timeout=120)
    assert killed.returncode == 9, killed.stderr
    assert index.replace(WORKSPACE, "u3", entries("u3", rows)) == 4
    assert [hit.id for hit in index.nearest(WORKSPACE, IMAGES, "m", rows[2].tolist(), 1)] == ["u3-2"]
    assert index.count(WORKSPACE) == 4, "what the killed writer dropped stays dropped"


def around_collections(
    monkeypatch: pytest.MonkeyPatch, method: str, around: Callable[[Callable[..., Any], Any, dict[str, Any]], Any]
) -> None:
    """Calls ``around(original, collection, arguments)`` in place of ``method`` of every collection, on the index
    server's client and on embedded Chroma's."""
    for collection in (RemoteCollection, ChromaCollection):
        def wrapped(self: Any, original: Any = getattr(collection, method), **arguments: Any) -> Any:
            return around(original, self, arguments)

        monkeypatch.setattr(collection, method, wrapped)


@pytest.fixture
def deletions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The upload of each delete asked of a collection, on the index server or embedded."""
    asked: list[str] = []

    def counted(original: Callable[..., Any], collection: Any, arguments: dict[str, Any]) -> Any:
        asked.append(arguments["where"]["upload_id"])
        return original(collection, **arguments)

    around_collections(monkeypatch, "delete", counted)
    return asked


def test_an_upload_indexed_the_first_time_asks_no_collection_to_delete(
    index: Index, redis_db: Redis, deletions: list[str]
) -> None:
    """An upload is indexed once, when its analysis ends: deleting its vectors first cost the index server a
    request per collection of its workspace, growing with the collections, that found nothing."""
    rng = np.random.default_rng(3)
    index.replace(WORKSPACE, "u1", [*entries("u1", rng.normal(size=(3, 8)), TEXT), *entries("u1", np.eye(8)[:2])])
    index.replace(WORKSPACE, "u2", entries("u2", rng.normal(size=(2, 8)), TEXT))
    assert deletions == []
    index.replace(WORKSPACE, "u1", entries("u1", rng.normal(size=(1, 8)), TEXT))  # analysed again: fewer vectors
    assert deletions == ["u1", "u1"], "indexed again, its old vectors go from both collections"
    assert (index.count(WORKSPACE, "u1"), index.count(WORKSPACE)) == (1, 3)
    redis_db.srem(keys.indexed(WORKSPACE, index.config.collection_prefix), "u2")  # a Redis that lost the write
    index.remove(WORKSPACE, "u2")
    assert deletions[2:] == ["u2", "u2"], "a deletion asks every collection, whatever the record says"
    assert index.count(WORKSPACE) == 1


def test_an_upload_whose_indexing_was_cut_off_keeps_no_stale_vector(
    index: Index, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write cut off after its first collection's vectors (a killed worker) leaves the upload listed among those
    with vectors, so its next indexing deletes them first."""
    rng = np.random.default_rng(4)
    index.replace(WORKSPACE, "u0", entries("u0", rng.normal(size=(1, 8)), TEXT))  # the workspace's set speaks
    written: list[int] = []

    def cut_off(original: Callable[..., Any], collection: Any, part: dict[str, Any]) -> Any:
        if written:
            raise KeyboardInterrupt("killed")
        written.append(len(part["ids"]))
        return original(collection, **part)

    around_collections(monkeypatch, "upsert", cut_off)
    with pytest.raises(KeyboardInterrupt):
        index.replace(WORKSPACE, "u1", [*entries("u1", rng.normal(size=(3, 8)), TEXT), *entries("u1", np.eye(8)[:2])])
    monkeypatch.undo()
    assert written == [3] and index.count(WORKSPACE, "u1") == 3, "cut off after the text vectors"
    index.replace(WORKSPACE, "u1", entries("u1", rng.normal(size=(1, 8)), TEXT))
    assert index.count(WORKSPACE, "u1") == 1


def test_a_workspace_indexed_by_an_older_version_deletes_first_as_before(
    index: Index, redis_db: Redis, deletions: list[str]
) -> None:
    """Uploads indexed before the record of indexed uploads are in none: their workspace deletes first for every
    upload, so none keeps a vector its new analysis no longer has; once dropped, it starts a record."""
    rows = np.eye(4, dtype=np.float32)
    index.replace(WORKSPACE, "u1", entries("u1", rows))
    redis_db.delete(keys.indexed(WORKSPACE, index.config.collection_prefix))  # as an older version left it
    index.replace(WORKSPACE, "u1", entries("u1", rows[:1]))
    index.replace(WORKSPACE, "u2", entries("u2", rows))
    assert deletions == ["u1", "u2"] and index.count(WORKSPACE, "u1") == 1
    index.drop_workspace(WORKSPACE)
    index.replace(WORKSPACE, "u3", entries("u3", rows))
    assert deletions == ["u1", "u2"], "a workspace without collections has no vectors to delete"


def test_collections_from_before_workspaces_move_into_the_legacy_one(index: Index) -> None:
    prefix = index.config.collection_prefix
    with index.writing() as chroma:
        old = chroma.create(f"{prefix}-{IMAGES}-m", SPACES[IMAGES], {"kind": IMAGES, "model": "m"})
        old.upsert(ids=["x"], embeddings=np.ones((1, 4), dtype=np.float32), metadatas=[{"upload_id": "u1"}])
    # An upload of the legacy workspace indexed before the move made it a record of its uploads with vectors.
    index.replace(LEGACY_WORKSPACE, "u2", [Entry("y", IMAGES, "m2", [0.0, 0.0, 0.0, 1.0], {})])
    assert upgrade.to_workspaces(index).collections == 1
    assert [hit.id for hit in index.nearest(LEGACY_WORKSPACE, IMAGES, "m", [1.0] * 4, 1)] == ["x"]
    index.replace(LEGACY_WORKSPACE, "u1", [Entry("x2", IMAGES, "m", [1.0] * 4, {})])  # u1 analysed again
    assert [hit.id for hit in index.get(LEGACY_WORKSPACE, IMAGES, "m", {"upload_id": "u1"})] == ["x2"], \
        "the moved vectors of u1 went: the move started the record again"


def test_an_upload_with_thousands_of_vectors_is_indexed_whole(index_server: str, redis_db: Redis) -> None:
    # 5,000 CLIP-sized vectors go in one write (the server takes 5,461): 51 MB as decimal numbers, past the
    # server's 40 MB a request, 14 MB packed as Chroma's own client sends them.
    index = on_server(index_server, redis_db)
    rows = np.random.default_rng(4).normal(size=(5000, 512)).astype(np.float32)
    assert index.replace(WORKSPACE, "long-video", entries("long-video", rows)) == 5000
    assert index.count(WORKSPACE, "long-video") == 5000
    assert index.nearest(WORKSPACE, IMAGES, "m", rows[4321].tolist(), 1)[0].id == "long-video-4321"
    index.close()


def test_a_collection_made_over_http_is_the_one_chromas_own_client_makes(index_server: str, redis_db: Redis) -> None:
    ours = on_server(index_server, redis_db)
    prefix = ours.config.collection_prefix
    ours.replace(WORKSPACE, "u1", entries("u1", np.eye(4, dtype=np.float32)))
    ours.close()
    [name] = [listed["name"] for listed in httpx.get(
        index_server + COLLECTIONS, headers={"Authorization": f"Bearer {INDEX_TOKEN}"}).json()
        if listed["name"].startswith(prefix)]
    client = chromadb.HttpClient(host="127.0.0.1", port=int(index_server.rsplit(":", 1)[1]),
                                 headers={"Authorization": f"Bearer {INDEX_TOKEN}"})
    theirs = client.get_or_create_collection(
        f"{prefix}-theirs", embedding_function=OwnEmbeddings(),  # type: ignore[arg-type]
        configuration={"hnsw": {"space": SPACES[IMAGES]}},  # type: ignore[arg-type,typeddict-item]
        metadata={"kind": IMAGES, "model": "m", "workspace": WORKSPACE})
    read = {found["name"]: found for found in httpx.get(
        index_server + COLLECTIONS, headers={"Authorization": f"Bearer {INDEX_TOKEN}"}).json()}
    assert read[name]["configuration_json"] == read[theirs.name]["configuration_json"]
    assert read[name]["metadata"] == read[theirs.name]["metadata"]


@pytest.mark.parametrize(("service", "not_loaded"), [
    ("scheduler.worker", {"chromadb", "flask", "numpy"}), ("ui.app", {"chromadb"}),
    ("scheduler.intake", {"chromadb", "numpy"}),
])
def test_services_that_talk_to_the_index_server_load_no_chroma_client(service: str, not_loaded: set[str]) -> None:
    # Chroma's client was 11 MiB in each worker and web app, Flask 6 in each worker, numpy 14 (issue 17).
    loaded = subprocess.run(
        [sys.executable, "-c", f"import json, sys, {service}; print(json.dumps(sorted(sys.modules)))"],
        cwd=PROJECT, capture_output=True, text=True, timeout=120, check=True)
    assert not {name.split(".")[0] for name in json.loads(loaded.stdout)} & not_loaded
