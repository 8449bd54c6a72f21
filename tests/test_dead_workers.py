"""A worker may die at any moment, and Redis may go away: every upload still ends once, `done`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisAway
from rq import Queue
from rq.scheduler import RQScheduler

from accounts.usage import CPU_S, PROCESSED, today
from bench.sample_media import Scene, Speech, make_video
from embedded.settings import free_port
from embedded.stack import PROJECT, Stack
from scheduler import keys, steps
from scheduler.context import Context, using
from scheduler.settings import SchedulerSettings
from scheduler.uploads import FINAL_STEP_STATES, State, Step, StepState, Upload, Uploads
from scheduler.worker import CLEANUP_LOCK_S, Worker
from search.hook import SearchHook
from search.index import renewed
from storage.client import Store
from storage.settings import StorageSettings
from tests.waiting import wait_until

BUCKET = "chaos-uploads"  # the stack's own intake ignores it: only these tests' workers run these uploads
QUEUE = "chaos"


@pytest.fixture
def chaos(running_stack: Stack, redis_db: Redis, tmp_path: Path) -> Iterator[tuple[dict[str, str], Context]]:
    """Worker settings on the test Redis (db 15), their own queue and bucket, the stack's gateway and store."""
    env = {
        **{name: value for name, value in running_stack.environment().items()
           if name.startswith(("MEDIALENS_S3_", "MEDIALENS_SCHEDULER_"))},
        "MEDIALENS_SCHEDULER_REDIS_URL": running_stack.redis_url(15),
        "MEDIALENS_SCHEDULER_QUEUE": QUEUE,
        "MEDIALENS_SCHEDULER_HEARTBEAT_S": "1",
        "MEDIALENS_S3_UPLOADS_BUCKET": BUCKET,
        "MEDIALENS_INDEX_PATH": str(tmp_path / "chroma"),
        "MEDIALENS_INDEX_SERVER_URL": "",  # their own embedded index, not the stack's server
        "PYTHONPATH": str(PROJECT),
    }
    storage = StorageSettings(endpoint=env["MEDIALENS_S3_ENDPOINT"], access_key=env["MEDIALENS_S3_ACCESS_KEY"],
                              secret_key=env["MEDIALENS_S3_SECRET_KEY"], uploads_bucket=BUCKET)
    store = Store(storage)
    if not store.client.bucket_exists(BUCKET):
        store.client.make_bucket(BUCKET)
    settings = SchedulerSettings.model_validate({
        "redis_url": env["MEDIALENS_SCHEDULER_REDIS_URL"], "queue": QUEUE,
        "gateways": json.loads(running_stack.environment()["MEDIALENS_SCHEDULER_GATEWAYS"]),
        "gateway_password": env["MEDIALENS_SCHEDULER_GATEWAY_PASSWORD"],
    })
    with using(Context(settings, redis_db, store)) as context:
        yield env, context


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "scheduler.worker"], cwd=PROJECT, env={**os.environ, **env},
                                stdout=out, stderr=subprocess.STDOUT)


def submit(context: Context, data: bytes, suffix: str) -> str:
    key = f"chaos/{uuid.uuid4().hex}.{suffix}"
    etag = context.store.put_bytes(BUCKET, key, data, "video/x-matroska")
    upload = Upload(id=uuid.uuid4().hex[:20], bucket=BUCKET, key=key, etag=etag, size=len(data))
    records = Uploads(context.redis)
    records.create(upload)
    steps.start(upload.id, context.queue, records)
    return upload.id


def test_a_worker_killed_mid_step_loses_nothing(chaos: tuple[dict[str, str], Context], tmp_path: Path) -> None:
    env, context = chaos
    records = Uploads(context.redis)
    film = make_video([Scene(0.0, "HARBOR", (30, 60, 160)), Scene(4.0, "MARKET", (200, 50, 40))], 8.0,
                      [Speech(1.0, "fox")])
    upload = submit(context, film, "mkv")
    first = start_worker(env, tmp_path / "worker-a.log")

    def a_step_is_running() -> bool:
        return any(step.state == StepState.RUNNING for step in records.steps(upload).values())

    try:
        wait_until(a_step_is_running, 120, "a step of the upload is running")
        killed = {name for name, step in records.steps(upload).items() if step.state == StepState.RUNNING}
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed_at = time.time()
        second = start_worker(env, tmp_path / "worker-b.log")
        try:
            wait_until(lambda: records.get(upload).state in (State.DONE, State.FAILED), 240,
                       lambda: f"the upload ends; worker log:\n{(tmp_path / 'worker-b.log').read_text()[-3000:]}")
        finally:
            second.terminate()
            second.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    record, done_steps = records.get(upload), records.steps(upload)
    assert record.state == State.DONE, record.reason
    unfinished = {name: (step.state.value, step.reason, step.attempts) for name, step in done_steps.items()
                  if step.state not in FINAL_STEP_STATES or step.state == StepState.FAILED}
    assert not unfinished, f"steps not done though the upload is: {unfinished}"
    for name in killed:
        assert (done_steps[name].started_at or 0) > killed_at, f"{name} was run again after its worker died"


def redis_on(port: int, folder: Path) -> subprocess.Popen[bytes]:
    from embedded.redis_server import redis_binary

    server = subprocess.Popen([redis_binary(), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder),
                               "--appendonly", "yes", "--save", ""], stdout=subprocess.DEVNULL)
    wait_until(lambda: Redis(port=port).ping(), 30, "Redis answers", through=(RedisAway,))
    return server


def test_workers_ride_out_a_redis_outage(chaos: tuple[dict[str, str], Context], tmp_path: Path) -> None:
    env, _ = chaos
    port = free_port()
    server = redis_on(port, tmp_path)
    worker = start_worker({**env, "MEDIALENS_SCHEDULER_REDIS_URL": f"redis://127.0.0.1:{port}/0"},
                          tmp_path / "worker.log")
    try:
        connection = Redis(port=port)
        wait_until(lambda: connection.keys("rq:worker:*"), 60, "the worker registers")
        server.send_signal(signal.SIGKILL)
        server.wait()
        time.sleep(3)
        assert worker.poll() is None, f"the worker died:\n{(tmp_path / 'worker.log').read_text()[-3000:]}"
        server = redis_on(port, tmp_path)
        # A job enqueued after Redis is back is done by the same process.
        job = Queue(QUEUE, connection=connection).enqueue(steps.finish, "no-such-upload")
        wait_until(lambda: job.get_status(refresh=True) == "finished", 90,
                   lambda: f"the job runs; worker log:\n{(tmp_path / 'worker.log').read_text()[-3000:]}")
        assert job.return_value() == "deleted"
        assert worker.poll() is None
    finally:
        worker.terminate()
        worker.wait(30)
        server.terminate()
        server.wait(10)


def test_a_worker_moves_due_jobs_from_a_thread_and_frees_the_scheduler_lock_as_it_stops(
    chaos: tuple[dict[str, str], Context], tmp_path: Path
) -> None:
    # RQ forks a process for its scheduler, a second copy of the worker's memory; here it is a thread.
    env, context = chaos
    log = tmp_path / "worker.log"
    worker = start_worker(env, log)
    lock = RQScheduler.get_locking_key(QUEUE)
    try:
        job = context.queue.enqueue_in(timedelta(seconds=1), steps.finish, "no-such-upload")
        wait_until(lambda: job.get_status(refresh=True) == "finished", 60,
                   lambda: f"the retry-like job, due in a second, runs; worker log:\n{log.read_text()[-3000:]}")
        assert job.return_value() == "deleted"
        assert context.redis.get(lock), "the worker holds the scheduler's lock"
        assert psutil.Process(worker.pid).children() == [], "no process forked for the scheduler"
    finally:
        worker.terminate()
        worker.wait(30)
    assert worker.returncode == 0, log.read_text()[-3000:]
    assert context.redis.get(lock) is None, "a worker that stops lets another worker's scheduler take over at once"


def test_an_upload_deleted_while_it_runs_leaves_nothing_behind(
    running_stack: Stack, s3_client: Any, api: httpx.Client
) -> None:
    key = f"tests/{uuid.uuid4().hex[:8]}/film.mkv"
    film = make_video([Scene(0.0, "HARBOR", (30, 60, 160)), Scene(3.0, "MARKET", (200, 50, 40))], 6.0,
                      [Speech(1.0, "fox")])
    s3_client.put_object(Bucket="uploads", Key=key, Body=film, ContentType="video/x-matroska")
    connection = running_stack.redis(0)
    found: dict[str, Any] = {}

    def running() -> bool:
        listing = api.get("/uploads", params={"key": key}).json()["uploads"]
        found.update(listing[0] if listing else {})
        return any(step["state"] == "running" for step in found.get("steps", {}).values())

    wait_until(running, 120, "a step of the upload runs")
    upload = found["id"]
    assert api.delete(f"/uploads/{upload}").status_code == 200
    time.sleep(15)  # the steps that were running, and anything they would have queued, have ended
    assert connection.keys(f"ml:upload:{upload}*") == []
    assert not any(connection.zscore(listing, upload) for listing in connection.keys("ml:uploads*")
                   if connection.type(listing) == b"zset")
    store = running_stack.store()
    assert list(store.keys(store.settings.artefacts_bucket, f"{upload}/")) == []
    assert api.get(f"/uploads/{upload}").status_code == 404


def test_a_worker_killed_while_it_cleans_up_holds_the_cleanup_lock_a_minute_at_most(redis_db: Redis) -> None:
    # RQ's own lock lasts 15 minutes: a worker killed holding it (or cut off from Redis) would leave the
    # jobs of every dead worker where nothing takes them back for that long.
    worker = Worker([Queue(QUEUE, connection=redis_db)], heartbeat_s=1, connection=redis_db)
    (queue,) = worker.queues
    assert queue.acquire_maintenance_lock()
    assert 0 < redis_db.ttl(queue.registry_cleaning_key) <= CLEANUP_LOCK_S <= 60
    assert not queue.acquire_maintenance_lock(), "one worker cleans at a time"


def test_an_idle_worker_cleans_up_every_few_beats(redis_db: Redis) -> None:
    # Maintenance runs between waits for a job: RQ's own wait (near 7 minutes) left a retry whose
    # scheduler a Redis outage had stopped, and the jobs of dead workers, where they were that long.
    worker = Worker([Queue(QUEUE, connection=redis_db)], heartbeat_s=1, connection=redis_db)
    assert worker.maintenance_interval == 3 and worker.dequeue_timeout <= 3, "waits no longer than it cleans"


def test_a_writer_killed_mid_write_frees_the_index_within_its_lease(redis_db: Redis) -> None:
    # Every worker's index job waits for this lock: held for the longest write there could be by a
    # writer that died, it kept every worker waiting, and no other job ran, for ten minutes.
    lock = redis_db.lock("test:index-lock", timeout=1, thread_local=False)
    assert lock.acquire(blocking=False)
    with renewed(lock, 0.3):
        time.sleep(2.0)
        assert lock.owned(), "a live writer keeps its lock past the lease"
    # The writer dies here, without releasing it.
    time.sleep(1.5)
    assert redis_db.lock("test:index-lock", timeout=1).acquire(blocking=False), "a dead writer's lock lapses"


class DiesMidFinish:
    """A hook during which the worker dies: after the result document is stored, before the end is written."""

    def finished(self, upload: str, pipe: Any) -> None:
        raise SystemExit("worker killed")

    def deleted(self, upload: str, workspace: str) -> dict[str, int]:
        return {}

    def erase(self, workspace: str) -> dict[str, int]:
        return {}


def test_a_finish_killed_midway_and_run_again_ends_the_upload_once(redis_db: Redis, store: Store) -> None:
    """The end of an upload (its state, its usage booking, its index job) is written at once or not at all:
    a `finish` killed midway and run again (RQ retries it) books the file once and queues its indexing."""
    bucket = store.settings.uploads_bucket
    key = f"finish-once/{uuid.uuid4().hex}.jpg"
    upload = Upload(id=uuid.uuid4().hex[:20], bucket=bucket, key=key, etag="e", size=1, media_type="image")
    records, queue = Uploads(redis_db), Queue("finish-once", connection=redis_db)
    records.create(upload)
    records.plan_steps(upload.id, ["pose"])
    started = time.time()
    records.settle(upload.id, Step(name="pose", state=StepState.DONE, started_at=started, finished_at=started + 2),
                   {"people": []})
    booked = keys.usage_day(upload.workspace, today())
    index_job = steps.job_id(upload.id, steps.INDEX)
    search = SearchHook(records, queue, lambda: pytest.fail("nothing to forget"))

    with using(Context(SchedulerSettings(), redis_db, store, hooks=[search, DiesMidFinish()])):
        with pytest.raises(SystemExit):
            steps.finish(upload.id)
    assert records.get(upload.id).state == State.QUEUED, "ended though its end was not written"
    assert redis_db.hget(booked, PROCESSED) is None, "booked though the upload did not end"
    assert index_job not in queue.job_ids

    with using(Context(SchedulerSettings(), redis_db, store, hooks=[search])):
        assert steps.finish(upload.id) == State.DONE.value
        assert steps.finish(upload.id) == State.DONE.value, "a third run (its retry) changes nothing"
    assert records.get(upload.id).state == State.DONE
    assert int(redis_db.hget(booked, PROCESSED) or 0) == 1
    assert float(redis_db.hget(booked, CPU_S) or 0) == pytest.approx(2.0)
    assert queue.job_ids.count(index_job) == 1, "its indexing is queued with its end, once"
