"""The sweep for lost jobs (issue 15): a step, a `finish` or a probe whose job vanished is put back, and
the upload ends `done`; what cannot be put back fails with a plain reason. And the jobs of a finished
upload leave Redis soon after, with nothing of the upload lost."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PIL import Image
from redis import Redis
from rq import SimpleWorker
from rq.job import Job
from rq.registry import ScheduledJobRegistry
from skimage import data as samples

from embedded.stack import Stack
from scheduler import keys, metrics, steps, sweep
from scheduler.context import Context, using
from scheduler.settings import SchedulerSettings
from scheduler.uploads import State, StepState, Upload, Uploads
from storage.client import Store
from storage.settings import StorageSettings

BUCKET = "sweep-uploads"  # the stack's own intake ignores it: only these tests run these uploads
QUEUE = "sweep"
GRACE_S = 60.0


@pytest.fixture
def context(running_stack: Stack, redis_db: Redis) -> Iterator[Context]:
    """The test Redis (db 15) with a queue of its own, the stack's functions and store."""
    env = running_stack.environment()
    store = Store(StorageSettings(endpoint=env["MEDIALENS_S3_ENDPOINT"], access_key=env["MEDIALENS_S3_ACCESS_KEY"],
                                  secret_key=env["MEDIALENS_S3_SECRET_KEY"], uploads_bucket=BUCKET))
    if not store.client.bucket_exists(BUCKET):
        store.client.make_bucket(BUCKET)
    settings = SchedulerSettings.model_validate({
        "redis_url": running_stack.redis_url(15), "queue": QUEUE,
        "gateways": json.loads(env["MEDIALENS_SCHEDULER_GATEWAYS"]),
        "gateway_password": env["MEDIALENS_SCHEDULER_GATEWAY_PASSWORD"],
        "gateway_token": env["MEDIALENS_SCHEDULER_GATEWAY_TOKEN"],
        "sweep_grace_s": GRACE_S, "sweep_repairs": 1,
    })
    with using(Context(settings, redis_db, store)) as made:
        yield made


def photo() -> bytes:
    image = Image.fromarray(samples.coffee())
    image.thumbnail((160, 160))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue()


def submit(context: Context, start: bool = True) -> str:
    data = photo()
    key = f"sweep/{uuid.uuid4().hex}.jpg"
    etag = context.store.put_bytes(BUCKET, key, data, "image/jpeg")
    upload = Upload(id=uuid.uuid4().hex[:20], bucket=BUCKET, key=key, etag=etag, size=len(data),
                    content_type="image/jpeg")
    records = Uploads(context.redis)
    records.create(upload)
    if start:
        steps.start(upload.id, context.queue, records)
    return upload.id


def work(context: Context, jobs: int | None = None) -> None:
    SimpleWorker([context.queue], connection=context.redis).work(burst=True, max_jobs=jobs, logging_level="WARNING")


def lose(context: Context, upload: str, name: str) -> None:
    """The job is gone from every queue and registry, and with it any retry it had scheduled."""
    Job.fetch(steps.job_id(upload, name), connection=context.redis).delete()


def sweep_after_grace(context: Context) -> list[sweep.Repair]:
    """Two sweeps: the first finds what has no job, the second, a grace period later, repairs it."""
    first = sweep.sweep(context)
    assert first == [], "nothing is repaired before its grace period is over"
    return sweep.sweep(context, now=time_after_grace())


def time_after_grace() -> float:
    return time.time() + GRACE_S + 1


def repaired(context: Context) -> dict[str, int]:
    return {keys.text(k): int(v) for k, v in context.redis.hgetall(keys.SWEEP_REPAIRS).items()}


def test_a_running_uploads_lost_step_is_queued_again_and_the_upload_ends_done(context: Context) -> None:
    records = Uploads(context.redis)
    upload = submit(context)
    work(context, jobs=1)  # probe, which plans the image steps
    step = records.step(upload, "ocr")
    step.state = StepState.RUNNING
    records.put_step(upload, step)
    lose(context, upload, "ocr")  # its worker and its retry gone, as when Redis forgot them
    work(context)
    assert records.get(upload).state == State.RUNNING and records.step(upload, "ocr").state == StepState.RUNNING
    assert [(found.step, found.kind) for found in sweep_after_grace(context)] == [("ocr", sweep.REQUEUED)]
    work(context)
    assert records.get(upload).state == State.DONE, records.get(upload).reason
    assert records.step(upload, "ocr").state == StepState.DONE
    assert repaired(context) == {sweep.REQUEUED: 1}
    scraped = metrics.exposition(context.redis, QUEUE).decode()
    assert 'medialens_sweep_repairs_total{kind="requeued"} 1.0' in scraped
    assert sweep.sweep(context, now=time_after_grace()) == [], "a finished upload is left alone"


def test_a_lost_finish_is_queued_once_every_step_has_settled(
    context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = Uploads(context.redis)
    upload = submit(context)
    with monkeypatch.context() as patch:
        patch.setattr(steps, "enqueue_finish", lambda q, upload: None)  # lost on its way to Redis
        work(context)
    assert records.get(upload).state == State.RUNNING
    assert all(step.state == StepState.DONE for step in records.steps(upload).values())
    assert [(found.step, found.kind) for found in sweep_after_grace(context)] == [(steps.FINISH, sweep.FINISHED)]
    work(context)
    assert records.get(upload).state == State.DONE
    assert repaired(context) == {sweep.FINISHED: 1}


def test_a_queued_uploads_lost_probe_is_queued_again(context: Context) -> None:
    records = Uploads(context.redis)
    upload = submit(context)
    never_started = submit(context, start=False)  # the intake stopped between recording it and planning probe
    lose(context, upload, "probe")
    found = sorted((found.upload, found.step, found.kind) for found in sweep_after_grace(context))
    assert found == sorted([(upload, "probe", sweep.REQUEUED), (never_started, "probe", sweep.REQUEUED)])
    work(context)
    assert records.get(upload).state == State.DONE and records.get(never_started).state == State.DONE


def test_a_retry_left_overdue_by_a_stopped_scheduler_is_queued_again(context: Context) -> None:
    records = Uploads(context.redis)
    upload = submit(context)
    retry = Job.fetch(steps.job_id(upload, "probe"), connection=context.redis)
    context.queue.remove(retry)
    ScheduledJobRegistry(queue=context.queue).schedule(retry, datetime.now(UTC) - timedelta(seconds=5))
    assert [(found.step, found.kind) for found in sweep_after_grace(context)] == [("probe", sweep.REQUEUED)]
    assert ScheduledJobRegistry(queue=context.queue).get_job_ids(cleanup=False) == [], "it runs once, not twice"
    work(context)
    assert records.get(upload).state == State.DONE


def test_a_step_that_cannot_be_put_back_fails_with_a_plain_reason(context: Context) -> None:
    records = Uploads(context.redis)
    upload = submit(context, start=False)
    records.set_state(upload, State.RUNNING)
    records.plan_steps(upload, ["ocr"])  # planned by a version that kept no request, and its job lost
    (found,) = sweep_after_grace(context)
    assert (found.step, found.kind) == ("ocr", sweep.FAILED)
    assert "kept no copy of its request" in records.step(upload, "ocr").reason
    assert Job.exists(steps.job_id(upload, steps.FINISH), connection=context.redis), "the upload still ends"


def test_a_step_lost_again_after_its_repairs_fails(context: Context) -> None:
    records = Uploads(context.redis)
    upload = submit(context)
    lose(context, upload, "probe")
    assert [found.kind for found in sweep_after_grace(context)] == [sweep.REQUEUED]
    lose(context, upload, "probe")
    assert [found.kind for found in sweep_after_grace(context)] == [sweep.FAILED]
    assert "lost 2 times" in records.step(upload, "probe").reason
    work(context)
    assert records.get(upload).state == State.FAILED


def test_one_sweep_runs_per_interval(context: Context) -> None:
    assert sweep.run_due(context, "worker-a") == []
    assert sweep.run_due(context, "worker-b") is None


def test_a_sweep_reads_the_backlog_in_batches_and_repairs_only_what_was_lost(
    context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sweep, "BATCH", 2)
    records = Uploads(context.redis)
    backlog = [submit(context) for _ in range(5)]
    lost, gone = backlog[3], backlog[4]
    lose(context, lost, "probe")
    lose(context, gone, "probe")
    records.delete(gone)
    listed = Uploads.unfinished
    # Deleted between the sweep's reading of the listing and of the records: left alone.
    monkeypatch.setattr(Uploads, "unfinished", lambda self, workspaces: [*listed(self, workspaces), gone])
    assert [(found.upload, found.step, found.kind) for found in sweep_after_grace(context)] == [
        (lost, "probe", sweep.REQUEUED)]
    work(context)
    assert [records.get(upload).state for upload in backlog[:4]] == [State.DONE] * 4


def lost_probe_past_grace(context: Context) -> str:
    """An upload whose probe has been without a job since a sweep found it so; the next sweep after the grace
    period repairs it."""
    upload = submit(context)
    lose(context, upload, "probe")
    assert sweep.sweep(context) == []  # seen without a job; the grace period starts
    return upload


def while_reading(context: Context, monkeypatch: pytest.MonkeyPatch, then: Callable[[], object]) -> None:
    """``then`` happens as the sweep reads its first batch."""
    read = Uploads.progress_of

    def reading(self: Uploads, uploads: list[str]) -> list[Any]:
        then()
        return read(self, uploads)

    monkeypatch.setattr(Uploads, "progress_of", reading)


@pytest.mark.parametrize("begun", ["runs", "ran"])
def test_a_sweep_stops_before_it_repairs_once_another_sweep_began(
    context: Context, monkeypatch: pytest.MonkeyPatch, begun: str
) -> None:
    """A sweep that ran past its interval (a paused worker, a slow Redis) lost its lock to another worker's sweep,
    which read the same jobs (and is still running, or has ended since): were both to repair, the step would be
    queued twice and counted twice towards the repairs that fail it."""
    records = Uploads(context.redis)
    upload = lost_probe_past_grace(context)

    def another_sweep() -> None:
        context.redis.delete(keys.SWEEP_LOCK)  # expired
        assert sweep.Turn(context.redis, "worker-b", 60_000).take()
        if begun == "ran":
            context.redis.delete(keys.SWEEP_LOCK)  # and its lock, in turn, expired

    while_reading(context, monkeypatch, another_sweep)
    monkeypatch.setattr(sweep, "SHARE", 0.0001)  # a sweep this long puts the next one off, if it still can
    assert sweep.run_due(context, "worker-a", now=time_after_grace()) == [], "worker-a repairs nothing"
    assert repaired(context) == {}
    holder = context.redis.get(keys.SWEEP_LOCK)
    assert keys.text(holder or b"").startswith("worker-b") if begun == "runs" else holder is None, \
        "nor does it put the next sweep off in the other's name"
    assert 0 < context.redis.pttl(keys.SWEEP_LOCK) <= 60_000 or begun == "ran"
    assert context.redis.hlen(keys.SWEEP_MISSING) == 1, "what it saw missing, and since when, stays"
    monkeypatch.undo()
    assert [found.kind for found in sweep.sweep(context, now=time_after_grace())] == [sweep.REQUEUED]
    work(context)
    assert records.get(upload).state == State.DONE
    assert repaired(context) == {sweep.REQUEUED: 1}


def test_a_sweep_whose_lock_expired_with_no_other_sweep_begun_goes_on(
    context: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long sweep that outlasted its lock, with no sweep begun since, takes it back and repairs: under a backlog
    that keeps every sweep long, stopping would leave lost steps lost."""
    lost_probe_past_grace(context)
    while_reading(context, monkeypatch, lambda: context.redis.delete(keys.SWEEP_LOCK))
    assert [found.kind for found in sweep.run_due(context, "worker-a", now=time_after_grace()) or []] == [
        sweep.REQUEUED]
    assert keys.text(context.redis.get(keys.SWEEP_LOCK) or b"").startswith("worker-a#"), "held again"
    assert context.redis.hlen(keys.SWEEP_MISSING) == 0


def test_a_sweep_holds_its_lock_while_it_reads(context: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    """A backlog read in many batches can take longer than the interval: the lock is renewed after each, so no
    other sweep begins meanwhile."""
    monkeypatch.setattr(sweep, "BATCH", 1)
    for _ in range(2):
        submit(context)
    left: list[int] = []

    def nearly_expired() -> None:
        left.append(context.redis.pttl(keys.SWEEP_LOCK))
        context.redis.pexpire(keys.SWEEP_LOCK, 1_000)

    while_reading(context, monkeypatch, nearly_expired)
    assert sweep.run_due(context, "worker-a") == []
    assert len(left) >= 2 and all(ttl > 1_000 for ttl in left), "renewed to the interval after each batch"


def test_a_long_sweep_puts_the_next_one_off(context: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sweep of a large backlog costs more: the next waits so that sweeping stays a small share of a worker."""
    interval_ms = context.settings.sweep_interval_s * 1000
    sweeping = sweep.sweep

    def slow(context: Context, now: float | None = None, turn: sweep.Turn | None = None) -> list[sweep.Repair]:
        time.sleep(0.05)
        return sweeping(context, now, turn)

    monkeypatch.setattr(sweep, "sweep", slow)
    monkeypatch.setattr(sweep, "SHARE", 0.0001)  # 0.05 s of sweeping: 500 s before the next, past the most
    assert sweep.run_due(context, "worker-a") == []
    assert interval_ms < context.redis.pttl(keys.SWEEP_LOCK) <= interval_ms * sweep.PUT_OFF_MOST, \
        "put off, but not past the most"
    assert sweep.run_due(context, "worker-b") is None


def test_a_finished_uploads_jobs_leave_redis_and_the_upload_keeps_its_results(context: Context) -> None:
    """Finished jobs were kept a day: 62 of the 71 KiB an upload left in Redis, and nothing reads them."""
    kept_s = 120  # below RQ's own default (500 s): the setting is what sets it
    context.settings = context.settings.model_copy(update={"result_ttl_s": kept_s})
    records = Uploads(context.redis)
    upload = submit(context)
    work(context)
    assert records.get(upload).state == State.DONE
    left = context.redis.keys(f"rq:*{upload}*")
    assert any(keys.text(key).startswith(f"rq:job:{upload}") for key in left), "the jobs are there while recent"
    assert all(0 < context.redis.ttl(key) <= kept_s for key in left), "every key of them, results too, expires"
    context.redis.delete(*left)  # as they expire
    assert records.get(upload).state == State.DONE
    assert set(records.results(upload)) >= {"probe", "thumbnail", "ocr"}, "its results stay"
    assert sweep.sweep(context, now=time_after_grace()) == [], "and nothing takes it for lost"
