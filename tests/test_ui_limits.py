"""Throttling per client: failed sign-ins, wrong API keys and searches are limited; a right key is not slowed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from embedded.stack import Stack
from tests.conftest import Account
from tests.ui_support import app_on, csrf_of


@pytest.fixture
def throttled(running_stack: Stack) -> Iterator[FlaskClient]:
    with app_on(running_stack, sign_in_limit="3 per minute", key_failure_limit="3 per minute",
                search_limit="2 per minute") as app:
        for limiter in app.extensions["limiter"]:
            limiter.reset()
        yield app.test_client()


def test_failed_sign_ins_are_throttled(throttled: FlaskClient, account: Account) -> None:
    token = csrf_of(throttled.get("/login").get_data(as_text=True))

    def attempt(password: str) -> int:
        form = {"user": account.user, "password": password, "csrf_token": token}
        return throttled.post("/login", data=form).status_code

    assert [attempt("wrong-password") for _ in range(3)] == [401, 401, 401]
    assert attempt("wrong-password") == 429
    assert attempt(account.password) == 429, "over the limit, even the right password waits for the window to pass"
    assert throttled.get("/login").status_code == 200, "the page itself still opens"


def test_a_right_key_is_never_counted(throttled: FlaskClient, api_key: str) -> None:
    good = {"Authorization": f"Bearer {api_key}"}
    assert {throttled.get("/api/v1/uploads", headers=good).status_code for _ in range(6)} == {200}


def test_wrong_api_keys_are_throttled_across_routes(throttled: FlaskClient) -> None:
    wrong = {"Authorization": "Bearer ml_not_a_key"}
    answers = [throttled.get(path, headers=wrong).status_code
               for path in ("/api/v1/uploads", "/api/v1/people", "/api/v1/gpu", "/api/v1/uploads")]
    assert answers == [401, 401, 401, 429]
    assert "too many requests" in throttled.get("/api/v1/uploads", headers=wrong).get_json()["error"]


def test_searches_are_limited_per_client(throttled: FlaskClient, api_key: str) -> None:
    good = {"Authorization": f"Bearer {api_key}"}
    answers = [throttled.get("/api/v1/search", query_string={"q": "harbour"}, headers=good).status_code
               for _ in range(3)]
    assert answers == [200, 200, 429]
