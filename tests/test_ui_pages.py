"""The web pages: sign-in and sign-out, each page behind it, and what each page shows."""
# ruff: noqa: F811 - the fixtures imported from tests.ui_support come back as test parameters

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient

from accounts.users import Users
from accounts.workspaces import Workspaces
from embedded.stack import Stack
from tests.conftest import DATA, Account, jpeg, make_account
from tests.ui_support import browser_client, client, csrf_of, sign_in, ui_app, upload_bytes  # noqa: F401

PAGES = ["/", "/upload", "/uploads", "/uploads/nope", "/search", "/people", "/system"]
VIEW = re.compile(r'<script id="view" type="application/json">(.*?)</script>', re.S)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_sends_a_stranger_to_sign_in(client: FlaskClient, path: str) -> None:
    reply = client.get(path)
    assert reply.status_code == 302
    assert reply.location.startswith("/login?next=")


def test_sign_in_page_explains_itself(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert 'name="user"' in page and 'name="password"' in page and 'name="viewport"' in page


def test_a_wrong_password_is_refused_with_a_reason(client: FlaskClient, account: Account) -> None:
    token = csrf_of(client.get("/login").get_data(as_text=True))
    for user, password in ((account.user, "not-the-password"), ("nobody-at-all", account.password)):
        reply = client.post("/login", data={"user": user, "password": password, "csrf_token": token})
        assert reply.status_code == 401
        assert "do not match" in reply.get_data(as_text=True)
        assert client.get("/uploads").status_code == 302


def test_sign_in_without_the_form_token_is_refused(client: FlaskClient, account: Account) -> None:
    reply = client.post("/login", data={"user": account.user, "password": account.password})
    assert reply.status_code == 400
    assert client.get("/uploads").status_code == 302


def test_sign_in_returns_to_the_page_asked_for_and_never_off_site(client: FlaskClient, account: Account) -> None:
    form = {"user": account.user, "password": account.password}
    token = csrf_of(client.get("/login").get_data(as_text=True))
    reply = client.post("/login", data={**form, "csrf_token": token, "next": "/system"})
    assert reply.status_code == 302 and reply.location == "/system"
    for target in ("https://elsewhere.example/", "//elsewhere.example/x", "javascript:alert(1)"):
        token = csrf_of(client.get("/upload").get_data(as_text=True))
        reply = client.post("/login", data={**form, "csrf_token": token, "next": target})
        assert reply.location == "/uploads", target


@pytest.mark.parametrize("path", ["/upload", "/uploads", "/search", "/people", "/system", "/workspace"])
def test_every_page_opens_when_signed_in(browser_client: tuple[FlaskClient, str], path: str) -> None:
    web, _ = browser_client
    reply = web.get(path)
    assert reply.status_code == 200
    page = reply.get_data(as_text=True)
    assert "Sign out" in page and 'name="viewport"' in page
    # Nothing may load from the internet: every script and stylesheet is served by the app.
    assert not re.search(r'(src|href)="(https?:)?//', page)


@pytest.mark.parametrize("path", ["/login", "/upload", "/uploads", "/search", "/people", "/system", "/api/v1/uploads"])
def test_every_answer_carries_a_strict_csp_and_security_headers(
    browser_client: tuple[FlaskClient, str], path: str
) -> None:
    web, _ = browser_client
    reply = web.get(path)
    policy = reply.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    page = reply.get_data(as_text=True)
    # The one inline script element a page may hold is JSON data, which a browser never runs.
    assert not re.search(r"<script(?![^>]*\b(src=|type=\"application/json\"))", page)
    assert not re.search(r"\son[a-z]+=", page), "no inline event handlers"


def test_the_home_page_is_the_uploads_list(browser_client: tuple[FlaskClient, str]) -> None:
    web, _ = browser_client
    assert web.get("/").location == "/uploads"


def test_sign_out_ends_the_session(browser_client: tuple[FlaskClient, str]) -> None:
    web, token = browser_client
    assert web.post("/logout", data={}).status_code == 302
    assert web.get("/uploads").status_code == 200, "a sign-out without the form token is ignored"
    assert web.post("/logout", data={"csrf_token": token}).location == "/login"
    assert web.get("/uploads").status_code == 302
    assert web.get("/api/v1/uploads").status_code == 401


def _session_cookie(web: FlaskClient) -> str:
    cookie = web.get_cookie("session")
    assert cookie is not None, "no session cookie"
    return cookie.value


def test_the_session_cookie_is_an_opaque_id_revoked_at_sign_out(
    browser_client: tuple[FlaskClient, str], account: Account, ui_app: Flask
) -> None:
    web, token = browser_client
    copied = _session_cookie(web)
    decoded = base64.urlsafe_b64decode(copied + "==").decode("latin-1")
    assert account.user not in copied and account.user not in decoded and account.password not in decoded
    replay = ui_app.test_client()
    replay.set_cookie("session", copied)
    assert replay.get("/uploads").status_code == 200, "the copy works while the session lives"
    assert web.post("/logout", data={"csrf_token": token}).location == "/login"
    assert replay.get("/uploads").status_code == 302, "sign-out revokes the session for every copy"
    assert replay.get("/api/v1/uploads").status_code == 401


def test_signing_in_gives_a_new_session_id(client: FlaskClient, account: Account) -> None:
    client.get("/login")
    before = _session_cookie(client)
    sign_in(client, account)
    assert _session_cookie(client) != before, "an id planted before sign-in must not become a signed-in one"


def test_the_session_cookie_is_httponly_lax_and_secure_over_https(ui_app: Flask) -> None:
    web = ui_app.test_client()
    page = web.get("/login", base_url="https://medialens.example")
    cookie = page.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    max_age = int(re.search(r"Max-Age=(\d+)", cookie).group(1))  # type: ignore[union-attr]
    assert max_age <= 8 * 3600, "an unused session ends after the idle lifetime, not 31 days"
    plain = ui_app.test_client().get("/login").headers["Set-Cookie"]
    assert "Secure" not in plain


def test_a_session_ends_at_its_absolute_lifetime_though_in_use(
    browser_client: tuple[FlaskClient, str], ui_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    web, _ = browser_client
    sessions = ui_app.session_interface
    monkeypatch.setattr(sessions, "config", sessions.config.model_copy(update={"session_max_s": 3}))  # type: ignore[attr-defined]
    assert web.get("/uploads").status_code == 200
    time.sleep(1.5)
    assert web.get("/uploads").status_code == 200, "in use: renewed"
    time.sleep(1.6)
    assert web.get("/uploads").status_code == 302, "three seconds after sign-in it ends however busy"


def test_a_person_removed_from_the_workspace_loses_it_at_once(client: FlaskClient, running_stack: Stack) -> None:
    connection = running_stack.redis()
    someone = make_account(connection, role="viewer")
    sign_in(client, someone)
    assert client.get("/uploads").status_code == 200
    Workspaces(connection).remove_member(someone.workspace, someone.user)
    assert client.get("/uploads").status_code == 403, "signed in, but no longer in the workspace"
    Users(connection).delete(someone.user)
    assert client.get("/uploads").status_code == 302, "an account deleted is signed out"


def test_the_uploads_page_keeps_the_filters_it_was_opened_with(browser_client: tuple[FlaskClient, str]) -> None:
    web, _ = browser_client
    page = web.get("/uploads?state=failed&media_type=video&since=2024-01-02&until=2024-03-04&person=p1")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert '<option value="failed" selected>' in html and '<option value="video" selected>' in html
    assert 'name="since" value="2024-01-02"' in html and 'name="until" value="2024-03-04"' in html
    assert 'data-chosen="p1"' in html
    assert "No uploads match these filters" in html, "the empty state that the script shows for filters"


def test_result_view_of_an_image_carries_its_results_and_media(
    browser_client: tuple[FlaskClient, str], api: httpx.Client
) -> None:
    web, _ = browser_client
    done = upload_bytes(api, "viewed.jpg", jpeg((400, 300)), "image/jpeg")
    reply = web.get(f"/uploads/{done['id']}")
    assert reply.status_code == 200
    page = reply.get_data(as_text=True)
    found = VIEW.search(page)
    assert found
    view = json.loads(found.group(1))
    assert view["media_type"] == "image"
    assert view["results"]["probe"]["width"] == 400
    assert httpx.get(view["source"]).content[:2] == b"\xff\xd8", "the picture's URL serves the upload"
    assert 'id="overlay"' in page and 'data-layer="faces"' in page and "Raw JSON" in page


def test_result_view_of_an_unknown_upload_is_404(browser_client: tuple[FlaskClient, str]) -> None:
    web, _ = browser_client
    reply = web.get("/uploads/nope")
    assert reply.status_code == 404
    assert "No such upload" in reply.get_data(as_text=True)


def test_system_page_lists_functions_queues_and_workers(browser_client: tuple[FlaskClient, str]) -> None:
    web, _ = browser_client
    page = web.get("/system").get_data(as_text=True)
    assert "reachable" in page and "unreachable" not in page
    assert "<td>probe</td>" in page and "<td>thumbnail</td>" in page
    assert "<td>medialens</td>" in page, "the RQ queue is listed"
    # RQ drops a job once its retention is over, so the counts cover only that long, and the page says so.
    assert "finished, last 1 min" in page and "failed, last 24 h" in page
    assert "No worker is running" not in page


def test_result_view_names_the_person_of_each_face(
    browser_client: tuple[FlaskClient, str], api: httpx.Client
) -> None:
    web, _ = browser_client
    done = upload_bytes(api, "obama.jpg", (DATA / "faces" / "obama.jpg").read_bytes(), "image/jpeg")

    def faces() -> list[dict[str, Any]]:
        found = VIEW.search(web.get(f"/uploads/{done['id']}").get_data(as_text=True))
        assert found
        result: list[dict[str, Any]] = json.loads(found.group(1))["results"]["faces"]["faces"]
        return result

    for _ in range(200):  # indexing (which places faces into persons) runs just after the upload is done
        if faces() and "person" in faces()[0]:
            break
        time.sleep(0.1)
    person = faces()[0]["person"]["id"]
    assert api.patch(f"/people/{person}", json={"name": "Barack Obama"}).status_code == 200
    assert faces()[0]["person"] == {"id": person, "name": "Barack Obama", "label": "Barack Obama"}
