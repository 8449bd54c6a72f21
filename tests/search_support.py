"""Fixtures for search and people tests: a clean index on the test Redis and store, and the API on them,
for the legacy workspace or any other."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from embedded.settings import free_port
from embedded.stack import Stack
from functions.catalog import PROJECT
from scheduler.uploads import Uploads
from search.index import Index
from search.settings import IndexSettings
from storage.client import Store
from tests.conftest import make_account
from tests.host_support import Host, start_host
from tests.search_data import INDEX_TOKEN, SearchEnv
from tests.ui_support import UNTHROTTLED
from ui.settings import UiSettings


@pytest.fixture(scope="session")
def index_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The deployment's index server (`python -m search.server`: Chroma behind its token); its URL."""
    port, chroma_port = free_port(), free_port()
    environment = {
        **os.environ, "PYTHONPATH": str(PROJECT), "MEDIALENS_INDEX_TOKEN": INDEX_TOKEN,
        "MEDIALENS_INDEX_PATH": str(tmp_path_factory.mktemp("chroma")), "MEDIALENS_INDEX_SERVE_PORT": str(port),
        "MEDIALENS_INDEX_CHROMA_PORT": str(chroma_port), "ANONYMIZED_TELEMETRY": "False",
    }
    process = subprocess.Popen([sys.executable, "-m", "search.server"], env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, "the index server exited"
        try:
            answer = httpx.get(url + "/api/v2/heartbeat", headers={"Authorization": f"Bearer {INDEX_TOKEN}"})
            if answer.status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the index server did not answer in 60 s"
        time.sleep(0.2)
    yield url
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="session")
def search_store(store: Store) -> Store:
    """Buckets of their own: an object put in the stack's `uploads` bucket would start the running
    stack's pipeline, whose result for the same key would overwrite the one a test wrote."""
    own = Store(store.settings.model_copy(update={
        "uploads_bucket": "search-uploads", "results_bucket": "search-results", "artefacts_bucket": "search-artefacts",
    }))
    own.ensure_buckets()
    return own


@pytest.fixture(scope="session")
def embed_host(store: Store) -> Iterator[Host]:
    """A functions host serving the embed function alone: where search gets its text embeddings."""
    host = start_host("cpu", token=secrets.token_urlsafe(16), password=secrets.token_urlsafe(16),
                      store=store.settings.endpoint, functions="embed")
    host.wait_ready("embed")
    yield host
    host.kill()


@pytest.fixture
def search_env(
    redis_db: Redis, redis_server: Stack, search_store: Store, embed_host: Host, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[SearchEnv]:
    """Indexing and searching in this process embed text through `embed_host`, as a worker does."""
    from scheduler.context import using

    monkeypatch.setenv("MEDIALENS_SCHEDULER_REDIS_URL", redis_server.redis_url(15))
    monkeypatch.setenv("MEDIALENS_SCHEDULER_GATEWAYS", json.dumps({"cpu": embed_host.url}))
    monkeypatch.setenv("MEDIALENS_SCHEDULER_GATEWAY_TOKEN", embed_host.token)
    # The test's own embedded index, even where an earlier fixture pointed this process at the stack's server.
    monkeypatch.setenv("MEDIALENS_INDEX_SERVER_URL", "")
    with using():
        index = Index(redis_db, IndexSettings(path=tmp_path / "chroma", server_url=""))
        yield SearchEnv(Uploads(redis_db), search_store, index)
    # What the test and the app it served opened of this index: left open, a suite runs out of the
    # descriptors select() can watch (waitress serves the browser tests with it).
    index.close()


@pytest.fixture
def api_app(search_env: SearchEnv, redis_server: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The app in this process on the test Redis (db 15), the test store and the test index."""
    from scheduler.context import using
    from ui.app import create_app

    monkeypatch.setenv("MEDIALENS_SCHEDULER_REDIS_URL", redis_server.redis_url(15))
    # What the app opens at its start (the upgrade) is the test's index, not one under the working directory.
    monkeypatch.setenv("MEDIALENS_INDEX_PATH", str(search_env.index.config.path))
    with using():
        app: Flask = create_app(UiSettings.model_validate({"secret_key": uuid.uuid4().hex, **UNTHROTTLED}),
                                store=search_env.store)
        app.extensions["medialens.index"] = search_env.index
        app.config["TESTING"] = True
        yield app


@pytest.fixture
def client_of(api_app: Flask, search_env: SearchEnv) -> Callable[[str], FlaskClient]:
    """A client with an owner's key of the workspace named (the key decides where it acts)."""
    made: dict[str, str] = {}

    def make(workspace: str) -> FlaskClient:
        if workspace not in made:
            made[workspace] = make_account(search_env.records.redis, workspace, "owner").key
        client = api_app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {made[workspace]}"
        return client

    return make


@pytest.fixture
def api_client(client_of: Callable[[str], FlaskClient], search_env: SearchEnv) -> FlaskClient:
    """The API acting in the search environment's workspace."""
    return client_of(search_env.workspace)
