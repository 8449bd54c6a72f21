"""Shared fixtures: a real embedded stack (SeaweedFS, Redis, functions host, scheduler) on free ports."""

from __future__ import annotations

import importlib
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from redis import Redis

from bench.media import store_for_functions
from embedded.settings import EmbeddedSettings, on_free_ports
from embedded.stack import Stack
from host.server import template
from storage.client import Store
from storage.layout import LEGACY_WORKSPACE
from tests.models import build_tiny_blip, build_tiny_clip, build_tiny_instruct

TEST_INPUTS = "test-inputs"


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedSettings:
    models = tmp_path_factory.mktemp("models")
    build_tiny_clip(models / "clip")
    build_tiny_blip(models / "blip")
    build_tiny_instruct(models / "instruct")
    return on_free_ports(tmp_path_factory.mktemp("state"), models)


@pytest.fixture(scope="session")
def stack(stack_settings: EmbeddedSettings) -> Iterator[Stack]:
    """The stack object; each fixture below starts only the services it needs."""
    made = Stack(stack_settings)
    yield made
    made.down()


@pytest.fixture(scope="session")
def store(stack: Stack) -> Store:
    stack.up(only=["seaweedfs"])
    return stack.store()


@pytest.fixture(scope="session")
def running_stack(stack: Stack, store: Store) -> Stack:
    """Every service of `make up`, started by the same code."""
    stack.up()
    return stack


@pytest.fixture(scope="session")
def redis_server(stack: Stack) -> Stack:
    stack.up(only=["redis"])
    return stack


@pytest.fixture
def redis_db(redis_server: Stack) -> Iterator[Redis]:
    """A clean Redis database (db 15) for tests of Redis-backed parts alone."""
    connection = redis_server.redis(15)
    connection.flushdb()
    yield connection
    connection.flushdb()


@pytest.fixture(scope="session")
def function_store(store: Store) -> Iterator[str]:
    """Functions called in this process use the test store, the one origin they are allowed, as
    the stack's functions host does; the endpoint."""
    with store_for_functions(store.settings.endpoint):
        yield store.settings.endpoint


@pytest.fixture
def source_url(store: Store, function_store: str) -> Callable[..., str]:
    """Puts bytes in the store and returns a presigned GET URL, as the scheduler hands functions."""

    def put(data: bytes, content_type: str = "application/octet-stream") -> str:
        key = f"{TEST_INPUTS}/{uuid.uuid4().hex}"
        store.put_bytes(store.settings.artefacts_bucket, key, data, content_type)
        return store.presigned_get(store.settings.artefacts_bucket, key)

    return put


@pytest.fixture
def output_url(store: Store, function_store: str) -> Callable[[], tuple[str, Callable[[], bytes]]]:
    """A presigned PUT URL for an artefact, and a reader for what was written there."""

    def make() -> tuple[str, Callable[[], bytes]]:
        key = f"{TEST_INPUTS}/out-{uuid.uuid4().hex}"
        bucket = store.settings.artefacts_bucket
        return store.presigned_put(bucket, key), lambda: store.get_bytes(bucket, key)

    return make


def invoke_handler(name: str, body: dict[str, Any] | bytes) -> tuple[int, dict[str, Any]]:
    """Calls functions/<name>/handler.py exactly as the python3-http template does."""
    status, answer, _ = invoke_handler_reply(name, body)
    return status, answer


def invoke_handler_reply(name: str, body: dict[str, Any] | bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The status, JSON body and headers of a call of functions/<name>/handler.py, as the template answers."""
    handler = importlib.import_module(f"functions.{name}.handler")
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    event = template.Event(
        body=raw, headers={"Content-Type": "application/json"}, method="POST", query={}, path="/"
    )
    reply = template.to_response(handler.handle(event, template.Context()))
    payload = reply.get_data()
    return reply.status_code, json.loads(payload) if payload else {}, dict(reply.headers)


@pytest.fixture
def call_function() -> Callable[[str, dict[str, Any] | bytes], tuple[int, dict[str, Any]]]:
    return invoke_handler


@pytest.fixture(scope="session")
def s3_client(store: Store) -> Any:
    """A plain boto3 client, as any user of the platform would use."""
    s = store.settings
    return boto3.client(
        "s3", endpoint_url=s.endpoint, aws_access_key_id=s.access_key,
        aws_secret_access_key=s.secret_key, region_name=s.region,
    )


@dataclass(frozen=True)
class Account:
    """A person of the first workspace: its owner and an operator, with a password and an API key."""

    user: str
    password: str
    key: str
    workspace: str = LEGACY_WORKSPACE


def make_account(redis: Redis, workspace: str = LEGACY_WORKSPACE, role: str = "owner", operator: bool = False,
                 user: str = "") -> Account:
    """A new user who is a member of ``workspace`` with ``role``, and a key of theirs."""
    from accounts.apikeys import ApiKeys
    from accounts.roles import Role
    from accounts.upgrade import upgrade
    from accounts.users import Users
    from accounts.workspaces import Workspaces

    upgrade(redis)
    name, password = user or f"t-{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    Users(redis).create(name, password, operator=operator)
    if not Workspaces(redis).exists(workspace):
        Workspaces(redis).create(workspace, workspace=workspace)
    Workspaces(redis).set_role(workspace, name, Role(role))
    _, key = ApiKeys(redis).create(workspace, Role(role), name, name, operator=operator)
    return Account(name, password, key, workspace)


@pytest.fixture(scope="session")
def account(running_stack: Stack) -> Account:
    return make_account(running_stack.redis(), operator=True)


@pytest.fixture(scope="session")
def api_key(account: Account) -> str:
    return account.key


@pytest.fixture(scope="session")
def api(running_stack: Stack, api_key: str) -> httpx.Client:
    s = running_stack.settings
    return httpx.Client(base_url=s.url(s.ui_port) + "/api/v1", headers={"Authorization": f"Bearer {api_key}"})


def wait_for_upload(api: httpx.Client, key: str, timeout: float = 240.0) -> dict[str, Any]:
    """Waits until the upload of `key` is done or failed and returns its API record."""
    deadline = time.monotonic() + timeout
    found: dict[str, Any] = {}
    while time.monotonic() < deadline:
        listing = api.get("/uploads", params={"key": key}).json()["uploads"]
        if listing:
            found = api.get(f"/uploads/{listing[0]['id']}").json()
            if found["state"] in ("done", "failed"):
                return found
        time.sleep(0.1)
    raise AssertionError(f"upload {key} did not finish in {timeout} s; last seen: {found}")


def jpeg(size: tuple[int, int] = (640, 480), color: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()


def exif_jpeg(taken: str = "2019:07:14 09:30:00", size: tuple[int, int] = (320, 240),
              color: tuple[int, int, int] = (10, 120, 200)) -> bytes:
    """A JPEG a camera could have written: date taken with its offset, camera, lens, GPS and orientation."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0112] = "Canon", "Canon EOS 5D Mark IV", 1  # Make, Model, Orientation
    details = exif.get_ifd(0x8769)
    details[0x9003], details[0x9011], details[0xA434] = taken, "+02:00", "EF50mm f/1.8 STM"
    gps = exif.get_ifd(0x8825)  # 48° 51' 29.52" N, 2° 17' 40.2" W
    gps[1], gps[2], gps[3], gps[4] = "N", (48.0, 51.0, 29.52), "W", (2.0, 17.0, 40.2)
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG", exif=exif)
    return buffer.getvalue()


def dated_mp4(created: str = "2020-05-01T10:00:00.000000Z", seconds: float = 2.0) -> bytes:
    """An MP4 clip whose container says when and where it was recorded, as phones write it."""
    import av
    import numpy as np

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        container.metadata["creation_time"] = created
        container.metadata["location"] = "+48.8577+002.2950/"
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for number in range(int(seconds * 10)):
            pixels = np.full((120, 160, 3), (number * 10 % 255, 80, 160), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


DATA = Path(__file__).parent / "data"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failure that involved the stack, attach the end of every service log to the report."""
    outcome: Any = yield
    report = outcome.get_result()
    made = getattr(item, "funcargs", {}).get("stack") or getattr(item, "funcargs", {}).get("running_stack")
    if report.failed and isinstance(made, Stack) and made.log_dir.exists():
        for log in sorted(made.log_dir.glob("*.log")):
            lines = [line for line in log.read_text(errors="replace").splitlines() if not line.startswith(("W1", "I1"))]
            report.sections.append((f"service log {log.name}", "\n".join(lines[-25:])))
