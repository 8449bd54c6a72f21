"""Search relevance: exact matches apart from similar ones, no padding with unrelated passages, filters."""

from __future__ import annotations

import datetime
import time
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.search_data import SearchEnv, faces_result

pytest_plugins = ["tests.search_support"]

DAY = 86_400.0


def _ocr(*lines: str) -> dict[str, Any]:
    box = [[0, 0], [1, 0], [1, 1], [0, 1]]
    return {"lines": [{"text": text, "box": box, "confidence": 0.99} for text in lines]}


def _speech(*segments: tuple[float, float, str]) -> dict[str, Any]:
    return {"language": "en", "segments": [{"start": s, "end": e, "text": t} for s, e, t in segments]}


@pytest.fixture
def coast(search_env: SearchEnv) -> dict[str, str]:
    """Two lighthouse pictures, a talk about one, and a dozen unrelated uploads."""
    found = {
        "sign": search_env.add("sign.jpg", "image", {"ocr": _ocr("Lighthouse museum, open daily"),
                                                     "faces": faces_result("obama.jpg")}),
        "poster": search_env.add("poster.jpg", "image", {"ocr": _ocr("The old lighthouse at Cape Point")},
                                 created_at=time.time() - 10 * DAY),
        "talk": search_env.add("talk.ogg", "audio", {"transcribe": _speech(
            (0.0, 3.0, "Welcome back."), (3.0, 8.0, "The keeper climbed the lighthouse every night."))}),
        "beacon": search_env.add("beacon.mp4", "video", {"transcribe": _speech(
            (0.0, 4.0, "A beacon tower guiding ships along the coast"))}),
    }
    unrelated = ["Invoice total 45 EUR", "Happy birthday Anna", "Chapter one", "Marmalade factory",
                 "Quarterly figures of Quetzalcoatl Industries", "Parking for customers only",
                 "Menu of the day: soup and bread", "Exit", "Football results", "Train to Berlin delayed"]
    for number, line in enumerate(unrelated):
        search_env.add(f"other-{number}.jpg", "image", {"ocr": _ocr(line)})
    return found


def _search(client: FlaskClient, **params: str) -> list[dict[str, Any]]:
    reply = client.get("/api/v1/search", query_string=params)
    assert reply.status_code == 200, reply.get_json()
    hits: list[dict[str, Any]] = reply.get_json()["hits"]
    return hits


def test_exact_matches_come_apart_from_similar_ones_and_nothing_unrelated_pads_them(
    coast: dict[str, str], api_client: FlaskClient
) -> None:
    hits = _search(api_client, q="lighthouse")
    exact = {hit["upload_id"] for hit in hits if hit["match"] == "exact"}
    similar = {hit["upload_id"] for hit in hits if hit["match"] == "semantic"}
    assert exact == {coast["sign"], coast["poster"], coast["talk"]}
    # The passage about a beacon tower is about a lighthouse without the word; nothing else is.
    assert similar == {coast["beacon"]}
    assert [hit["match"] for hit in hits] == ["exact"] * 3 + ["semantic"]
    # Why each matched: where the words are, and the passage that is close in meaning.
    assert {hit["source"] for hit in hits if hit["match"] == "exact"} == {"ocr", "transcript"}
    assert "beacon" in hits[-1]["text"] and 0 < hits[-1]["score"] < 1


@pytest.mark.parametrize("nonsense", ["xqzvbn", "blorptang", "flurbish"])
def test_a_nonsense_word_finds_nothing(coast: dict[str, str], api_client: FlaskClient, nonsense: str) -> None:
    assert _search(api_client, q=nonsense) == []


def test_filters_by_media_type_person_and_date(
    coast: dict[str, str], search_env: SearchEnv, api_client: FlaskClient
) -> None:
    assert {hit["upload_id"] for hit in _search(api_client, q="lighthouse", media_type="audio")} == {coast["talk"]}
    assert {hit["upload_id"] for hit in _search(api_client, q="lighthouse", media_type="image")} == {
        coast["sign"], coast["poster"]}
    person = search_env.person_of(coast["sign"])
    assert {hit["upload_id"] for hit in _search(api_client, q="lighthouse", person=person)} == {coast["sign"]}
    assert api_client.get("/api/v1/search", query_string={"q": "lighthouse", "person": "p999"}).status_code == 404
    # The poster was uploaded ten days ago, the others today.
    today = datetime.datetime.now(datetime.UTC).date()
    recent = {hit["upload_id"] for hit in _search(api_client, q="lighthouse", since=str(today))}
    assert coast["poster"] not in recent and coast["sign"] in recent
    earlier = today - datetime.timedelta(days=5)
    old = {hit["upload_id"] for hit in _search(api_client, q="lighthouse", until=str(earlier))}
    assert old == {coast["poster"]}
