"""Fixtures for the web UI tests: the Flask app on the test stack's Redis and store, signed in or not."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient

from embedded.stack import Stack
from tests.conftest import Account, wait_for_upload
from ui.settings import UiSettings

CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


# The tests make many refused requests on purpose from one address: throttling is tested on its own.
UNTHROTTLED: dict[str, Any] = {"sign_in_limit": "100000 per minute", "key_failure_limit": "100000 per minute",
               "search_limit": "100000 per minute"}


@contextmanager
def app_on(stack: Stack, redis_db: int = 0, **settings: Any) -> Iterator[Flask]:
    """The app in this process, talking to the same Redis, store and gateway as the running stack.

    With ``redis_db`` it keeps its state (uploads, people, keys, queues) in that Redis database instead,
    out of reach of the running stack's and of every other test's."""
    from scheduler.context import using
    from ui.app import create_app

    wanted = ("MEDIALENS_SCHEDULER_", "MEDIALENS_S3_", "MEDIALENS_INDEX_")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in stack.environment().items():
            if name.startswith(wanted):
                patch.setenv(name, value)
        if redis_db:
            patch.setenv("MEDIALENS_SCHEDULER_REDIS_URL", stack.redis_url(redis_db))
        with using():
            config = UiSettings.model_validate({"secret_key": uuid.uuid4().hex, **settings})
            app = create_app(config, store=stack.store())
            app.config["TESTING"] = True
            yield app


@pytest.fixture(scope="session")
def ui_app(running_stack: Stack) -> Iterator[Flask]:
    with app_on(running_stack, **UNTHROTTLED) as app:
        yield app


@pytest.fixture
def client(ui_app: Flask) -> FlaskClient:
    return ui_app.test_client()


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def sign_in(client: FlaskClient, account: Account) -> str:
    """Signs in through the form, as a person would; returns the session's CSRF token."""
    token = csrf_of(client.get("/login").get_data(as_text=True))
    reply = client.post("/login", data={"user": account.user, "password": account.password, "csrf_token": token,
                                        "next": "/uploads"})
    assert reply.status_code == 302, reply.get_data(as_text=True)
    return csrf_of(client.get("/workspace").get_data(as_text=True))


@pytest.fixture
def browser_client(client: FlaskClient, account: Account) -> tuple[FlaskClient, str]:
    """A test client signed in with the session cookie, and its CSRF token."""
    return client, sign_in(client, account)


def post_upload(api: httpx.Client, name: str, data: bytes, content_type: str) -> str:
    """Uploads through the API's presigned POST form, as the upload page and the CLI do; returns the key."""
    ticket = api.post("/uploads", json={"filename": name, "size": len(data), "content_type": content_type}).json()
    reply = httpx.post(ticket["url"], data=ticket["fields"], files={"file": (name, data, content_type)})
    assert reply.status_code in (200, 204), reply.text
    return str(ticket["key"])


def upload_bytes(api: httpx.Client, name: str, data: bytes, content_type: str) -> dict[str, Any]:
    """Uploads through the API's presigned POST form and waits until the analysis has settled."""
    return wait_for_upload(api, post_upload(api, name, data, content_type))
