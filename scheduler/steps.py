"""The RQ jobs: run one step of an upload, plan what it makes possible, finish the upload.

A step job records its own outcome and never raises for a failed call, so no job waits on it.
Fan-in is a count of outstanding steps in Redis: children are counted and queued in the transaction
that settles their parent, ahead of it, and the step that brings the count to zero enqueues `finish`.
A crash or a timeout is settled by RQ's failure callback, so an upload can never be left waiting.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from redis import Redis
from redis.client import Pipeline
from rq import Callback, Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.queue import EnqueueData
from rq.results import Result

from functions import catalog
from functions.common import logs
from storage.client import Audience
from storage.layout import artefact_key, artefact_prefix, result_key

from . import accounting, calls, metrics, plans, routing
from .analysis import FORMAT, overview, taken_at, timeline
from .context import current, queue, redis, settings, store
from .gateway import Gateway
from .plans import PROBE, StepSpec
from .uploads import FINAL_STEP_STATES, State, Step, StepState, Upload, UploadNotFound, Uploads, artefacts

logger = logging.getLogger(__name__)

FINISH = "finish"
INDEX = "index"  # the job that indexes a finished upload for search (search/hook.py)


def uploads() -> Uploads:
    return Uploads(redis())


def _log(upload: str, step: str) -> dict[str, Any]:
    return {"extra": {"upload_id": upload, "step": step}}


def job_id(upload: str, step: str) -> str:
    """RQ job ids allow letters, digits, '_' and '-' only; one id per step makes enqueueing idempotent."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{upload}_{step}")


def forget_jobs(upload: str, step_names: Iterable[str], connection: Redis) -> int:
    """Removes the finished or waiting jobs of a deleted upload (they name it and keep its results'
    outline while they are kept); a job running now ends on its own, finding the upload gone."""
    found = 0
    for name in {*step_names, FINISH, INDEX}:
        try:
            job = Job.fetch(job_id(upload, name), connection=connection)
        except NoSuchJobError:
            continue
        if job.get_status(refresh=False) != JobStatus.STARTED:
            Result.delete_all(job)
            job.delete()
            found += 1
    return found


def retry() -> Retry:
    """A job whose worker died, or that crashed, runs again (the jobs are idempotent by their ids)."""
    return Retry(max=settings().job_retries, interval=[5, 30])


def step_job(upload: str, spec: StepSpec) -> EnqueueData:
    """The job that runs one step, to enqueue."""
    s = settings()
    per_call = catalog.spec(spec.function).timeout_s * s.step_attempts + s.retry_backoff_s * 2**s.step_attempts
    return Queue.prepare_data(
        run_step,
        (upload, spec.to_dict()),
        job_id=job_id(upload, spec.name),
        timeout=int(per_call * spec.expected_calls + s.not_ready_wait_s + s.outage_wait_s + 30),
        on_failure=Callback(step_crashed),
        retry=retry(),
        result_ttl=s.result_ttl_s,
        failure_ttl=s.failure_ttl_s,
        description=f"{spec.name} of {upload}",
    )


def enqueue_finish(q: Queue, upload: str) -> Job:
    return q.enqueue(
        finish,
        upload,
        job_id=job_id(upload, FINISH),
        on_failure=Callback(finish_crashed),
        retry=retry(),
        result_ttl=settings().result_ttl_s,
        failure_ttl=settings().failure_ttl_s,
        description=f"finish {upload}",
    )


def crash_reason(kind: Any, value: Any) -> str:
    """What a person reads when a job failed for good: its worker died, it ran out of time, or it broke."""
    name = getattr(kind, "__name__", str(kind))
    if name == "AbandonedJobError":
        return "the worker running it stopped, and so did every retry"
    if name == "JobTimeoutException":
        return "it ran out of time"
    return f"internal error ({name}: {value})"


def will_retry(job: Job) -> bool:
    # RQ calls a failure callback before it decides on a retry.
    return bool(job.retries_left and job.retries_left > 0)


def plan(records: Uploads, q: Queue, upload: str, specs: list[StepSpec], pipe: Pipeline | None = None) -> None:
    """Counts the steps as outstanding and enqueues them, in one transaction: ``pipe``'s when given
    (a parent settling with them), else one of its own."""
    if not specs:
        return
    if pipe is None:
        with records.redis.pipeline() as own:
            plan(records, q, upload, specs, own)
            own.execute()
        return
    records.plan_steps(upload, [spec.name for spec in specs], {spec.name: spec.to_dict() for spec in specs}, pipe)
    q.enqueue_many([step_job(upload, spec) for spec in specs], pipeline=pipe)


def start(upload: str, q: Queue | None = None, records: Uploads | None = None) -> None:
    """Begins an upload's pipeline with `probe`; the rest is planned from what probe finds."""
    plan(records or uploads(), q or queue(), upload, [PROBE])


def payload(upload: Upload, spec: StepSpec, audience: Audience) -> dict[str, Any]:
    """A step's request, its URLs signed for the store address that `audience` reaches."""
    s = store()
    bucket, key = s.settings.uploads_bucket, upload.key
    if spec.source != "upload":
        bucket, key = s.settings.artefacts_bucket, artefact_key(upload.workspace, upload.id, spec.source)
    outputs = {
        _stem(name): s.presigned_put(s.settings.artefacts_bucket, artefact_key(upload.workspace, upload.id, name),
                                     audience)
        for name in spec.outputs
    }
    return {
        "source": {"url": s.presigned_get(bucket, key, audience), "content_type": upload.content_type,
                   # The upload is this version of the object: a re-upload of the key is another upload.
                   **({"etag": upload.etag} if spec.source == "upload" else {})},
        "outputs": outputs,
        "options": spec.options,
    }


def run_step(upload: str, spec_data: dict[str, Any]) -> str:
    spec = StepSpec.from_dict(spec_data)
    with logs.bound(upload_id=upload, step=spec.name):
        return _run_step(upload, spec)


def _run_step(upload: str, spec: StepSpec) -> str:
    records = uploads()
    try:
        record, step = records.with_step(upload, spec.name)
    except UploadNotFound:
        logger.info("upload was deleted before %s ran", spec.name, **_log(upload, spec.name))
        return "deleted"
    if step.state in FINAL_STEP_STATES:
        # Run again after its worker died: if that was between settling the last step and queueing
        # `finish`, nothing else would ever finish the upload.
        if records.outstanding(upload) == 0 and record.state not in (State.DONE, State.FAILED):
            wrap_up(records, upload)
        return step.state.value
    if record.state == State.QUEUED:
        records.set_state(upload, State.RUNNING)
    started = time.time()
    # Stored with the first attempt, which follows at once: one write fewer per step.
    step.state, step.started_at = StepState.RUNNING, started

    def attempt(number: int, gateway: str) -> None:
        step.attempts, step.gateway = number, gateway
        records.put_step(upload, step)

    def progress(fraction: float) -> None:
        step.progress = round(min(max(fraction, 0.0), 0.99), 3)
        records.put_step(upload, step)

    def request(gateway: Gateway) -> dict[str, Any]:
        return payload(record, spec, gateway.audience)

    if spec.chunked:
        outcome = call_in_chunks(spec, request, attempt, progress)
    else:
        outcome = calls.call(spec.function, request, routing.route, attempt)
    seconds, failed = time.time() - started, outcome.kind in ("rejected", "error")
    children: list[StepSpec] = []
    result = None
    if outcome.kind == "ok":
        result = outcome.result
        children = plans.after(spec, result, settings().plan_settings())
        # What plans new steps or writes the record checks first that the upload is still there;
        # any other step's writes check it in the settle's own script.
        if (children or spec.name == PROBE.name) and not records.exists(upload):
            return deleted_meanwhile(record, spec.name)
        written = set(result.get("outputs_written") or ())
        step.artefacts = {
            output: artefact_key(record.workspace, upload, output)
            for output in spec.outputs if _stem(output) in written
        }
        if spec.name == PROBE.name:
            duration = result.get("duration")
            records.update(upload, media_type=str(result.get("media_type", "")),
                           duration=float(duration) if isinstance(duration, int | float) else None,
                           taken_at=taken_at(result))
        state, reason = StepState.DONE, ""
    elif outcome.kind == "unavailable":
        state, reason = StepState.SKIPPED, outcome.reason
    else:
        logger.warning("step failed: %s", outcome.reason, **_log(upload, spec.name))
        step.rejected = outcome.kind == "rejected"
        state, reason = StepState.FAILED, outcome.reason

    def with_settle(pipe: Pipeline) -> None:
        metrics.observe_step(pipe, spec.function, seconds, failed)
        plan(records, queue(), upload, children, pipe)

    if not settle(records, upload, step, state, reason, result, with_settle) and not records.exists(upload):
        return deleted_meanwhile(record, spec.name)
    return step.state.value


def deleted_meanwhile(record: Upload, step: str) -> str:
    """Deleted while the function ran: what it just wrote to the store goes too."""
    s = store()
    s.delete_prefix(s.settings.artefacts_bucket, artefact_prefix(record.workspace, record.id))
    logger.info("upload was deleted while %s ran", step, **_log(record.id, step))
    return "deleted"


def call_in_chunks(
    spec: StepSpec, request: calls.Payload, attempt: Any, progress: Any
) -> calls.Outcome:
    """Calls a chunked function from `next_start_s` to the end, joining the segments it returns."""
    segments: list[dict[str, Any]] = []
    start: float | None = 0.0
    outcome = None
    while start is not None:

        def chunk(gateway: Gateway, start_s: float = start) -> dict[str, Any]:
            made = request(gateway)
            return {**made, "options": {**made["options"], "start_s": start_s}}

        outcome = calls.call(spec.function, chunk, routing.route, attempt)
        if outcome.kind != "ok":
            return outcome
        segments.extend(outcome.result.get("segments") or [])
        following = outcome.result.get("next_start_s")
        start = float(following) if following is not None and float(following) > start else None
        duration = float(outcome.result.get("duration") or 0)
        if start is not None and duration:
            progress(start / duration)
    assert outcome is not None
    result = {**outcome.result, "segments": segments, "next_start_s": None}
    return calls.Outcome("ok", result, "", outcome.gateway, outcome.attempts)


def settle(
    records: Uploads, upload: str, step: Step, state: StepState, reason: str,
    result: dict[str, Any] | None = None, before: Callable[[Pipeline], None] | None = None,
) -> bool:
    """Settles a step with its result; what ``before`` queues (the steps it makes possible, counted
    before their parent settles) is written with it, all or nothing. False when the upload is gone
    or the step had settled before."""
    step.state, step.reason, step.finished_at = state, reason, time.time()
    step.progress = 1.0
    left = records.settle(upload, step, result, before)
    if left == 0:
        wrap_up(records, upload)
    replicate(upload, step.name)
    return left is not None


def wrap_up(records: Uploads, upload: str) -> None:
    """Every planned step has settled: plan the closing steps, or, once they too have settled, finish."""
    try:
        record = records.get(upload)
    except UploadNotFound:
        return
    steps = records.steps(upload)
    if any(step.state == StepState.FAILED for step in steps.values()) or not plan_closing(
        records, upload, record, steps, records.results(upload)
    ):
        enqueue_finish(queue(), upload)


def replicate(upload: str, step: str) -> None:
    """Waits for the replicas to hold what a step (or `finish`) settled. Going on without them loses
    nothing: were the master to die now, the sweep would run the step again (scheduler/sweep.py)."""
    if not current().replicated():
        logger.warning("settled on the Redis master alone: a failover now would run it again", **_log(upload, step))


def plan_closing(
    records: Uploads, upload: str, record: Upload, steps: dict[str, Step], results: dict[str, Any]
) -> bool:
    """Plans the closing steps not planned yet (they read every result, so they come last); True if any."""
    media_type = record.media_type or str(results.get("probe", {}).get("media_type") or "")
    closing = [spec for spec in plans.closing(media_type, results) if spec.name not in steps]
    if closing:
        plan(records, queue(), upload, closing)
    return bool(closing)


def step_crashed(job: Job, connection: Any, kind: Any, value: Any, traceback: Any) -> None:
    """RQ failure callback: a crash, a timeout or a dead worker is retried; the last one settles the
    step, so nothing waits forever."""
    upload, spec_data = job.args[0], job.args[1]
    name = spec_data["name"]
    if will_retry(job):
        logger.warning("step crashed, retrying: %s: %s", getattr(kind, "__name__", kind), value, **_log(upload, name))
        return
    logger.error("step crashed: %s: %s", getattr(kind, "__name__", kind), value, **_log(upload, name))
    metrics.record_step(redis(), spec_data.get("function", name), None, failed=True)
    records = uploads()
    step = records.step(upload, name) if records.exists(upload) else None
    if step is not None and step.state not in FINAL_STEP_STATES:
        settle(records, upload, step, StepState.FAILED, crash_reason(kind, value))


def finish_crashed(job: Job, connection: Any, kind: Any, value: Any, traceback: Any) -> None:
    """RQ failure callback of `finish`: after its retries the upload still ends, failed, with the reason."""
    upload = job.args[0]
    if will_retry(job):
        return
    logger.error("finish crashed: %s: %s", getattr(kind, "__name__", kind), value, **_log(upload, FINISH))
    records = uploads()
    if records.exists(upload):
        records.set_state(upload, State.FAILED, f"{FINISH}: {crash_reason(kind, value)}")


def finish(upload: str) -> str:
    """Merges the step results into one document, stores it and settles the upload."""
    records = uploads()
    try:
        record = records.get(upload)
    except UploadNotFound:
        return "deleted"
    if record.state in (State.DONE, State.FAILED):
        # Run again after its worker died: the transaction below either ended the upload, with its
        # booking and its hooks' work, or did nothing at all.
        return record.state.value
    steps = records.steps(upload)
    results = records.results(upload)
    failed = [step for step in steps.values() if step.state == StepState.FAILED]
    if not failed and plan_closing(records, upload, record, steps, results):
        return "closing"  # its job was lost between the last settle and planning: the sweep brought finish
    state = State.FAILED if failed else State.DONE
    reason = "; ".join(f"{step.name}: {step.reason}" for step in failed)
    document = analysis(record, steps, results, state, reason)
    s = store()
    s.put_json(s.settings.results_bucket, result_key(record.key), document)
    book, hooks = accounting.booking(records.redis, record, steps), current().hooks

    def close(pipe: Pipeline) -> None:
        book(pipe)
        for hook in hooks:
            hook.finished(upload, pipe)

    records.update(upload, also=close, state=state, reason=reason, overview=overview(document["results"]))
    replicate(upload, FINISH)
    logger.info("upload %s: %s", state.value, reason or "all steps done", **_log(upload, FINISH))
    return state.value


def analysis(
    record: Upload, steps: dict[str, Step], results: dict[str, Any], state: State, reason: str
) -> dict[str, Any]:
    """The document a user reads, shaped as `scheduler.analysis` describes, from nested ``results``."""
    media_type = record.media_type or results.get("probe", {}).get("media_type")
    document: dict[str, Any] = {
        "format": FORMAT,
        "upload": {**record.to_dict(), "state": state.value, "reason": reason},
        "media_type": media_type,
        "steps": {name: step.to_dict() for name, step in sorted(steps.items())},
        "results": results,
        "artefacts": artefacts(steps),
    }
    transcript = results.get("transcribe", {}).get("segments")
    if media_type == "video":
        document["timeline"] = timeline(results)
    if transcript is not None:
        document["transcript"] = transcript
    return document


def _stem(output: str) -> str:
    """Artefact `thumbnail.jpg` is the function's output named `thumbnail`."""
    return output.rsplit(".", 1)[0]
