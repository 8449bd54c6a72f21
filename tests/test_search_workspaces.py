"""Search and people per workspace: nothing one workspace holds is seen, found or changed from another,
and an installation from before workspaces finds all of its own again in the legacy workspace."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from scheduler import keys
from scheduler.analysis import readable
from search import jobs, upgrade
from search.contents import contents_of
from search.index import SPACES, TEXT
from search.people import face_id
from search.words import words_of
from storage.layout import LEGACY_WORKSPACE, result_key
from tests.search_data import SearchEnv, faces_result

pytest_plugins = ["tests.search_support"]

CLIP = "tiny-clip"
A, B = "ws-a", "ws-b"
Clients = Callable[[str], FlaskClient]


def _ocr(*lines: str) -> dict[str, Any]:
    box = [[0, 0], [1, 0], [1, 1], [0, 1]]
    return {"lines": [{"text": text, "box": box, "confidence": 0.99} for text in lines]}


def _speech(text: str) -> dict[str, Any]:
    return {"language": "en", "segments": [{"start": 0.5, "end": 3.0, "text": text}]}


def _clip(vector: np.ndarray) -> dict[str, Any]:
    return {"embedding": (vector / np.linalg.norm(vector)).tolist(), "embedding_model": CLIP, "labels": []}


def _ids(reply: Any) -> set[str]:
    assert reply.status_code == 200, reply.get_json()
    return {hit["upload_id"] for hit in reply.get_json()["hits"]}


def _words(client: FlaskClient, query: str, mode: str) -> set[str]:
    return _ids(client.get("/api/v1/search", query_string={"q": query, "mode": mode}))


def _people(client: FlaskClient) -> dict[str, dict[str, Any]]:
    return {person["id"]: person for person in client.get("/api/v1/people").get_json()["people"]}


def _search_keys(env: SearchEnv, needle: str) -> set[str]:
    return {keys.text(key) for key in env.records.redis.scan_iter(match=f"*{needle}*", count=1000)}


def _collections(env: SearchEnv) -> list[tuple[str, dict[str, Any]]]:
    with env.index.reading() as client:
        return [(found.name, dict(found.metadata or {})) for found in client.listing()]


def test_the_same_face_in_two_workspaces_is_a_person_in_each_that_sees_only_its_own(
    search_env: SearchEnv, client_of: Clients
) -> None:
    a, b = search_env.within(A), search_env.within(B)
    in_a = {name: a.add(f"{name}.jpg", "image", {"faces": faces_result(f"{name}.jpg")})
            for name in ("obama", "obama2", "biden")}
    in_b = b.add("obama.jpg", "image", {"faces": faces_result("obama.jpg")})
    obama_a, biden_a, obama_b = a.person_of(in_a["obama"]), a.person_of(in_a["biden"]), b.person_of(in_b)
    assert a.person_of(in_a["obama2"]) == obama_a, "the same man twice in one workspace is one person"

    listed_b = b.people.all()
    assert [(p["id"], p["faces"], p["uploads"]) for p in listed_b] == [(obama_b, 1, 1)], \
        "the face uploaded to both joins no person of the other workspace"
    assert {p["id"] for p in a.people.all()} == {obama_a, biden_a}
    assert {a.people.face(f)["upload_id"] for f in a.people.members(obama_a)} == {in_a["obama"], in_a["obama2"]}
    assert b.people.members(obama_b) == [face_id(in_b, "image", 0)]

    client_a, client_b = client_of(A), client_of(B)
    shown = client_a.get(f"/api/v1/people/{obama_a}/uploads").get_json()
    assert {entry["upload_id"] for entry in shown["uploads"]} == {in_a["obama"], in_a["obama2"]}
    shown = client_b.get(f"/api/v1/people/{obama_b}/uploads").get_json()
    assert [entry["upload_id"] for entry in shown["uploads"]] == [in_b]
    members = client_b.get(f"/api/v1/people/{obama_b}").get_json()["members"]
    assert [face["upload_id"] for face in members] == [in_b]
    assert set(_people(client_b)) == {obama_b}


def test_another_workspaces_person_or_face_is_not_found_and_stays_unchanged(
    search_env: SearchEnv, client_of: Clients
) -> None:
    a, b = search_env.within(A), search_env.within(B)
    in_a = {name: a.add(f"{name}.jpg", "image", {"faces": faces_result(f"{name}.jpg")}) for name in ("obama", "biden")}
    in_b = b.add("obama.jpg", "image", {"faces": faces_result("obama.jpg")})
    obama_a, biden_a, obama_b = a.person_of(in_a["obama"]), a.person_of(in_a["biden"]), b.person_of(in_b)
    client_a, client_b = client_of(A), client_of(B)
    assert client_a.patch(f"/api/v1/people/{obama_a}", json={"name": "Barack Obama"}).status_code == 200
    only_in_a = next(p for p in (obama_a, biden_a) if p != obama_b)
    a_face = face_id(in_a["obama"], "image", 0)

    for reply in (
        client_b.get(f"/api/v1/people/{only_in_a}"),
        client_b.get(f"/api/v1/people/{only_in_a}/uploads"),
        client_b.patch(f"/api/v1/people/{only_in_a}", json={"name": "Mallory"}),
        client_b.post("/api/v1/people/merge", json={"into": obama_b, "people": [only_in_a]}),
        client_b.post(f"/api/v1/faces/{a_face}/split", json={}),
        client_b.post(f"/api/v1/faces/{face_id(in_b, 'image', 0)}/split", json={"person": only_in_a}),
        client_b.post("/api/v1/search/image", json={"upload_id": in_a["obama"]}),
    ):
        assert reply.status_code == 404, reply.get_json()
    # B's person may carry the same id as one of A's: naming it names B's alone.
    assert client_b.patch(f"/api/v1/people/{obama_b}", json={"name": "Someone in B"}).status_code == 200

    after = _people(client_a)
    assert set(after) == {obama_a, biden_a}
    assert after[obama_a]["name"] == "Barack Obama" and after[obama_a]["faces"] == 1
    assert after[biden_a]["name"] is None and after[biden_a]["faces"] == 1
    assert a.people.face(a_face)["person"] == obama_a
    assert _people(client_b)[obama_b]["name"] == "Someone in B"


def test_words_meaning_and_images_of_one_workspace_are_never_found_from_another(
    search_env: SearchEnv, client_of: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ui import search as search_api

    a, b = search_env.within(A), search_env.within(B)
    rng = np.random.default_rng(5)
    beach = rng.normal(size=64)
    sign = a.add("sign.jpg", "image", {"ocr": _ocr("Welcome to ZANZIBAR harbour"), "clip": _clip(beach)})
    talk = a.add("talk.ogg", "audio", {"transcribe": _speech("The weather is mild and the sea is calm.")})
    # B has text and pictures of its own, so its searches have collections and words to look in.
    city = b.add("city.jpg", "image", {"ocr": _ocr("Chapter two"), "clip": _clip(rng.normal(size=64))})
    client_a, client_b = client_of(A), client_of(B)

    assert _words(client_a, "zanzibar", "exact") == {sign}
    assert _words(client_b, "zanzibar", "exact") == set()
    assert not search_env.index.words(B).holders("zanzibar"), "B's word index holds B's words alone"
    assert _words(client_a, "zanzi", "exact") == {sign}, "part of a word: its vocabulary"
    assert _words(client_b, "zanzi", "exact") == set()
    assert talk in _words(client_a, "climate and ocean conditions", "semantic")
    assert _words(client_b, "climate and ocean conditions", "semantic") <= {city}

    unit = (beach / np.linalg.norm(beach)).tolist()
    monkeypatch.setattr(search_api, "text_embedding", lambda text: (unit, CLIP))
    described = {"q": "a beach", "kind": "image"}
    assert sign in _ids(client_a.get("/api/v1/search", query_string=described))
    assert _ids(client_b.get("/api/v1/search", query_string=described)) == {city}
    assert _ids(client_b.post("/api/v1/search/image", json={"upload_id": city})) == set()
    assert client_b.post("/api/v1/search/image", json={"upload_id": sign}).status_code == 404
    assert search_env.index.count(B) == 2 and search_env.index.count(A) == 3


def test_deleting_an_upload_forgets_it_in_its_own_workspace_only(
    search_env: SearchEnv, api_app: Flask
) -> None:
    a, b = search_env.within(A), search_env.within(B)
    in_a = a.add("obama.jpg", "image", {"faces": faces_result("obama.jpg"), "ocr": _ocr("Harbour")})
    in_b = b.add("obama.jpg", "image", {"faces": faces_result("obama.jpg"), "ocr": _ocr("Harbour")})
    with api_app.app_context():
        api_app.extensions["medialens.pipeline"].delete(in_a, A)
    assert a.people.all() == [] and search_env.index.count(A) == 0
    assert not a.index.words(A).holders("harbour")
    assert [p["faces"] for p in b.people.all()] == [1] and search_env.index.count(B, in_b) == 2
    assert b.index.words(B).holders("harbour") == set(b.index.words(B).chunks_of(in_b))


def test_erasing_a_workspace_leaves_nothing_of_its_search_and_the_other_whole(
    search_env: SearchEnv, client_of: Clients
) -> None:
    a, b = search_env.within(A), search_env.within(B)
    rng = np.random.default_rng(9)
    results = {"faces": faces_result("obama.jpg"), "ocr": _ocr("ZANZIBAR harbour"), "clip": _clip(rng.normal(size=64))}
    in_a = [a.stored("obama.jpg", "image", results),
            a.stored("biden.jpg", "image", {"faces": faces_result("biden.jpg")})]
    in_b = b.add("obama.jpg", "image", results)
    # What the uploads themselves keep of A (their records and listings) is not search's to erase.
    uploads_only = _search_keys(search_env, A) | {k for u in in_a for k in _search_keys(search_env, u)}
    for upload in in_a:
        jobs.index_stored(upload, a.records, a.store, a.index)
    a.people.split(face_id(in_a[0], "image", 0))  # a correction leaves a cannot-link and a counter
    assert _search_keys(search_env, A) - uploads_only, "A's search data lies under A's keys"
    assert any(meta.get("workspace") == A for _, meta in _collections(search_env))
    client_b = client_of(B)
    before = (_people(client_b), _words(client_b, "zanzibar", "exact"), search_env.index.count(B))

    assert search_env.index.drop_workspace(A) == 3  # images, faces, text
    assert a.people.erase() > 0

    left = (_search_keys(search_env, A) | {k for u in in_a for k in _search_keys(search_env, u)}) - uploads_only
    assert left == set()
    assert [name for name, meta in _collections(search_env) if A in name or meta.get("workspace") == A] == []
    assert a.people.all() == [] and search_env.index.count(A) == 0
    assert (_people(client_b), _words(client_b, "zanzibar", "exact"), search_env.index.count(B)) == before
    assert before[1] == {in_b} and [p["faces"] for p in before[0].values()] == [1]
    assert b.index.words(B).holders("zanzibar") == set(b.index.words(B).chunks_of(in_b)) != set()
    assert _words(client_of(A), "zanzibar", "exact") == set()


# -- an installation from before workspaces --------------------------------------------------------

def _old_collection(prefix: str, kind: str, model: str) -> str:
    """A collection's name before workspaces (search/index.py then)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-._") or "default"
    return f"{prefix}-{kind}-{slug}"[:500]


def _index_as_before_workspaces(env: SearchEnv, upload: str, persons: dict[int, str]) -> None:
    """Writes what indexing an upload wrote before workspaces: vectors in collections named by kind and
    model alone, the word index under ``ml:words:<prefix>``, faces and persons under ``ml:``
    (scheduler/keys.py of then); face number n of the upload goes to person ``persons[n]``."""
    redis, prefix = env.records.redis, env.index.config.collection_prefix
    record = env.records.get(upload)
    contents = contents_of(readable(env.store.get_json(env.store.settings.results_bucket, result_key(record.key))))
    contents.upload_id = upload
    entries, faces = jobs.entries_for(contents)
    with env.index.writing() as client:
        for entry in entries:
            collection = client.create(_old_collection(prefix, entry.kind, entry.model), SPACES[entry.kind],
                                       {"kind": entry.kind, "model": entry.model})
            collection.upsert(ids=[entry.id], embeddings=np.asarray([entry.embedding], dtype=np.float32),
                              metadatas=[{**entry.metadata, "upload_id": upload}],
                              documents=[entry.document or ""] if entry.kind == TEXT else None)
    for entry in entries:
        if entry.kind == TEXT:
            for word in words_of(entry.document or ""):
                redis.sadd(f"ml:words:{prefix}:word:{word}", entry.id)
            redis.hset(f"ml:words:{prefix}:upload:{upload}", entry.id, " ".join(words_of(entry.document or "")))
    for number, face in enumerate(faces):
        person = persons[number]
        redis.hset(f"ml:face:{face.id}", mapping=face.to_redis(person))
        redis.sadd(f"ml:person:{person}:faces", face.id)
        redis.sadd(f"ml:faces:upload:{upload}", face.id)
        if not redis.exists(f"ml:person:{person}"):
            redis.hset(f"ml:person:{person}", mapping={"id": person, "name": "", "model": face.model,
                                                        "created_at": "1700000000.0"})
            redis.zadd("ml:people", {person: 1700000000.0})


@pytest.fixture
def old_install(search_env: SearchEnv) -> dict[str, str]:
    """Uploads, vectors, words and people as a version before workspaces left them: p2 was merged into
    p1 and named, so the counter stands at 2 and p2 is an alias."""
    assert search_env.workspace == LEGACY_WORKSPACE
    rng = np.random.default_rng(13)
    beach = rng.normal(size=64)
    made = {
        "sign": search_env.stored("sign.jpg", "image", {"ocr": _ocr("Welcome to ZANZIBAR harbour"),
                                                       "faces": faces_result("obama.jpg"), "clip": _clip(beach)}),
        "copy": search_env.stored("copy.jpg", "image", {"faces": faces_result("obama2.jpg"),
                                                       "clip": _clip(beach + rng.normal(scale=0.05, size=64))}),
        "talk": search_env.stored("talk.ogg", "audio",
                                  {"transcribe": _speech("The weather is mild and the sea is calm.")}),
    }
    redis = search_env.records.redis
    _index_as_before_workspaces(search_env, made["sign"], {0: "p1"})
    _index_as_before_workspaces(search_env, made["copy"], {0: "p1"})
    redis.hset("ml:person:p1", "name", "Barack Obama")
    redis.hset("ml:people:aliases", "p2", "p1")
    redis.set("ml:people:next", 2)
    _index_as_before_workspaces(search_env, made["talk"], {})
    # Nothing of it is found where workspaces look: the upgrade has work to do.
    assert search_env.people.all() == [] and search_env.index.count(LEGACY_WORKSPACE) == 0
    return made


def test_an_installation_from_before_workspaces_finds_all_it_had_in_the_legacy_workspace(
    old_install: dict[str, str], search_env: SearchEnv, client_of: Clients
) -> None:
    """The app's start (``client_of`` makes the app) moves it; nothing is embedded or grouped again."""
    client = client_of(LEGACY_WORKSPACE)
    sign, copy, talk = old_install["sign"], old_install["copy"], old_install["talk"]
    assert _words(client, "zanzibar", "exact") == {sign}
    assert _words(client, "zanzi", "exact") == {sign}
    assert talk in _words(client, "climate and ocean conditions", "semantic")
    hits = client.post("/api/v1/search/image", json={"upload_id": sign}).get_json()["hits"]
    assert [(hit["upload_id"], hit["near_duplicate"]) for hit in hits] == [(copy, True)]

    listed = _people(client)
    assert [(p["id"], p["name"], p["faces"], p["uploads"]) for p in listed.values()] == [("p1", "Barack Obama", 2, 2)]
    assert client.get("/api/v1/people/p2").get_json()["id"] == "p1", "a merged id still leads to its person"
    shown = client.get("/api/v1/people/p1/uploads").get_json()["uploads"]
    assert {entry["upload_id"] for entry in shown} == {sign, copy}
    # New faces are matched against the moved ones, and new persons do not take an old id.
    again = search_env.add("obama3.jpg", "image", {"faces": faces_result("obama3.jpg")})
    biden = search_env.add("biden.jpg", "image", {"faces": faces_result("biden.jpg")})
    assert search_env.person_of(again) == "p1" and search_env.person_of(biden) == "p3"

    redis = search_env.records.redis
    old = [keys.text(k) for k in redis.scan_iter(match="ml:*", count=1000)
           if keys.text(k).startswith(("ml:people", "ml:person:", "ml:face:", "ml:faces:", "ml:words:"))]
    assert old == []
    assert [name for name, meta in _collections(search_env) if meta.get("workspace") != LEGACY_WORKSPACE] == []
    assert upgrade.to_workspaces(search_env.index) == upgrade.Upgraded(), "a second run finds nothing to move"
    assert _words(client_of(B), "zanzibar", "exact") == set() and _people(client_of(B)) == {}


def test_the_upgrade_is_idempotent_when_run_again_before_its_marker(
    old_install: dict[str, str], search_env: SearchEnv
) -> None:
    index = search_env.index
    first = upgrade.to_workspaces(index)
    assert (first.collections, first.left) == (3, 0) and first.keys > 0
    search_env.records.redis.delete(keys.SEARCH_LAYOUT)  # as if a crash came before the marker was set
    assert upgrade.to_workspaces(index) == upgrade.Upgraded()
    assert [p["faces"] for p in search_env.people.all()] == [2]
    assert index.count(LEGACY_WORKSPACE) == 6  # the sign's text, face and image, the copy's face and image, the talk
