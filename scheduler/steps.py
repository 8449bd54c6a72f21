"""The RQ jobs: run one step of an upload, then merge everything when the plan is over.

Every step job records its own outcome and never leaves its dependants waiting: a failed
parent is recorded as failed (never raised), the finishing job depends on all steps with
`allow_failure=True`, and a crash is recorded by a failure callback.
"""

from __future__ import annotations

import logging
import re
import time
from functools import lru_cache
from typing import Any

from rq import Callback, Queue
from rq.job import Dependency, Job

from storage.client import Store
from storage.layout import artefact_key, result_key

from . import calls, routing
from .connection import queue, redis
from .defaults import policy
from .plans import PROBE, StepSpec, plan_for
from .settings import settings
from .uploads import FINAL_STEP_STATES, State, Step, StepState, Upload, UploadNotFound, Uploads

logger = logging.getLogger(__name__)

FINISH = "finish"


@lru_cache(maxsize=1)
def store() -> Store:
    return Store()


def uploads() -> Uploads:
    return Uploads(redis())


def _log(upload: str, step: str) -> dict[str, Any]:
    return {"extra": {"upload_id": upload, "step": step}}


def job_id(upload: str, step: str) -> str:
    """RQ job ids allow letters, digits, '_' and '-' only; one id per step makes enqueueing idempotent."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{upload}_{step}")


def enqueue_step(q: Queue, upload: str, spec: StepSpec, after: list[Job] | None = None) -> Job:
    timeout = policy(spec.function).timeout_s * (settings().step_attempts + 1) + 30
    return q.enqueue(
        run_step,
        upload,
        spec.to_dict(),
        job_id=job_id(upload, spec.name),
        job_timeout=int(timeout + settings().not_ready_wait_s),
        depends_on=Dependency(jobs=after, allow_failure=True) if after else None,
        on_failure=Callback(step_crashed),
        result_ttl=settings().result_ttl_s,
        failure_ttl=settings().result_ttl_s,
        description=f"{spec.name} of {upload}",
    )


def enqueue_finish(q: Queue, upload: str, after: list[Job] | None = None) -> Job:
    return q.enqueue(
        finish,
        upload,
        job_id=job_id(upload, FINISH),
        depends_on=Dependency(jobs=after, allow_failure=True) if after else None,
        result_ttl=settings().result_ttl_s,
        failure_ttl=settings().result_ttl_s,
        description=f"finish {upload}",
    )


def start(upload: str, q: Queue | None = None) -> Job:
    """Begins an upload's pipeline with `probe`; the rest is planned from what probe finds."""
    q = q or queue()
    uploads().plan_steps(upload, [PROBE.name])
    return enqueue_step(q, upload, PROBE)


def payload(upload: Upload, spec: StepSpec) -> dict[str, Any]:
    s = store()
    bucket, key = s.settings.uploads_bucket, upload.key
    if spec.source != "upload":
        bucket, key = s.settings.artefacts_bucket, artefact_key(upload.id, spec.source)
    outputs = {
        _stem(name): s.presigned_put(s.settings.artefacts_bucket, artefact_key(upload.id, name))
        for name in spec.outputs
    }
    return {
        "source": {"url": s.presigned_get(bucket, key), "content_type": upload.content_type},
        "outputs": outputs,
        "options": spec.options,
    }


def run_step(upload: str, spec_data: dict[str, Any]) -> str:
    spec = StepSpec.from_dict(spec_data)
    records = uploads()
    try:
        record = records.get(upload)
    except UploadNotFound:
        logger.info("upload was deleted before %s ran", spec.name, **_log(upload, spec.name))
        return "deleted"
    step = records.step(upload, spec.name)
    if step.state in (StepState.DONE, StepState.SKIPPED):
        return step.state.value
    blocking = [name for name in spec.needs if records.step(upload, name).state != StepState.DONE]
    if blocking:
        _settle(records, upload, step, StepState.FAILED, f"not run: {', '.join(blocking)} did not succeed")
        return "failed"
    if record.state == State.QUEUED:
        records.set_state(upload, State.RUNNING)
    step.state, step.started_at = StepState.RUNNING, time.time()
    records.put_step(upload, step)

    def attempt(number: int, gateway: str) -> None:
        step.attempts, step.gateway = number, gateway
        records.put_step(upload, step)

    outcome = calls.call(spec.function, payload(record, spec), routing.route, attempt)
    if outcome.kind == "ok":
        records.put_result(upload, spec.name, outcome.result)
        written = set(outcome.result.get("outputs_written") or ())
        step.artefacts = {
            output: artefact_key(upload, output) for output in spec.outputs if _stem(output) in written
        }
        _settle(records, upload, step, StepState.DONE, "")
    elif outcome.kind == "unavailable":
        _settle(records, upload, step, StepState.SKIPPED, outcome.reason)
    else:
        logger.warning("step failed: %s", outcome.reason, **_log(upload, spec.name))
        _settle(records, upload, step, StepState.FAILED, outcome.reason)
    if spec.name == PROBE.name:
        _after_probe(records, upload, outcome.result if outcome.kind == "ok" else None)
    return step.state.value


def _settle(records: Uploads, upload: str, step: Step, state: StepState, reason: str) -> None:
    step.state, step.reason, step.finished_at = state, reason, time.time()
    step.progress = 1.0
    records.put_step(upload, step)


def _after_probe(records: Uploads, upload: str, probe: dict[str, Any] | None) -> None:
    q = queue()
    if probe is None:
        enqueue_finish(q, upload)
        return
    media_type = str(probe.get("media_type", ""))
    records.update(upload, media_type=media_type)
    plan = plan_for(media_type, settings().thumbnail_size)
    records.plan_steps(upload, plan.names)
    jobs: dict[str, Job] = {}
    for spec in plan.steps:
        parents = [jobs[name] for name in spec.needs if name in jobs]
        jobs[spec.name] = enqueue_step(q, upload, spec, parents or None)
    enqueue_finish(q, upload, list(jobs.values()) or None)


def step_crashed(job: Job, connection: Any, kind: Any, value: Any, traceback: Any) -> None:
    """RQ failure callback: a crash or timeout still settles the step, so nothing waits forever."""
    upload, spec_data = job.args[0], job.args[1]
    name = spec_data["name"]
    logger.error("step crashed: %s: %s", getattr(kind, "__name__", kind), value, **_log(upload, name))
    records = uploads()
    try:
        step = records.step(upload, name)
        _settle(records, upload, step, StepState.FAILED, f"internal error: {value}")
        if name == PROBE.name:
            enqueue_finish(queue(), upload)
    except UploadNotFound:
        pass


def finish(upload: str) -> str:
    """Merges the step results into one document, stores it and settles the upload."""
    records = uploads()
    try:
        record = records.get(upload)
    except UploadNotFound:
        return "deleted"
    steps = records.steps(upload)
    unsettled = [name for name, step in steps.items() if step.state not in FINAL_STEP_STATES]
    for name in unsettled:
        _settle(records, upload, steps[name], StepState.FAILED, "not run: the pipeline ended before it")
    failed = [step for step in steps.values() if step.state == StepState.FAILED]
    state = State.FAILED if failed else State.DONE
    reason = "; ".join(f"{step.name}: {step.reason}" for step in failed)
    document = analysis(record, steps, records.results(upload), state, reason)
    s = store()
    s.put_json(s.settings.results_bucket, result_key(record.key), document)
    records.update(upload, state=state, reason=reason)
    logger.info("upload %s: %s", state.value, reason or "all steps done", **_log(upload, FINISH))
    return state.value


def analysis(
    record: Upload, steps: dict[str, Step], results: dict[str, Any], state: State, reason: str
) -> dict[str, Any]:
    """The document a user reads: the upload, each step's status and each function's result."""
    return {
        "upload": {**record.to_dict(), "state": state.value, "reason": reason},
        "media_type": record.media_type or results.get("probe", {}).get("media_type"),
        "steps": {name: step.to_dict() for name, step in sorted(steps.items())},
        "results": results,
        "artefacts": {name: key for step in steps.values() for name, key in step.artefacts.items()},
    }


def _stem(output: str) -> str:
    """Artefact `thumbnail.jpg` is the function's output named `thumbnail`."""
    return output.rsplit(".", 1)[0]
