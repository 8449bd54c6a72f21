"""Fixtures for search and people tests: a clean index on the test Redis and store, and the API on them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from embedded.stack import Stack
from scheduler.uploads import Uploads
from search.index import Index
from search.settings import IndexSettings
from storage.client import Store
from tests.search_data import SearchEnv
from tests.ui_support import UNTHROTTLED
from ui.settings import UiSettings


@pytest.fixture(scope="session")
def search_store(store: Store) -> Store:
    """Buckets of their own: an object put in the stack's `uploads` bucket would start the running
    stack's pipeline, whose result for the same key would overwrite the one a test wrote."""
    own = Store(store.settings.model_copy(update={
        "uploads_bucket": "search-uploads", "results_bucket": "search-results", "artefacts_bucket": "search-artefacts",
    }))
    own.ensure_buckets()
    return own


@pytest.fixture
def search_env(redis_db: Redis, search_store: Store, tmp_path: Path) -> Iterator[SearchEnv]:
    yield SearchEnv(Uploads(redis_db), search_store, Index(redis_db, IndexSettings(path=tmp_path / "chroma")))


@pytest.fixture
def api_client(
    search_env: SearchEnv, redis_server: Stack, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FlaskClient]:
    """The API in this process on the test Redis (db 15), the test store and the test index, with a key."""
    from scheduler.context import using
    from ui.app import create_app
    from ui.auth import create_key

    monkeypatch.setenv("MEDIALENS_SCHEDULER_REDIS_URL", redis_server.redis_url(15))
    with using():
        app: Flask = create_app(UiSettings.model_validate({"secret_key": uuid.uuid4().hex, **UNTHROTTLED}),
                                store=search_env.store)
        app.extensions["medialens.index"] = search_env.index
        app.config["TESTING"] = True
        key = create_key(search_env.records.redis, "search-tests", role="admin")
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
        yield client
