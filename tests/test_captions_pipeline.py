"""Captions and summaries through the whole stack: planned, stored, shown on the result page, found by search."""
# ruff: noqa: F811 - the fixtures imported from tests.ui_support come back as test parameters

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
from flask.testing import FlaskClient

from bench.sample_media import Scene, Speech, make_video
from tests.conftest import jpeg
from tests.ui_support import browser_client, client, sign_in, ui_app, upload_bytes  # noqa: F401

VIEW = re.compile(r'<script id="view" type="application/json">(.*?)</script>', re.S)


def text_hits(api: httpx.Client, query: str, upload_id: str) -> list[dict[str, Any]]:
    """The text hits of one upload for ``query``; indexing runs just after the upload is done."""
    hits: list[dict[str, Any]] = []
    for _ in range(300):
        reply = api.get("/search", params={"q": query, "mode": "exact", "limit": 50})
        if reply.status_code == 200:
            hits = [hit for hit in reply.json()["hits"] if hit.get("upload_id") == upload_id]
            if hits:
                return hits
        time.sleep(0.1)
    return hits


def test_a_captioned_picture_is_found_by_a_word_of_its_caption(
    browser_client: tuple[FlaskClient, str], api: httpx.Client
) -> None:
    web, _ = browser_client
    done = upload_bytes(api, "beach.jpg", jpeg((400, 300)), "image/jpeg")
    assert done["state"] == "done", done["reason"]
    assert done["steps"]["caption"]["state"] == "done"
    caption = api.get(f"/uploads/{done['id']}").json()["results"]["caption"]
    assert caption["engine"]["engine"] == "transformers-blip" and caption["caption"].endswith(".")
    word = max(re.findall(r"\w+", caption["caption"]), key=len)
    hits = text_hits(api, word, done["id"])
    assert any(hit.get("source") == "caption" for hit in hits), hits
    page = web.get(f"/uploads/{done['id']}").get_data(as_text=True)
    assert 'id="captions"' in page and caption["caption"] in page


def test_a_video_gets_a_summary_that_the_result_page_shows(
    browser_client: tuple[FlaskClient, str], api: httpx.Client
) -> None:
    web, _ = browser_client
    film = make_video([Scene(0.0, "APPLE", (30, 60, 160)), Scene(4.0, "BANANA", (200, 50, 40))], 8.0,
                      [Speech(0.4, "fox")], noise=3.0)
    done = upload_bytes(api, "film.mp4", film, "video/mp4")
    assert done["state"] == "done", done["reason"]
    steps = done["steps"]
    assert steps["summarize"]["state"] == "done"
    assert steps["summarize"]["started_at"] >= max(
        step["finished_at"] for name, step in steps.items() if name != "summarize"
    ), "the summary is written once every other step has settled"
    results = api.get(f"/uploads/{done['id']}").json()["results"]
    summary = results["summarize"]
    assert summary["title"] and summary["summary"] and summary["chapters"] == []
    assert summary["language"] == results["transcribe"]["language"] == "en"
    assert {"caption"} <= set(results["keyframes"]["0"])
    page = web.get(f"/uploads/{done['id']}").get_data(as_text=True)
    assert 'id="summary"' in page and summary["summary"] in page
    view = json.loads(VIEW.search(page).group(1))  # type: ignore[union-attr]
    assert view["summary"]["title"] == summary["title"]
    assert [item["time"] for item in view["captions"]] == [
        frame["time"] for frame in results["extract"]["keyframes"]
    ], "each keyframe's caption is shown at its time"
