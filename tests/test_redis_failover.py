"""Redis behind Sentinel: the URL that names it, the barrier for writes that must survive a failover, and
the master killed mid-batch while a replica is promoted: every upload still ends `done`, once (issue 19)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from pydantic import ValidationError
from redis import Redis
from skimage import data as samples

from accounts.upgrade import upgrade
from embedded.redis_server import redis_binary
from embedded.settings import free_port
from embedded.stack import PROJECT, Stack
from scheduler.context import Context, using
from scheduler.intake import create_app
from scheduler.redis_connection import RedisUrlError, SentinelGroup, connect, replicated, sentinel_group
from scheduler.settings import SchedulerSettings
from scheduler.uploads import FINAL_STEP_STATES, State, StepState, Upload, Uploads
from storage.client import Store
from storage.events import UploadEvent, minio_notification
from storage.layout import LEGACY_WORKSPACE, result_key, upload_key
from tests.waiting import wait_until

# These tests kill servers: a check that errs while one is away counts as a no and is asked again.
AWAY = (Exception,)

MASTER = "medialens"
PASSWORD = "failover-secret"
QUEUE = "failover"


# -- the URL ----------------------------------------------------------------------------------------


def test_a_sentinel_url_names_its_sentinels_master_database_and_passwords() -> None:
    group = sentinel_group("redis+sentinel://app:p%40ss@10.0.0.1:26380,10.0.0.2,[fd00::3]:26381/medialens/2"
                           "?sentinel_password=watch")
    assert group == SentinelGroup(
        sentinels=(("10.0.0.1", 26380), ("10.0.0.2", 26379), ("fd00::3", 26381)), master="medialens", db=2,
        username="app", password="p@ss", sentinel_password="watch", ssl=False)
    assert sentinel_group("rediss+sentinel://h:1/m") == SentinelGroup((("h", 1),), "m", ssl=True)
    assert sentinel_group("redis://:secret@127.0.0.1:6390/3") is None, "a plain URL is one server's"


@pytest.mark.parametrize(("url", "says"), [
    ("http://:secret@host:6379/0", "a Redis URL starts with redis://"),
    ("host:6379", "a Redis URL starts with redis://"),
    ("redis+sentinel://:secret@/medialens", "names at least one sentinel"),
    ("redis+sentinel://:secret@h1:26379,h2:26379", "names the master after the sentinels"),
    ("redis+sentinel://:secret@h1:sentinel/medialens", "has no valid port"),
    ("redis+sentinel://:secret@h1:26379/medialens/zero", "must be a number"),
    ("redis+sentinel://:secret@h1:26379/medialens/0/1", "path is /<master>[/<db>]"),
    ("redis+sentinel://:secret@h1:26379/medialens?db=2", "takes only sentinel_password"),
    ("redis://:secret@host:port/0", "cannot be used"),
])
def test_a_url_that_cannot_be_used_says_why_and_never_shows_its_password(url: str, says: str) -> None:
    with pytest.raises(RedisUrlError) as raised:
        connect(url)
    assert says in str(raised.value) and "secret" not in str(raised.value)
    with pytest.raises(ValidationError) as invalid:
        SchedulerSettings(redis_url=url)
    assert "redis_url" in str(invalid.value) and says in str(invalid.value) and "secret" not in str(invalid.value)


def test_writes_that_must_survive_wait_for_one_replica_under_sentinel_and_none_on_one_server() -> None:
    assert SchedulerSettings(redis_url="redis+sentinel://h:26379/m").replicas_wanted() == 1
    assert SchedulerSettings(redis_url="redis://h:6379/0").replicas_wanted() == 0
    assert SchedulerSettings(redis_url="redis://h:6379/0", redis_replicas=2).replicas_wanted() == 2


def test_the_intake_refuses_an_event_no_replica_holds_and_accepts_it_again_once_one_does(
    redis_db: Redis, redis_server: Stack
) -> None:
    # One server and no replica: the upload is recorded, but the bucket is told to send the event again.
    settings = SchedulerSettings(redis_url=redis_server.redis_url(15), redis_replicas=1, redis_replica_wait_ms=50,
                                 intake_token="t", queue=QUEUE)
    upgrade(redis_db)
    event = UploadEvent("uploads", upload_key(LEGACY_WORKSPACE, "alone.jpg"), "e1", 10, "image/jpeg")
    post: dict[str, object] = {"json": minio_notification(event), "headers": {"Authorization": "Bearer t"}}
    with using(Context(settings, redis_db, Store())):
        app = create_app(settings)
        refused = app.test_client().post("/events", **post)
        assert refused.status_code == 503 and "send the event again" in refused.get_json()["error"]
        assert len(list(Uploads(redis_db).all(LEGACY_WORKSPACE))) == 1, "recorded, so the next delivery is a duplicate"
    with using(Context(settings.model_copy(update={"redis_replicas": 0}), redis_db, Store())):
        again = create_app(settings).test_client().post("/events", **post)
        assert again.status_code == 200 and again.get_json()["started"] == []
    assert len(list(Uploads(redis_db).all(LEGACY_WORKSPACE))) == 1


# -- a primary, a replica and three sentinels on loopback ---------------------------------------------


class RedisGroup:
    """Two data servers (one the master, one its replica) and three sentinels watching them, as
    gateway-config/README.md ("Redis failover") sets them up, with failure noticed within a second."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ports = {"a": free_port(), "b": free_port()}
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start_server(self, name: str, replica_of: int | None = None) -> None:
        folder = self.folder / name
        folder.mkdir(exist_ok=True)
        config = folder / "redis.conf"
        if not config.exists():
            config.write_text(f"requirepass {PASSWORD}\nmasterauth {PASSWORD}\n"
                              + (f"replicaof 127.0.0.1 {replica_of}\n" if replica_of else ""))
        self._spawn(name, [str(config), "--bind", "127.0.0.1", "--port", str(self.ports[name]), "--dir", str(folder),
                           "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""])

    def start_sentinels(self, master_port: int) -> None:
        for number, port in enumerate(self.sentinel_ports):
            config = self.folder / f"sentinel-{number}.conf"
            config.write_text(f"port {port}\nbind 127.0.0.1\ndir {self.folder}\n"
                              f"sentinel monitor {MASTER} 127.0.0.1 {master_port} 2\n"
                              f"sentinel auth-pass {MASTER} {PASSWORD}\n"
                              f"sentinel down-after-milliseconds {MASTER} 1000\n"
                              f"sentinel failover-timeout {MASTER} 10000\n")
            self._spawn(f"sentinel-{number}", [str(config), "--sentinel"])

    def _spawn(self, name: str, arguments: list[str]) -> None:
        with (self.folder / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen([redis_binary(), *arguments], stdout=log,
                                                    stderr=subprocess.STDOUT, cwd=self.folder)

    def url(self) -> str:
        sentinels = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://:{PASSWORD}@{sentinels}/{MASTER}/0"

    def master(self) -> str:
        """The data server the sentinels name as master now."""
        found: Any = self.sentinel().sentinel_get_master_addr_by_name(MASTER)
        port = int(found[1]) if found else 0
        return next((name for name, known in self.ports.items() if known == port), "")

    def whole(self) -> bool:
        """Whether the master the sentinels name is a master and the other data server its replica."""
        master = self.master()
        replicas = [name for name in self.ports if name != master]
        return bool(master) and self.server(master).info("replication")["role"] == "master" and all(
            self.server(name).info("replication")["role"] == "slave" for name in replicas)

    def sentinel(self) -> Redis:
        return Redis(port=self.sentinel_ports[0])

    def sentinels_seen(self) -> int:
        """How many other sentinels the first one knows of."""
        found: Any = self.sentinel().sentinel_sentinels(MASTER)
        return len(found)

    def server(self, name: str) -> Redis:
        return Redis(port=self.ports[name], password=PASSWORD)

    def kill(self, name: str) -> None:
        self.processes[name].send_signal(signal.SIGKILL)
        self.processes[name].wait()

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-8:])
                         for log in sorted(self.folder.glob("*.log")))

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def redis_group(tmp_path: Path) -> Iterator[RedisGroup]:
    group = RedisGroup(tmp_path / "redis")
    group.folder.mkdir()
    try:
        group.start_server("a")
        group.start_server("b", replica_of=group.ports["a"])
        wait_until(lambda: group.server("b").info("replication")["master_link_status"] == "up", 30,
                   lambda: f"the replica did not sync\n{group.logs()}", through=AWAY)
        group.start_sentinels(group.ports["a"])
        wait_until(lambda: group.master() == "a" and group.sentinels_seen() == 2, 30,
            lambda: f"the sentinels did not find each other\n{group.logs()}", through=AWAY)
        yield group
    finally:
        group.stop()


def test_a_write_past_the_barrier_is_on_the_replica(redis_group: RedisGroup) -> None:
    master = connect(redis_group.url())
    # Written on other connections of the pool than the barrier's own.
    for number in range(20):
        master.set(f"barrier-test:{number}", number)
    assert replicated(master, 1, 5000) == 1
    assert redis_group.server("b").get("barrier-test:19") == b"19"


def test_a_command_waiting_on_the_master_that_dies_is_answered_by_the_promoted_replica(
    redis_group: RedisGroup
) -> None:
    # A worker waits for its next job like this: the command is in flight when the master dies, and
    # its retries must reconnect to the new master, not to the address the connection had.
    master = connect(redis_group.url())
    answer: list[Any] = []
    waiting = threading.Thread(target=lambda: answer.append(master.blpop(["jobs"], timeout=60)))
    waiting.start()
    wait_until(lambda: redis_group.server("a").info("clients")["blocked_clients"] == 1, 30, redis_group.logs,
               through=AWAY)
    redis_group.kill("a")
    wait_until(lambda: redis_group.master() == "b", 60, redis_group.logs, through=AWAY)
    connect(redis_group.url()).rpush("jobs", "job-1")
    waiting.join(60)
    assert answer == [(b"jobs", b"job-1")]


# -- the whole pipeline, its Redis failing over mid-batch ---------------------------------------------


def picture(pixels: object, side: int = 240) -> bytes:
    image = Image.fromarray(pixels)  # type: ignore[arg-type]
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue()


PICTURES = [samples.astronaut, samples.coffee, samples.chelsea, samples.rocket]


@pytest.fixture
def pipeline_on_sentinel(
    stack: Stack, store: Store, redis_group: RedisGroup, tmp_path: Path
) -> Iterator[tuple[Store, str, Callable[[], str]]]:
    """The intake, the bucket bridge and two workers, all on the Sentinel group, with the session's store
    and functions host; a bucket of their own. Yields the store, the bucket and a reader of their logs."""
    stack.up(only=["functions"])
    bucket = f"failover-{uuid.uuid4().hex[:8]}"
    store.client.make_bucket(bucket)
    intake_port = free_port()
    env = {
        **os.environ, **stack.environment(),
        "MEDIALENS_SCHEDULER_REDIS_URL": redis_group.url(),
        "MEDIALENS_SCHEDULER_QUEUE": QUEUE,
        "MEDIALENS_SCHEDULER_HEARTBEAT_S": "1",
        "MEDIALENS_SCHEDULER_SWEEP_INTERVAL_S": "2",
        "MEDIALENS_SCHEDULER_SWEEP_GRACE_S": "10",
        "MEDIALENS_SCHEDULER_INTAKE_PORT": str(intake_port),
        "MEDIALENS_S3_UPLOADS_BUCKET": bucket,
        "MEDIALENS_BRIDGE_INTAKE_URL": f"http://127.0.0.1:{intake_port}/events",
        "MEDIALENS_EMBEDDED_STATE_DIR": str(tmp_path),
        "MEDIALENS_INDEX_PATH": str(tmp_path / "chroma"),
        "MEDIALENS_INDEX_SERVER_URL": "",  # their own embedded index, not the stack's server
        "PYTHONPATH": str(PROJECT),
    }
    upgrade(connect(redis_group.url()))
    processes: dict[str, subprocess.Popen[bytes]] = {}

    def logs() -> str:
        return "\n".join(f"--- {name}\n" + "\n".join(
            (tmp_path / f"{name}.log").read_text(errors="replace").splitlines()[-15:]) for name in processes)

    try:
        for name, module in [("intake", "scheduler.intake"), ("bridge", "embedded.bridge"),
                             ("worker-1", "scheduler.worker"), ("worker-2", "scheduler.worker")]:
            with (tmp_path / f"{name}.log").open("ab") as log:
                processes[name] = subprocess.Popen([sys.executable, "-m", module], cwd=PROJECT, env=env, stdout=log,
                                                   stderr=subprocess.STDOUT)
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{intake_port}/healthz", timeout=1).status_code == 200, 60,
                   logs, through=AWAY)
        yield store, bucket, logs
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_the_master_killed_mid_batch_loses_nothing_and_runs_every_upload_once(
    pipeline_on_sentinel: tuple[Store, str, Callable[[], str]], redis_group: RedisGroup
) -> None:
    # The store starts before the Redis group (pipeline_on_sentinel's order): the store's fixed block of
    # ports is chosen first, and the group's kernel-chosen ones then avoid it.
    store, bucket, logs = pipeline_on_sentinel
    master = connect(redis_group.url())
    records = Uploads(master)
    keys = [upload_key(LEGACY_WORKSPACE, f"failover/{index}.jpg") for index in range(len(PICTURES))]
    journal: list[str] = []

    def found() -> dict[str, list[Upload]]:
        mine: dict[str, list[Upload]] = {key: [] for key in keys}
        for upload in records.all(LEGACY_WORKSPACE):
            if upload.key in mine:
                mine[upload.key].append(upload)
        return mine

    def report() -> str:
        lines = [*journal]
        for key, uploads in found().items():
            for upload in uploads:
                steps = {name: step.state.value for name, step in records.steps(upload.id).items()}
                lines.append(f"{key}: {upload.id} {upload.state.value} {upload.reason!r} {steps}")
            if not uploads:
                lines.append(f"{key}: no record")
        return "\n".join(lines) + f"\n{logs()}\n{redis_group.logs()}"

    def put(index: int) -> None:
        store.put_bytes(bucket, keys[index], picture(PICTURES[index]()), "image/jpeg")

    half = len(keys) // 2
    for index in range(half):
        put(index)

    def mid_batch() -> bool:
        uploads = [upload for listed in found().values() for upload in listed]
        settled = any(step.state == StepState.DONE for upload in uploads for step in records.steps(upload.id).values())
        return settled and any(upload.state not in (State.DONE, State.FAILED) for upload in uploads)

    wait_until(mid_batch, 90, report, through=AWAY)
    began = time.monotonic()
    journal.append(f"killed the master; uploads then: {[u.state.value for listed in found().values() for u in listed]}")
    redis_group.kill("a")
    # Uploads keep coming while the sentinels promote the replica: their events wait for a replica.
    for index in range(half, len(keys)):
        put(index)
    wait_until(lambda: redis_group.master() == "b", 60, report, through=AWAY)
    journal.append(f"{time.monotonic() - began:.1f} s: the replica was promoted")
    # The old master comes back, as its supervisor would start it: the sentinels make it a replica. On a
    # loaded machine they may fail over once more (a master silent for a second is down to them, and the
    # new one rewrites its log as it takes over): whichever master they settle on, the group is whole again.
    redis_group.start_server("a")
    wait_until(redis_group.whole, 60, report, through=AWAY)
    journal.append(f"{time.monotonic() - began:.1f} s: whole again, {redis_group.master()} the master")

    def finished() -> bool:
        return all(len(uploads) == 1 and uploads[0].state in (State.DONE, State.FAILED) for uploads in found().values())

    wait_until(finished, 180, report, through=AWAY)
    journal.append(f"{time.monotonic() - began:.1f} s: every upload ended")
    print(report())
    for key, (upload,) in found().items():
        assert upload.state == State.DONE, f"{key} ended {upload.state.value}: {upload.reason}\n{report()}"
        steps = records.steps(upload.id)
        assert all(step.state in FINAL_STEP_STATES and step.state != StepState.FAILED for step in steps.values()), (
            f"{key}: {({name: step.state.value for name, step in steps.items()})}")
        document = json.loads(store.get_bytes(store.settings.results_bucket, result_key(key)))
        assert document["upload"]["id"] == upload.id and document["upload"]["state"] == "done", document["upload"]
    assert redis_group.whole(), report()
