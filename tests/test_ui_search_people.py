"""The search and people API as the search and people pages use it: thumbnails, face pictures, sign-in."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
from flask.testing import FlaskClient

from scheduler.uploads import Step, StepState
from storage.layout import artefact_key
from tests.conftest import make_account
from tests.search_data import SearchEnv, faces_result
from tests.ui_support import sign_in

pytest_plugins = ["tests.search_support"]

CLIP = "tiny-clip"
ROUTES = [
    ("GET", "/api/v1/search?q=harbour"),
    ("POST", "/api/v1/search/image"),
    ("GET", "/api/v1/people"),
    ("GET", "/api/v1/people/p1"),
    ("PATCH", "/api/v1/people/p1"),
    ("GET", "/api/v1/people/p1/uploads"),
    ("POST", "/api/v1/people/merge"),
    ("POST", "/api/v1/faces/f1/split"),
]
CHANGING = [(method, path) for method, path in ROUTES if method != "GET"]


def _clip(vector: np.ndarray) -> dict[str, Any]:
    return {"embedding": (vector / np.linalg.norm(vector)).tolist(), "embedding_model": CLIP, "labels": []}


def with_artefacts(env: SearchEnv, upload_id: str, step: str, *names: str) -> dict[str, bytes]:
    """Stores artefacts and records them on the step that made them, as the pipeline does."""
    made = {name: f"{upload_id} {name}".encode() for name in names}
    keys = {name: artefact_key(env.workspace, upload_id, name) for name in names}
    for name, data in made.items():
        env.store.put_bytes(env.store.settings.artefacts_bucket, keys[name], data)
    env.records.put_step(upload_id, Step(step, StepState.DONE, artefacts=keys))
    return made


def fetched(url: str | None) -> bytes:
    assert url, "no URL where one was expected"
    reply = httpx.get(url)
    assert reply.status_code == 200, reply.text
    return reply.content


@pytest.fixture
def stranger(api_client: FlaskClient) -> FlaskClient:
    """A client of the same app without a key or a session."""
    return api_client.application.test_client()


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_search_and_people_refuse_a_request_without_a_key(stranger: FlaskClient, method: str, path: str) -> None:
    reply = stranger.open(path, method=method, json={"people": ["p1", "p2"]})
    assert reply.status_code == 401
    assert "API key" in reply.get_json()["error"]
    wrong = stranger.open(path, method=method, json={}, headers={"Authorization": "Bearer ml_wrong"})
    assert wrong.status_code == 401


@pytest.mark.parametrize(("method", "path"), CHANGING)
def test_a_signed_in_page_needs_the_csrf_token_to_change_people(
    stranger: FlaskClient, search_env: SearchEnv, method: str, path: str
) -> None:
    token = sign_in(stranger, make_account(search_env.records.redis, search_env.workspace, "owner"))
    refused = stranger.open(path, method=method, json={"people": ["p1", "p2"]})
    assert refused.status_code == 403
    assert "X-CSRF-Token" in refused.get_json()["error"]
    allowed = stranger.open(path, method=method, json={"people": ["p1", "p2"]}, headers={"X-CSRF-Token": token})
    assert allowed.status_code not in (401, 403)


def test_image_hits_carry_a_thumbnail_or_the_keyframe_they_are(
    search_env: SearchEnv, api_client: FlaskClient
) -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(size=64)
    first = search_env.add("beach.jpg", "image", {"clip": _clip(base)})
    copy = search_env.add("beach-copy.jpg", "image", {"clip": _clip(base + rng.normal(scale=0.05, size=64))})
    video = search_env.add("clip.mp4", "video", {
        "extract": {"keyframes": [{"index": 0, "time": 0.0}, {"index": 1, "time": 7.5}], "duration": 9.0},
        "keyframes": {"1": {"clip": _clip(base + rng.normal(scale=0.5, size=64))}},
    })
    thumbnail = with_artefacts(search_env, copy, "thumbnail", "thumbnail.jpg")["thumbnail.jpg"]
    keyframe = with_artefacts(search_env, video, "extract", "keyframe_0.jpg", "keyframe_1.jpg")["keyframe_1.jpg"]
    reply = api_client.post("/api/v1/search/image", json={"upload_id": first})
    assert reply.status_code == 200, reply.get_json()
    hits = {hit["upload_id"]: hit for hit in reply.get_json()["hits"]}
    assert hits[copy]["near_duplicate"] is True
    assert fetched(hits[copy]["thumbnail"]) == thumbnail
    assert hits[video]["time"] == 7.5
    assert fetched(hits[video]["thumbnail"]) == keyframe


def test_word_hits_carry_a_thumbnail_and_audio_has_none(search_env: SearchEnv, api_client: FlaskClient) -> None:
    ocr = {"lines": [{"text": "ZANZIBAR harbour", "box": [[0, 0], [1, 0], [1, 1], [0, 1]], "confidence": 0.9}]}
    sign = search_env.add("sign.jpg", "image", {"ocr": ocr})
    talk = search_env.add("talk.ogg", "audio", {"transcribe": {"language": "en", "segments": [
        {"start": 2.0, "end": 4.0, "text": "We sailed into Zanzibar at dawn."}]}})
    thumbnail = with_artefacts(search_env, sign, "thumbnail", "thumbnail.jpg")["thumbnail.jpg"]
    reply = api_client.get("/api/v1/search", query_string={"q": "zanzibar", "mode": "exact"})
    assert reply.status_code == 200, reply.get_json()
    hits = {hit["upload_id"]: hit for hit in reply.get_json()["hits"]}
    assert fetched(hits[sign]["thumbnail"]) == thumbnail
    assert hits[talk]["thumbnail"] is None
    assert hits[talk]["start"] == 2.0


def test_a_person_shows_each_face_with_the_picture_it_is_in(
    search_env: SearchEnv, api_client: FlaskClient
) -> None:
    photo = search_env.add("obama.jpg", "image", {"faces": faces_result("obama.jpg")})
    other = search_env.add("obama2.jpg", "image", {"faces": faces_result("obama2.jpg")})
    film = search_env.add("film.mp4", "video", {
        "extract": {"keyframes": [{"index": 0, "time": 0.0}, {"index": 1, "time": 4.0}], "duration": 8.0},
        "keyframes": {"1": {"faces": faces_result("obama3.jpg")}},
    })
    keyframe = with_artefacts(search_env, film, "extract", "keyframe_0.jpg", "keyframe_1.jpg")["keyframe_1.jpg"]
    thumbnail = with_artefacts(search_env, photo, "thumbnail", "thumbnail.jpg")["thumbnail.jpg"]
    person = search_env.person_of(photo)
    assert search_env.person_of(other) == person == search_env.person_of(film, "kf1")

    reply = api_client.get(f"/api/v1/people/{person}")
    assert reply.status_code == 200, reply.get_json()
    shown = reply.get_json()
    assert shown["faces"] == 3
    members = {face["upload_id"]: face for face in shown["members"]}
    assert set(members) == {photo, other, film}
    assert members[photo]["id"] == f"{photo}:image:0"
    assert fetched(members[photo]["picture_url"]) == b"raw"  # the uploaded photo itself
    assert fetched(members[film]["picture_url"]) == keyframe
    assert members[film]["time"] == 4.0
    assert 0 < members[photo]["box"]["width"] < 1

    uploads = api_client.get(f"/api/v1/people/{person}/uploads").get_json()["uploads"]
    by_id = {entry["upload_id"]: entry for entry in uploads}
    assert fetched(by_id[photo]["thumbnail"]) == thumbnail
    assert by_id[film]["times"] == [4.0]
    assert api_client.get("/api/v1/people/nobody").status_code == 404
