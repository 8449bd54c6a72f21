"""Duplicates without CLIP: the same file (sha256) and the same picture resized (perceptual hash), per workspace."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from PIL import Image

from functions.probe.content import describe
from search.clip import NOT_INSTALLED
from search.remote import FunctionNotInstalled
from tests.conftest import DATA
from tests.search_data import SearchEnv

pytest_plugins = ["tests.search_support"]


def _jpeg(name: str, scale: float = 1.0, quality: int = 90) -> bytes:
    picture = Image.open(DATA / "faces" / name).convert("RGB")
    if scale != 1.0:
        picture = picture.resize((int(picture.width * scale), int(picture.height * scale)))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _probed(env: SearchEnv, name: str, data: bytes) -> str:
    """An analysed image upload whose probe result is the real probe's for ``data`` (no CLIP result)."""
    return env.add(name, "image", {"probe": describe(data)})


@pytest.fixture
def no_clip(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clip function answers, but has no model installed."""
    from ui import search as search_api

    def missing(*args: Any, **kwargs: Any) -> Any:
        raise FunctionNotInstalled(NOT_INSTALLED)

    monkeypatch.setattr(search_api, "image_embedding", missing)


@pytest.fixture
def photos(search_env: SearchEnv) -> dict[str, str]:
    original = _jpeg("obama.jpg")
    return {
        "original": _probed(search_env, "obama.jpg", original),
        "same-file": _probed(search_env, "obama-again.jpg", original),
        "resized": _probed(search_env, "obama-small.jpg", _jpeg("obama.jpg", scale=0.4, quality=60)),
        "same-man": _probed(search_env, "obama2.jpg", _jpeg("obama2.jpg")),
        "other": _probed(search_env, "biden.jpg", _jpeg("biden.jpg")),
    }


def _copies(reply: Any) -> dict[str, str]:
    assert reply.status_code == 200, reply.get_json()
    return {copy["upload_id"]: copy["match"] for copy in reply.get_json()["duplicates"]}


def test_an_uploads_exact_and_resized_copies_are_found_without_clip(
    photos: dict[str, str], api_client: FlaskClient
) -> None:
    reply = api_client.post("/api/v1/search/image", json={"upload_id": photos["original"]})
    assert _copies(reply) == {photos["same-file"]: "exact", photos["resized"]: "near"}
    assert reply.get_json()["hits"] == [] and reply.get_json()["notice"] == NOT_INSTALLED
    assert api_client.post("/api/v1/search/image", json={"upload_id": "nothing"}).status_code == 404
    # A description finds no words; the reply says once why no picture could be looked for.
    described = api_client.get("/api/v1/search", query_string={"q": "a man in a dark suit"}).get_json()
    assert described["hits"] == [] and described["notice"] == NOT_INSTALLED
    # A German page is told in German, the fix (`make models`) unchanged.
    german = api_client.get("/api/v1/search", query_string={"q": "a man in a dark suit"},
                            headers={"Accept-Language": "de"}).get_json()["notice"]
    assert german.startswith("Um Bilder nach ihrem Inhalt zu finden") and "`make models`" in german, german


def test_a_picture_sent_finds_its_copies_without_clip(
    photos: dict[str, str], api_client: FlaskClient, no_clip: None
) -> None:
    sent = _jpeg("obama.jpg", scale=0.4, quality=60)  # the very bytes of the resized upload
    reply = api_client.post("/api/v1/search/image", data=sent, content_type="image/jpeg")
    assert _copies(reply) == {photos["resized"]: "exact", photos["original"]: "near", photos["same-file"]: "near"}
    notice = reply.get_json()["notice"]
    assert notice == NOT_INSTALLED and "make models" in notice and "/" not in notice.replace("/weights", "")
    refused = api_client.post("/api/v1/search/image", data=b"no picture at all", content_type="image/jpeg")
    assert refused.status_code == 415


def test_copies_never_cross_workspaces(
    photos: dict[str, str], search_env: SearchEnv, client_of: Callable[[str], FlaskClient], no_clip: None
) -> None:
    elsewhere = search_env.within("ws-elsewhere")
    theirs = _probed(elsewhere, "obama.jpg", _jpeg("obama.jpg"))
    mine = client_of(search_env.workspace)
    assert theirs not in _copies(mine.post("/api/v1/search/image", json={"upload_id": photos["original"]}))
    other = client_of("ws-elsewhere")
    assert _copies(other.post("/api/v1/search/image", data=_jpeg("obama.jpg"), content_type="image/jpeg")) == {
        theirs: "exact"}


def test_deleting_an_upload_forgets_its_fingerprint(photos: dict[str, str], search_env: SearchEnv,
                                                   api_client: FlaskClient) -> None:
    assert api_client.delete(f"/api/v1/uploads/{photos['same-file']}").status_code in (200, 202, 204)
    reply = api_client.post("/api/v1/search/image", json={"upload_id": photos["original"]})
    assert _copies(reply) == {photos["resized"]: "near"}


def test_the_result_view_lists_copies_and_says_once_that_clip_is_missing(
    photos: dict[str, str], search_env: SearchEnv, api_client: FlaskClient
) -> None:
    from scheduler.uploads import Step, StepState
    from tests.conftest import make_account
    from tests.ui_support import sign_in

    server_said = "CLIP model directory /srv/medialens/functions/clip/weights/clip is empty"
    search_env.records.put_step(photos["original"], Step("clip", StepState.SKIPPED, reason=server_said))
    browser = api_client.application.test_client()
    sign_in(browser, make_account(search_env.records.redis, search_env.workspace, "viewer"))
    page = browser.get(f"/uploads/{photos['original']}").get_data(as_text=True)
    copies = page[page.index('id="duplicates"'):]
    assert f'data-upload-id="{photos["same-file"]}"' in copies and "same file" in copies
    assert f'data-upload-id="{photos["resized"]}"' in copies and "resized or re-encoded copy" in copies
    assert photos["other"] not in copies and photos["same-man"] not in copies
    assert page.count("needs the CLIP model") == 1 and "make models" in page
    assert "/srv/" not in page  # the server's own reason names its directories


def test_the_system_page_calls_a_function_without_its_model_not_installed() -> None:
    from scheduler.health import function_status

    described = {"name": "clip", "annotations": {
        "medialens.ready": "false", "medialens.error": "ModelNotInstalled: /srv/x/weights/clip is empty"}}
    assert function_status("local", described).not_installed
    loading = {"name": "clip", "annotations": {"medialens.ready": "false"}}
    assert not function_status("local", loading).not_installed
