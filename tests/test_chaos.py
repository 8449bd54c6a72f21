"""Chaos on a stack of its own: every component killed in turn mid-batch, then `make down` and `make up`
mid-batch; every upload still ends `done`, once, with its results document (issue 15)."""

from __future__ import annotations

import io
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from PIL import Image
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry
from rq.scheduler import RQScheduler
from skimage import data as samples

from bench.sample_media import Scene, Speech, make_video, speech_bytes
from embedded.settings import EmbeddedSettings, on_free_ports
from embedded.stack import Stack, alive
from scheduler import keys
from scheduler.settings import SchedulerSettings
from scheduler.steps import job_id
from scheduler.uploads import FINAL_STEP_STATES, State, StepState, Upload, Uploads
from storage.layout import LEGACY_WORKSPACE, result_key, upload_key
from tests.waiting import wait_until

# These tests kill servers: a check that errs while one is away counts as a no and is asked again.
AWAY = (Exception,)

# Each killed in turn, a few seconds apart, while uploads keep arriving; WORKER is whichever worker
# holds a job at that moment.
WORKER = "a busy worker"
VICTIMS = [WORKER, "functions", "intake", "bridge", "redis", "seaweedfs"]
BACK_WITHIN_S = 60.0
BETWEEN_KILLS_S = 3.0
BATCH_WITHIN_S = 240.0


@dataclass
class Journal:
    """What the test did and when, printed with any failure."""

    began: float = field(default_factory=time.monotonic)
    lines: list[str] = field(default_factory=list)

    def note(self, line: str) -> None:
        self.lines.append(f"{time.monotonic() - self.began:6.1f} s  {line}")
        print(self.lines[-1])

    def __str__(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture(scope="module")
def chaos_stack(stack_settings: EmbeddedSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A whole stack under its supervisor, apart from the session's: killing its parts breaks no other test."""
    settings = on_free_ports(tmp_path_factory.mktemp("chaos"), stack_settings.model_dir, workers=2)
    # A worker's death is noticed within seconds; `down` waits a while for busy workers, not a minute.
    settings.drain_timeout_s = 10.0
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEDIALENS_SCHEDULER_HEARTBEAT_S", "1")
        made = Stack(settings)
        try:
            made.up()
            yield made
        finally:
            made.down()


def picture(pixels: object, side: int = 320) -> bytes:
    image = Image.fromarray(pixels)  # type: ignore[arg-type]
    image.thumbnail((side, side))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue()


def batch(wave: str) -> list[tuple[str, bytes, str]]:
    """A few images, a short speech clip and a short video: (name, bytes, content type)."""
    film = make_video([Scene(0.0, "HARBOR", (30, 60, 160)), Scene(2.5, "MARKET", (200, 50, 40))], 5.0,
                      [Speech(0.5, "fox")])
    return [
        (f"{wave}/astronaut.jpg", picture(samples.astronaut()), "image/jpeg"),
        (f"{wave}/coffee.jpg", picture(samples.coffee()), "image/jpeg"),
        (f"{wave}/page.jpg", picture(samples.page()), "image/jpeg"),
        (f"{wave}/fox.ogg", speech_bytes("fox"), "audio/ogg"),
        (f"{wave}/film.mp4", film, "video/mp4"),
    ]


class Batch:
    """Uploads put straight into the stack's store under the first workspace, and what became of them."""

    def __init__(self, stack: Stack, journal: Journal) -> None:
        self.stack = stack
        self.journal = journal
        self.keys: list[str] = []

    def put(self, name: str, data: bytes, content_type: str) -> None:
        store = self.stack.store()
        key = upload_key(LEGACY_WORKSPACE, f"chaos/{name}")
        # The store may be the component just killed: a person's client retries the same way.
        deadline = time.monotonic() + BACK_WITHIN_S
        while True:
            try:
                store.put_bytes(store.settings.uploads_bucket, key, data, content_type)
                break
            except Exception as exc:  # the store restarting: try again shortly
                if time.monotonic() > deadline:
                    raise
                self.journal.note(f"upload of {name} refused ({type(exc).__name__}); trying again")
                time.sleep(1.0)
        self.keys.append(key)
        self.journal.note(f"uploaded {key}")

    def records(self) -> dict[str, list[Upload]]:
        found: dict[str, list[Upload]] = {key: [] for key in self.keys}
        for upload in Uploads(self.stack.redis()).all(LEGACY_WORKSPACE):
            if upload.key in found:
                found[upload.key].append(upload)
        return found

    def finished(self) -> bool:
        records = self.records()
        return all(len(found) == 1 and found[0].state in (State.DONE, State.FAILED) for found in records.values())

    def running(self) -> bool:
        return any(upload.state == State.RUNNING for found in self.records().values() for upload in found)

    def report(self) -> str:
        """Every upload that is not done, what of it is stuck, and where its jobs are."""
        uploads = Uploads(self.stack.redis())
        settings = SchedulerSettings(redis_url=self.stack.redis_url())
        queue = Queue(settings.queue, connection=self.stack.redis())
        connection = queue.connection
        # Read without RQ's cleanup, which would take back abandoned jobs here, in the test, and hide them.
        lines = [f"queued jobs: {queue.count}, started: {StartedJobRegistry(queue=queue).get_job_ids(cleanup=False)}, "
                 f"scheduled: {ScheduledJobRegistry(queue=queue).get_job_ids(cleanup=False)}, "
                 f"failed: {FailedJobRegistry(queue=queue).get_job_ids(cleanup=False)}, "
                 f"intermediate: {connection.lrange(queue.intermediate_queue_key, 0, -1)}; "
                 f"cleanup lock TTL {connection.ttl(queue.registry_cleaning_key)} s, "
                 f"scheduler lock {connection.get(RQScheduler.get_locking_key(queue.name))!r} "
                 f"TTL {connection.ttl(RQScheduler.get_locking_key(queue.name))} s, "
                 f"sweep repairs {connection.hgetall(keys.SWEEP_REPAIRS)}"]
        for key, found in self.records().items():
            if not found:
                lines.append(f"{key}: no record (the event never reached intake?)")
            for upload in found:
                if upload.state == State.DONE and len(found) == 1:
                    continue
                steps = uploads.steps(upload.id)
                pending = {name: f"{step.state.value} (attempts {step.attempts}) {step.reason}; "
                                 f"job: {job_state(queue, upload.id, name)}"
                           for name, step in steps.items() if step.state != StepState.DONE}
                lines.append(f"{key}: {upload.id} {upload.state.value} {upload.reason!r}; "
                             f"outstanding {uploads.outstanding(upload.id)}; steps not done: {pending}")
        lines.append(f"services: {self.stack.running()}; supervisor: {self.stack.supervisor_pid()}")
        return "\n".join(lines)


def job_state(queue: Queue, upload: str, step: str) -> str:
    """Where a step's RQ job is: its status and retries left, or that it is gone."""
    try:
        job = Job.fetch(job_id(upload, step), connection=queue.connection)
    except NoSuchJobError:
        return "no such job"
    return f"{job.get_status()}, retries left {job.retries_left}, worker {job.worker_name}"


def service_logs(stack: Stack, lines: int = 15) -> str:
    found = []
    for log in sorted(stack.log_dir.glob("*.log")):
        text = [line for line in log.read_text(errors="replace").splitlines() if not line.startswith(("W1", "I1"))]
        found.append(f"--- {log.name}\n" + "\n".join(text[-lines:]))
    return "\n".join(found)


def busy_worker(stack: Stack) -> str:
    """The service name of a worker running a job now (the first worker when none is)."""
    services = {pid: name for name, pid in stack.running().items()}
    for worker in Worker.all(connection=stack.redis()):
        if worker.get_current_job_id() and worker.pid in services:
            return services[worker.pid]
    return "worker-1"


def running_steps(stack: Stack, uploads: Batch) -> list[str]:
    records = Uploads(stack.redis())
    return [f"{upload.key.rsplit('/', 1)[1]}:{name}" for found in uploads.records().values() for upload in found
            for name, step in records.steps(upload.id).items() if step.state == StepState.RUNNING]


def kill_and_wait(stack: Stack, name: str, journal: Journal) -> None:
    """SIGKILL to the service's process alone; the supervisor must bring it back by itself."""
    service = next(s for s in stack.services() if s.name == name)
    pid = stack.pid(name)
    assert pid is not None, f"{name} does not run: {stack.running()}"
    os.kill(pid, signal.SIGKILL)
    journal.note(f"killed {name} (pid {pid})")

    def back() -> bool:
        now = stack.pid(name)
        return now is not None and now != pid and not alive(pid) and service.ready()

    began = time.monotonic()
    wait_until(back, BACK_WITHIN_S, lambda: f"{name} did not come back\n{journal}\n{service_logs(stack)}",
               through=AWAY)  # a component down a moment is asked again
    journal.note(f"{name} back in {time.monotonic() - began:.1f} s (pid {stack.pid(name)})")


def assert_all_done_once(stack: Stack, uploads: Batch, journal: Journal) -> None:
    began = time.monotonic()
    wait_until(uploads.finished, BATCH_WITHIN_S, lambda: f"{uploads.report()}\n{journal}\n{service_logs(stack)}",
               through=AWAY)
    journal.note(f"every upload ended, {time.monotonic() - began:.1f} s after the last action")
    records = uploads.records()
    problems = uploads.report()
    assert all(len(found) == 1 for found in records.values()), f"one record per file:\n{problems}"
    store = stack.store()
    for key, (upload,) in records.items():
        assert upload.state == State.DONE, f"{key} ended {upload.state.value}: {upload.reason}\n{problems}\n{journal}"
        steps = Uploads(stack.redis()).steps(upload.id)
        assert all(step.state in FINAL_STEP_STATES and step.state != StepState.FAILED for step in steps.values()), (
            f"{key}: {({name: step.state.value for name, step in steps.items()})}")
        document = json.loads(store.get_bytes(store.settings.results_bucket, result_key(key)))
        assert document["upload"]["id"] == upload.id and document["upload"]["state"] == "done", document["upload"]


def test_every_component_killed_in_turn_mid_batch_loses_and_fails_nothing(chaos_stack: Stack) -> None:
    journal = Journal()
    uploads = Batch(chaos_stack, journal)
    files = batch("killed")
    uploads.put(*files[0])
    wait_until(uploads.running, 60, lambda: f"{uploads.report()}\n{service_logs(chaos_stack)}", through=AWAY)
    # One upload more before each kill, so every component dies with work in flight.
    for victim, upload in zip(VICTIMS, [*files[1:], *[None] * len(VICTIMS)], strict=False):
        if upload is not None:
            uploads.put(*upload)
        time.sleep(BETWEEN_KILLS_S)
        journal.note(f"steps running: {running_steps(chaos_stack, uploads)}")
        kill_and_wait(chaos_stack, busy_worker(chaos_stack) if victim == WORKER else victim, journal)
    assert_all_done_once(chaos_stack, uploads, journal)


def test_down_mid_batch_then_up_finishes_the_batch(chaos_stack: Stack) -> None:
    journal = Journal()
    uploads = Batch(chaos_stack, journal)
    for upload in batch("drained"):
        uploads.put(*upload)
    wait_until(uploads.running, 60, lambda: f"{uploads.report()}\n{service_logs(chaos_stack)}", through=AWAY)
    time.sleep(BETWEEN_KILLS_S)
    try:
        stopped = chaos_stack.down()
        journal.note(f"down stopped {stopped}")
        assert chaos_stack.running() == {} and chaos_stack.supervisor_pid() is None, "nothing left running"
    finally:
        chaos_stack.up()
        journal.note("up again")
    assert_all_done_once(chaos_stack, uploads, journal)
