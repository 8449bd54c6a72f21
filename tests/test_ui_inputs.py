"""Input the API cannot use is answered with a 400 that says what to send, never with a 500."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from tests.search_data import SearchEnv

pytest_plugins = ["tests.search_support"]

JSON_ROUTES = [
    ("POST", "/api/v1/uploads"),
    ("POST", "/api/v1/search/image"),
    ("PATCH", "/api/v1/people/p1"),
    ("POST", "/api/v1/people/merge"),
    ("POST", "/api/v1/faces/f1/split"),
    ("POST", "/api/v1/uploads/reprocess"),
]


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
@pytest.mark.parametrize("body", [[1, 2], "text", 3, None, True])
def test_a_json_body_that_is_no_object_is_refused(
    api_client: FlaskClient, method: str, path: str, body: object
) -> None:
    reply = api_client.open(path, method=method, json=body)
    if body is None:  # JSON null: no body to read, so the route says what it misses (or finds no face)
        assert reply.status_code in (400, 404), reply.get_data(as_text=True)
        return
    assert reply.status_code == 400, reply.get_data(as_text=True)
    assert "JSON object" in reply.get_json()["error"]


@pytest.mark.parametrize("path", [
    "/api/v1/uploads?limit=abc", "/api/v1/uploads?offset=1.5", "/api/v1/search?q=harbour&limit=abc",
    "/api/v1/search?q=harbour&kind=image&limit=x",
])
def test_a_number_that_is_no_whole_number_is_refused(api_client: FlaskClient, path: str) -> None:
    reply = api_client.get(path)
    assert reply.status_code == 400
    assert "whole number" in reply.get_json()["error"]


def test_an_overlong_search_is_refused_before_it_costs_anything(api_client: FlaskClient) -> None:
    reply = api_client.get("/api/v1/search", query_string={"q": "zanzi" * 50_000})
    assert reply.status_code == 400
    assert "up to 500" in reply.get_json()["error"]


def test_a_partial_word_search_reads_a_bounded_number_of_chunks_and_says_so(
    search_env: SearchEnv, api_client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ocr = {"lines": [{"text": "Welcome to ZANZIBAR", "box": [[0, 0], [1, 0], [1, 1], [0, 1]], "confidence": 1.0}]}
    for number in range(3):
        search_env.add(f"sign{number}.jpg", "image", {"ocr": ocr})
    whole = api_client.get("/api/v1/search", query_string={"q": "zanzi", "mode": "exact"}).get_json()
    assert len(whole["hits"]) == 3 and "note" not in whole
    monkeypatch.setattr(search_env.index.config, "scan_max_chunks", 1)
    bounded = api_client.get("/api/v1/search", query_string={"q": "zanzi", "mode": "exact"}).get_json()
    assert len(bounded["hits"]) == 1
    assert "first 1 text chunks" in bounded["note"]
