"""Search: words in OCR text and speech, similar images, and deleting an upload with all it left behind."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask.testing import FlaskClient
from redis import Redis

from search import jobs
from search.index import IMAGES, Entry, Index, IndexSettings
from search.words import words_of
from storage.layout import artefact_prefix, result_key
from tests.search_data import SearchEnv, faces_result
from tests.waiting import wait_until

pytest_plugins = ["tests.search_support"]

CLIP = "tiny-clip"


def _ocr(*lines: str) -> dict[str, Any]:
    box = [[0, 0], [1, 0], [1, 1], [0, 1]]
    return {"lines": [{"text": text, "box": box, "confidence": 0.99} for text in lines]}


def _speech(*segments: tuple[float, float, str]) -> dict[str, Any]:
    return {"language": "en", "segments": [{"start": s, "end": e, "text": t} for s, e, t in segments]}


def _clip(vector: np.ndarray) -> dict[str, Any]:
    unit = vector / np.linalg.norm(vector)
    return {"embedding": unit.tolist(), "embedding_model": CLIP, "labels": []}


@pytest.fixture
def library(search_env: SearchEnv) -> dict[str, str]:
    """A photo of a sign, a talk (audio), a video with words on screen, and unrelated media."""
    return {
        "sign": search_env.add("sign.jpg", "image", {"ocr": _ocr("Welcome to", "ZANZIBAR harbour"),
                                                     "faces": faces_result("obama.jpg")}),
        "talk": search_env.add("talk.ogg", "audio", {"transcribe": _speech(
            (0.0, 4.2, "Good morning everyone."),
            (4.2, 9.0, "Today we look at the quarterly figures of Quetzalcoatl Industries."),
            (9.0, 12.5, "Thank you for listening."),
        )}),
        "film": search_env.add("film.mp4", "video", {
            "extract": {"keyframes": [{"index": 0, "time": 0.0}, {"index": 1, "time": 5.0},
                                      {"index": 2, "time": 10.0}], "duration": 14.0},
            "keyframes": {"0": {"ocr": _ocr("Chapter one")}, "1": {"ocr": _ocr("Marmalade factory")}},
            "transcribe": _speech((0.5, 3.0, "The weather is mild and the sea is calm.")),
        }),
        "other": search_env.add("other.jpg", "image", {"ocr": _ocr("Chapter two of the harbour story")}),
    }


def _hits(client: FlaskClient, query: str, mode: str = "") -> list[dict[str, Any]]:
    reply = client.get("/api/v1/search", query_string={"q": query, "mode": mode} if mode else {"q": query})
    assert reply.status_code == 200, reply.get_json()
    hits: list[dict[str, Any]] = reply.get_json()["hits"]
    return hits


def test_a_word_in_one_uploads_ocr_text_finds_exactly_that_upload(
    library: dict[str, str], api_client: FlaskClient
) -> None:
    hits = _hits(api_client, "zanzibar", "exact")
    assert [(hit["upload_id"], hit["source"]) for hit in hits] == [(library["sign"], "ocr")]
    assert "start" not in hits[0]  # a photo has no time
    on_screen = _hits(api_client, "marmalade", "exact")
    assert [hit["upload_id"] for hit in on_screen] == [library["film"]]
    assert (on_screen[0]["start"], on_screen[0]["end"]) == (5.0, 10.0)


def test_a_word_in_one_uploads_speech_finds_it_with_its_time(
    library: dict[str, str], api_client: FlaskClient
) -> None:
    hits = _hits(api_client, "Quetzalcoatl", "exact")
    assert [(hit["upload_id"], hit["source"]) for hit in hits] == [(library["talk"], "transcript")]
    assert (hits[0]["start"], hits[0]["end"]) == (4.2, 9.0)


def test_exact_words_keep_their_order_and_partial_words_still_match(
    library: dict[str, str], api_client: FlaskClient
) -> None:
    phrase = _hits(api_client, "quarterly figures of QUETZALCOATL", "exact")
    assert [(hit["upload_id"], hit["start"], hit["end"]) for hit in phrase] == [(library["talk"], 4.2, 9.0)]
    assert _hits(api_client, "harbour zanzibar", "exact") == []  # both words are there, not in this order
    assert {hit["upload_id"] for hit in _hits(api_client, "harbour", "exact")} == {library["sign"], library["other"]}
    # Part of a word is in no chunk as a whole word: found through the vocabulary.
    assert [hit["upload_id"] for hit in _hits(api_client, "zanzi", "exact")] == [library["sign"]]
    assert [hit["upload_id"] for hit in _hits(api_client, "malade fact", "exact")] == [library["film"]]


def test_part_of_a_word_is_found_among_many_chunks_through_the_vocabulary(
    search_env: SearchEnv, api_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A partial word reads only the chunks holding a word that holds it: found, and completely, however
    many other chunks there are (a scan of one chunk, the bound here, would have found nothing)."""
    pages = {search_env.add(f"page{number}.jpg", "image", {"ocr": _ocr(f"Page {number} of the minutes")})
             for number in range(3)}
    sign = search_env.add("sign.jpg", "image", {"ocr": _ocr("Welcome to ZANZIBAR harbour")})
    hafen = search_env.add("hafen.jpg", "image", {"ocr": _ocr("Überseehafen Hamburg")})
    long = search_env.add("long.jpg", "image", {"ocr": _ocr(
        "IMG_20240514_zanzibar_harbour_sunset_panorama_final_export_v2_large.jpg")})  # a run of 67: no word
    monkeypatch.setattr(search_env.index.config, "scan_max_chunks", 2)
    reply = api_client.get("/api/v1/search", query_string={"q": "nzib", "mode": "exact"}).get_json()
    assert {hit["upload_id"] for hit in reply["hits"]} == {sign, long} and "note" not in reply
    assert [hit["upload_id"] for hit in _hits(api_client, "zanzibar harb", "exact")] == [sign]
    assert [hit["upload_id"] for hit in _hits(api_client, "übersee", "exact")] == [hafen]
    common = api_client.get("/api/v1/search", query_string={"q": "of the minu", "mode": "exact"}).get_json()
    assert len(common["hits"]) == 2 and {hit["upload_id"] for hit in common["hits"]} < pages
    assert "first 2 text chunks" in common["note"], "held by more chunks than the bound: the bounded scan"
    nowhere = api_client.get("/api/v1/search", query_string={"q": "xylop", "mode": "exact"}).get_json()
    assert nowhere["hits"] == [] and "note" not in nowhere, "in no word: nothing, and nothing left unread"


def test_a_word_index_from_before_the_vocabulary_scans_until_its_next_write(
    search_env: SearchEnv, api_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Until a write makes the vocabulary, a partial word takes the bounded scan; then every older word is in it."""
    for number in range(2):
        search_env.add(f"page{number}.jpg", "image", {"ocr": _ocr(f"Page {number} of the minutes")})
    sign = search_env.add("sign.jpg", "image", {"ocr": _ocr("Welcome to ZANZIBAR harbour")})
    words = search_env.index.words(search_env.workspace)
    search_env.index.redis.delete(words.vocabulary_key)  # as an index written before the vocabulary was kept
    monkeypatch.setattr(search_env.index.config, "scan_max_chunks", 1)
    scanned = api_client.get("/api/v1/search", query_string={"q": "zanzi", "mode": "exact"}).get_json()
    assert scanned["hits"] == [] and "first 1 text chunks" in scanned["note"]
    search_env.add("other.jpg", "image", {"ocr": _ocr("Chapter two")})
    found = api_client.get("/api/v1/search", query_string={"q": "zanzi", "mode": "exact"}).get_json()
    assert [hit["upload_id"] for hit in found["hits"]] == [sign] and "note" not in found


def test_reindexing_an_upload_replaces_its_words(search_env: SearchEnv, api_client: FlaskClient) -> None:
    sign = search_env.add("sign.jpg", "image", {"ocr": _ocr("Closed for winter")})
    record = search_env.records.get(sign)
    s = search_env.store
    document = s.get_json(s.settings.results_bucket, result_key(record.key))
    document["results"]["ocr"] = _ocr("Open all summer")
    s.put_json(s.settings.results_bucket, result_key(record.key), document)
    jobs.index_stored(sign, search_env.records, s, search_env.index)
    assert _hits(api_client, "winter", "exact") == []
    assert [hit["upload_id"] for hit in _hits(api_client, "summer", "exact")] == [sign]
    words = search_env.index.words(search_env.workspace)
    assert not words.holders("winter") and not words.holders("closed")
    assert words.holders("summer") == set(words.chunks_of(sign))


def test_meaning_finds_passages_without_the_words(library: dict[str, str], api_client: FlaskClient) -> None:
    hits = _hits(api_client, "climate and ocean conditions", "semantic")
    assert hits and hits[0]["upload_id"] == library["film"]
    assert hits[0]["match"] == "semantic" and hits[0]["start"] == 0.5


def test_similar_images_and_near_duplicates(search_env: SearchEnv, api_client: FlaskClient) -> None:
    rng = np.random.default_rng(7)
    base = rng.normal(size=64)
    first = search_env.add("beach.jpg", "image", {"clip": _clip(base)})
    copy = search_env.add("beach-copy.jpg", "image", {"clip": _clip(base + rng.normal(scale=0.05, size=64))})
    other = search_env.add("city.jpg", "image", {"clip": _clip(rng.normal(size=64))})
    video = search_env.add("clip.mp4", "video", {
        "extract": {"keyframes": [{"index": 0, "time": 0.0}, {"index": 1, "time": 7.5}], "duration": 9.0},
        "keyframes": {"1": {"clip": _clip(base + rng.normal(scale=0.5, size=64))}},
    })
    reply = api_client.post("/api/v1/search/image", json={"upload_id": first})
    assert reply.status_code == 200, reply.get_json()
    hits = reply.get_json()["hits"]
    assert [hit["upload_id"] for hit in hits] == [copy, video, other]
    assert [hit["near_duplicate"] for hit in hits] == [True, False, False]
    assert hits[1]["time"] == 7.5
    assert api_client.post("/api/v1/search/image", json={"upload_id": "nothing"}).status_code == 404


def test_text_to_image_uses_clips_text_encoder(
    search_env: SearchEnv, api_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ui import search as search_api

    rng = np.random.default_rng(3)
    wanted, unwanted = rng.normal(size=32), rng.normal(size=32)
    beach = search_env.add("beach.jpg", "image", {"clip": _clip(wanted)})
    search_env.add("city.jpg", "image", {"clip": _clip(unwanted)})
    unit = (wanted / np.linalg.norm(wanted)).tolist()
    monkeypatch.setattr(search_api, "text_embedding", lambda text: (unit, CLIP))
    reply = api_client.get("/api/v1/search", query_string={"q": "a beach", "kind": "image"})
    assert reply.status_code == 200
    assert reply.get_json()["hits"][0]["upload_id"] == beach


def test_deleting_an_upload_leaves_no_vector_object_or_face(
    library: dict[str, str], search_env: SearchEnv, api_client: FlaskClient
) -> None:
    sign = library["sign"]
    record = search_env.records.get(sign)
    person = search_env.person_of(sign)
    assert search_env.index.count(search_env.workspace, sign) == 2  # its face and its text
    words = search_env.index.words(search_env.workspace)
    chunks = set(words.chunks_of(sign))
    assert chunks and words.holders("zanzibar") == chunks
    reply = api_client.delete(f"/api/v1/uploads/{sign}")
    assert reply.status_code == 200, reply.get_json()
    s = search_env.store
    assert search_env.index.count(search_env.workspace, sign) == 0
    assert not list(s.keys(s.settings.artefacts_bucket, artefact_prefix(search_env.workspace, sign)))
    assert not s.exists(record.bucket, record.key)
    assert not s.exists(s.settings.results_bucket, result_key(record.key))
    assert not search_env.records.exists(sign)
    assert search_env.people.faces_of_upload(sign) == []
    assert api_client.get(f"/api/v1/people/{person}").status_code == 404
    assert not [key for key in search_env.records.redis.scan_iter() if sign.encode() in key]
    assert words.chunks_of(sign) == []
    assert not [word for word in words_of("Welcome to ZANZIBAR harbour") if words.holders(word) & chunks]
    assert words.holders("harbour") == set(words.chunks_of(library["other"]))
    assert _hits(api_client, "anzib", "exact") == [], "part of its word: gone with it"
    assert _hits(api_client, "zanzibar", "exact") == []
    assert api_client.delete(f"/api/v1/uploads/{sign}").status_code == 404
    assert search_env.index.count(search_env.workspace, library["talk"]) > 0  # the others stay


def test_a_video_stored_before_keyframes_nested_is_indexed_alike(
    search_env: SearchEnv, api_client: FlaskClient
) -> None:
    """The previous version stored keyframe results flat, under step names such as ``ocr@1``."""
    rng = np.random.default_rng(11)
    base = rng.normal(size=64)
    photo = search_env.add("harbour.jpg", "image", {"clip": _clip(base), "faces": faces_result("obama.jpg")})
    film = search_env.add("old.mp4", "video", {
        "extract": {"keyframes": [{"index": 0, "time": 0.0}, {"index": 1, "time": 6.0}], "duration": 10.0},
        "ocr@0": _ocr("Opening credits"),
        "ocr@1": _ocr("Lighthouse keeper"),
        "clip@1": _clip(base + rng.normal(scale=0.3, size=64)),
        "faces@1": faces_result("obama2.jpg"),
        "transcribe": _speech((1.0, 3.0, "Waves against the rocks.")),
    }, stored_format=None)
    on_screen = _hits(api_client, "lighthouse", "exact")
    assert [(hit["upload_id"], hit["start"], hit["end"]) for hit in on_screen] == [(film, 6.0, 10.0)]
    assert [(hit["upload_id"], hit["start"]) for hit in _hits(api_client, "waves", "exact")] == [(film, 1.0)]
    reply = api_client.post("/api/v1/search/image", json={"upload_id": photo})
    assert [(hit["upload_id"], hit["time"]) for hit in reply.get_json()["hits"]] == [(film, 6.0)]
    assert search_env.person_of(film, "kf1") == search_env.person_of(photo)
    times = api_client.get(f"/api/v1/people/{search_env.person_of(photo)}/uploads").get_json()["uploads"]
    assert {entry["upload_id"]: entry["times"] for entry in times} == {photo: [], film: [6.0]}


def test_a_caption_or_a_summary_finds_its_upload_by_words_and_by_meaning(
    search_env: SearchEnv, api_client: FlaskClient
) -> None:
    photo = search_env.add("beach.jpg", "image", {"caption": {"caption": "A dog running on a sandy beach.",
                                                              "tags": ["dog", "beach", "sand"]}})
    video = search_env.add("trip.mp4", "video", {
        "extract": {"keyframes": [{"index": 0, "time": 0.0}, {"index": 1, "time": 6.0}], "duration": 12.0},
        "keyframes": {"1": {"caption": {"caption": "A red tram in a narrow street."}}},
        "summarize": {"title": "Lisbon by tram", "summary": "A ride through the old town of Lisbon.",
                      "chapters": []},
    })
    (exact,) = _hits(api_client, "sandy beach", "exact")
    assert (exact["upload_id"], exact["source"], exact["match"]) == (photo, "caption", "exact")
    tram = [hit for hit in _hits(api_client, "red tram", "exact") if hit["upload_id"] == video]
    assert tram and tram[0]["source"] == "caption" and tram[0]["frame"] == "kf1" and tram[0]["start"] == 6.0
    summary = [hit for hit in _hits(api_client, "Lisbon", "exact") if hit["upload_id"] == video]
    assert summary and summary[0]["source"] == "summary"
    meant = _hits(api_client, "a puppy at the seaside", "semantic")
    assert meant and meant[0]["upload_id"] == photo, "a caption is found by its meaning, without CLIP"


def _open_under(path: Path) -> list[str]:
    """The files under ``path`` this process holds open."""
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith(str(path)):
            held.append(target)
    return held


def test_a_closed_index_lets_go_of_its_files_and_answers_alike_when_used_again(
    redis_db: Redis, tmp_path: Path
) -> None:
    """A process that goes on without an index (a test, the bench) gets its descriptors back: left open,
    a long run ran out of those select() can watch."""
    index = Index(redis_db, IndexSettings(path=tmp_path / "chroma", server_url=""))
    vectors = np.random.default_rng(3).normal(size=(6, 8))
    index.replace("ws", "u1", [Entry(f"v{n}", IMAGES, "test", vector.tolist(), {"upload_id": "u1"})
                               for n, vector in enumerate(vectors)])
    before = [hit.id for hit in index.nearest("ws", IMAGES, "test", vectors[2].tolist(), 3)]
    assert before[0] == "v2" and len(before) == 3
    assert _open_under(tmp_path), "the index holds its database open while in use"

    index.close()
    # Chroma's runtime drops the files it held on a thread of its own, a moment later.
    wait_until(lambda: not _open_under(tmp_path), 10, lambda: f"still open: {_open_under(tmp_path)}")

    assert [hit.id for hit in index.nearest("ws", IMAGES, "test", vectors[2].tolist(), 3)] == before
    index.close()
