"""The JSON API as the web UI uses it: keys or the session, CSRF, retry, and the event stream."""
# ruff: noqa: F811 - the fixtures imported from tests.ui_support come back as test parameters

from __future__ import annotations

import json
import time

import httpx
import pytest
from flask.testing import FlaskClient

from embedded.stack import Stack
from scheduler.uploads import State, StepState, Uploads
from storage.client import Store
from tests.conftest import jpeg, wait_for_upload
from tests.ui_support import browser_client, client, ui_app, upload_bytes  # noqa: F401

ROUTES = [
    ("GET", "/api/v1/uploads"),
    ("POST", "/api/v1/uploads"),
    ("GET", "/api/v1/uploads/nope"),
    ("POST", "/api/v1/uploads/nope/retry"),
]


@pytest.fixture
def records(running_stack: Stack) -> Uploads:
    return Uploads(running_stack.redis())


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_api_route_refuses_a_request_without_a_key(client: FlaskClient, method: str, path: str) -> None:
    reply = client.open(path, method=method, json={"filename": "a.jpg"})
    assert reply.status_code == 401
    assert "API key" in reply.get_json()["error"]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_wrong_key_is_refused(client: FlaskClient, method: str, path: str) -> None:
    reply = client.open(path, method=method, headers={"Authorization": "Bearer ml_wrong"}, json={})
    assert reply.status_code == 401


def test_a_header_key_still_works_and_wins_over_the_session(
    browser_client: tuple[FlaskClient, str], api_key: str
) -> None:
    web, _ = browser_client
    reply = web.post("/api/v1/uploads", json={"filename": "a b.jpg"}, headers={"X-API-Key": api_key})
    assert reply.status_code == 201
    assert reply.get_json()["key"].endswith("/a_b.jpg")
    assert web.get("/api/v1/uploads", headers={"Authorization": "Bearer ml_wrong"}).status_code == 401


def test_a_signed_in_browser_reads_with_its_session(browser_client: tuple[FlaskClient, str]) -> None:
    web, _ = browser_client
    reply = web.get("/api/v1/uploads?limit=5")
    assert reply.status_code == 200
    assert "uploads" in reply.get_json()


def test_a_session_request_that_changes_state_needs_the_csrf_token(
    browser_client: tuple[FlaskClient, str],
) -> None:
    web, token = browser_client
    refused = web.post("/api/v1/uploads", json={"filename": "a.jpg", "size": 10})
    assert refused.status_code == 403
    assert "X-CSRF-Token" in refused.get_json()["error"]
    forged = web.post("/api/v1/uploads", json={"filename": "a.jpg"}, headers={"X-CSRF-Token": "forged"})
    assert forged.status_code == 403
    ticket = web.post("/api/v1/uploads", json={"filename": "a.jpg"}, headers={"X-CSRF-Token": token})
    assert ticket.status_code == 201
    assert ticket.get_json()["url"].startswith("http")


def test_retry_of_an_unknown_upload_is_404(client: FlaskClient, api_key: str) -> None:
    reply = client.post("/api/v1/uploads/nope/retry", headers={"Authorization": f"Bearer {api_key}"})
    assert reply.status_code == 404


def test_only_a_failed_upload_can_be_retried(client: FlaskClient, api: httpx.Client, api_key: str) -> None:
    done = upload_bytes(api, "fine.jpg", jpeg(), "image/jpeg")
    assert done["state"] == "done"
    reply = client.post(f"/api/v1/uploads/{done['id']}/retry", headers={"Authorization": f"Bearer {api_key}"})
    assert reply.status_code == 409
    assert "done" in reply.get_json()["error"]


def test_retry_runs_a_failed_upload_again_from_the_start(
    client: FlaskClient, api: httpx.Client, api_key: str, records: Uploads
) -> None:
    done = upload_bytes(api, "retried.jpg", jpeg((320, 200)), "image/jpeg")
    upload_id = done["id"]
    # As if a function had been down: the upload failed at thumbnail and has no results from it.
    thumbnail = records.step(upload_id, "thumbnail")
    thumbnail.state, thumbnail.reason = StepState.FAILED, "the gateway could not be reached"
    records.put_step(upload_id, thumbnail)
    records.set_state(upload_id, State.FAILED, "thumbnail: the gateway could not be reached")
    before = records.step(upload_id, "probe").started_at

    reply = client.post(f"/api/v1/uploads/{upload_id}/retry", headers={"Authorization": f"Bearer {api_key}"})
    assert reply.status_code == 202, reply.get_json()
    assert reply.get_json()["state"] == "queued"
    assert reply.get_json()["reason"] == ""

    again = wait_for_upload(api, done["key"])
    assert again["id"] == upload_id
    assert again["state"] == "done", again
    assert again["steps"]["probe"]["state"] == again["steps"]["thumbnail"]["state"] == "done"
    assert again["steps"]["probe"]["started_at"] > before
    assert again["results"]["probe"]["media_type"] == "image"
    assert "thumbnail.jpg" in again["artefacts"]


def test_retry_of_a_file_refused_for_itself_is_refused_and_says_why(
    browser_client: tuple[FlaskClient, str], api: httpx.Client
) -> None:
    web, token = browser_client
    failed = upload_bytes(api, "empty.jpg", b"", "image/jpeg")
    assert failed["state"] == "failed"
    assert "empty" in failed["reason"]
    assert failed["retryable"] is False
    reply = web.post(f"/api/v1/uploads/{failed['id']}/retry", headers={"X-CSRF-Token": token})
    assert reply.status_code == 409
    assert "cannot help" in reply.get_json()["error"] and "empty" in reply.get_json()["error"]
    again = api.get(f"/uploads/{failed['id']}").json()
    assert again["state"] == "failed"
    assert again["steps"]["probe"]["started_at"] == failed["steps"]["probe"]["started_at"], "nothing ran again"


def test_events_need_a_sign_in(client: FlaskClient) -> None:
    reply = client.get("/events")
    assert reply.status_code == 401


def test_events_stream_every_upload_change(browser_client: tuple[FlaskClient, str], records: Uploads) -> None:
    web, _ = browser_client
    reply = web.get("/events", buffered=False)
    assert reply.status_code == 200
    assert reply.mimetype == "text/event-stream"
    chunks = reply.response
    assert next(chunks).decode().startswith("retry:")  # type: ignore[call-overload]
    records.publish("some-upload", "step", {"name": "probe", "state": "running"})
    deadline = time.monotonic() + 10
    received = None
    while received is None and time.monotonic() < deadline:
        chunk = next(chunks).decode()  # type: ignore[call-overload]
        if chunk.startswith("data: "):
            received = json.loads(chunk[len("data: "):])
    reply.close()
    assert received is not None
    assert received["upload_id"] == "some-upload"
    assert received["data"] == {"name": "probe", "state": "running"}


def test_events_accept_a_header_key(client: FlaskClient, api_key: str) -> None:
    reply = client.get("/events", headers={"Authorization": f"Bearer {api_key}"}, buffered=False)
    assert reply.status_code == 200
    reply.close()


def test_an_upload_form_binds_size_and_type_and_the_store_holds_to_them(api: httpx.Client) -> None:
    ticket = api.post("/uploads", json={"filename": "small.jpg", "size": 10, "content_type": "image/jpeg"}).json()
    assert ticket["method"] == "POST" and ticket["max_bytes"] == 10

    def send(data: bytes, content_type: str) -> int:
        fields = {**ticket["fields"], "Content-Type": content_type}
        return httpx.post(ticket["url"], data=fields, files={"file": ("small.jpg", data, content_type)}).status_code

    assert send(b"x" * 3_000_000, "image/jpeg") == 400, "declared 10 bytes, sent 3 MB"
    assert send(b"<script>alert(1)</script>", "text/html") == 403, "the type is bound too"
    refused = api.post("/uploads", json={"filename": "page.html", "size": 10, "content_type": "text/html"})
    assert refused.status_code == 415
    assert api.post("/uploads", json={"filename": "page.svg", "size": 10}).status_code == 415


def test_a_browser_never_gets_a_user_object_inline_unless_it_is_a_safe_medium(
    store: Store, api: httpx.Client
) -> None:
    bucket = store.settings.artefacts_bucket
    store.put_bytes(bucket, "tests/page.html", b"<script>alert(1)</script>", "text/html")
    page = httpx.get(store.browser_url(bucket, "tests/page.html"))
    assert page.headers["content-type"] == "application/octet-stream"
    assert page.headers["content-disposition"] == "attachment"
    found = upload_bytes(api, "shown.jpg", jpeg(), "image/jpeg")
    source = httpx.get(found["source"])
    assert source.headers["content-type"] == "image/jpeg"
    assert source.headers["content-disposition"] == "inline"
