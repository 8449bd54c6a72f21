"""The deployment's Chroma answers only requests bearing the index token, and the index client sends it.

The server is the real one: `python -m search.server` running the chromadb package's own Chroma
server behind itself, as the compose file's `chroma` service does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import chromadb
import httpx
import pytest
import yaml
from redis import Redis

from functions.catalog import PROJECT
from search.chroma_http import ChromaError
from search.index import IMAGES, Entry, Index
from search.server import Chroma, TokenProxy, chroma_command
from search.settings import IndexSettings
from tests.gateway_config import deploy
from tests.search_data import INDEX_TOKEN as TOKEN
from tests.test_deploy_compose import TEMPLATE, VALUES, env

WORKSPACE = "tokenws"

pytest_plugins = ["tests.search_support"]


def test_the_compose_file_runs_chroma_behind_the_apps_token() -> None:
    services: dict[str, Any] = yaml.safe_load(deploy.render(TEMPLATE, VALUES))["services"]
    chroma, app = services["chroma"], env(services["intake"])
    assert chroma["command"] == ["python", "-m", "search.server"]
    assert env(chroma)["MEDIALENS_INDEX_TOKEN"] == app["MEDIALENS_INDEX_TOKEN"] == VALUES["INDEX_TOKEN"]
    assert app["MEDIALENS_INDEX_SERVER_URL"] == f"http://chroma:{env(chroma)['MEDIALENS_INDEX_SERVE_PORT']}"
    for name in ("worker-1", "worker-2", "ui"):
        assert env(services[name])["MEDIALENS_INDEX_TOKEN"] == VALUES["INDEX_TOKEN"], name


def test_the_index_client_sends_the_token_and_works(index_server: str, redis_db: Redis) -> None:
    index = Index(redis_db, IndexSettings(server_url=index_server, token=TOKEN))
    entries = [Entry(id="a", kind=IMAGES, model="clip", embedding=[1.0, 0.0, 0.0], metadata={"n": 1}),
               Entry(id="b", kind=IMAGES, model="clip", embedding=[0.0, 1.0, 0.0], metadata={"n": 2})]
    assert index.replace(WORKSPACE, "upload-1", entries) == 2
    hits = index.nearest(WORKSPACE, IMAGES, "clip", [0.9, 0.1, 0.0], limit=1)
    assert [hit.id for hit in hits] == ["a"] and hits[0].metadata["upload_id"] == "upload-1"
    assert index.drop_workspace(WORKSPACE) == 1


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"X-Chroma-Token": TOKEN},
    {"Authorization": f"Bearer {TOKEN}x"},
])
def test_a_request_without_the_token_is_refused(index_server: str, headers: dict[str, str]) -> None:
    for path in ("/api/v2/heartbeat", "/api/v2/tenants/default_tenant/databases/default_database/collections"):
        reply = httpx.get(index_server + path, headers=headers)
        assert reply.status_code == 401 and reply.headers["WWW-Authenticate"].startswith("Bearer"), path
    created = httpx.post(index_server + "/api/v2/tenants/default_tenant/databases/default_database/collections",
                         json={"name": "intruder"}, headers=headers)
    assert created.status_code == 401
    listed = httpx.get(index_server + "/api/v2/tenants/default_tenant/databases/default_database/collections",
                       headers={"Authorization": f"Bearer {TOKEN}"})
    assert "intruder" not in [collection["name"] for collection in listed.json()]


def test_a_client_without_the_token_gets_nothing(index_server: str, redis_db: Redis) -> None:
    index = Index(redis_db, IndexSettings(server_url=index_server))
    with pytest.raises(ChromaError, match="bearer token") as refused:
        index.count(WORKSPACE)
    assert refused.value.status == 401
    # Chroma's own client, as any other caller on the network would use it.
    with pytest.raises(Exception, match=r"Unauthorized|bearer token"):
        chromadb.HttpClient(host="127.0.0.1", port=int(index_server.rsplit(":", 1)[1])).list_collections()


def test_chroma_itself_listens_on_loopback_only() -> None:
    command = chroma_command(IndexSettings(chroma_port=8010, path=Path("/data")))
    assert command == [sys.executable, "-m", "search.chroma", "run", "--host", "127.0.0.1", "--port", "8010",
                       "--path", "/data"]


def test_the_server_does_not_run_without_a_token() -> None:
    with pytest.raises(ValueError, match="MEDIALENS_INDEX_TOKEN is empty"):
        TokenProxy("", httpx.Client())
    started = subprocess.run([sys.executable, "-m", "search.server"], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "PYTHONPATH": str(PROJECT), "MEDIALENS_INDEX_TOKEN": ""})
    assert started.returncode != 0 and "MEDIALENS_INDEX_TOKEN is empty" in started.stderr


def test_chroma_that_exits_is_started_again(tmp_path: Path) -> None:
    starts = tmp_path / "starts"
    chroma = Chroma([sys.executable, "-c", f"open({str(starts)!r}, 'a').write('x')"])
    runner = threading.Thread(target=chroma.run)
    runner.start()
    deadline = time.monotonic() + 10
    while (not starts.exists() or len(starts.read_text()) < 2) and time.monotonic() < deadline:
        time.sleep(0.05)
    chroma.stop()
    runner.join(timeout=10)
    assert not runner.is_alive() and len(starts.read_text()) >= 2
