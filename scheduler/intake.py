"""Bucket events in: the webhook MinIO (or the SeaweedFS bridge) posts every new upload to.

Intake is fast and idempotent: it records the upload and enqueues its first step, nothing more.
MinIO retries any non-2xx reply, so an event is acknowledged only once it is safely in Redis (with
Sentinel: on a replica too, so the master's death cannot lose it), and the same event delivered
again (same bucket, key and etag) starts nothing new.
"""

from __future__ import annotations

import hmac
import logging

from flask import Flask, Response, jsonify, request
from redis import Redis
from rq import Queue
from rq.job import Job

from accounts.usage import Usage
from accounts.workspaces import Workspaces
from storage.events import EventError, UploadEvent, parse_events
from storage.layout import LEGACY_WORKSPACE, workspace_of
from storage.settings import StorageSettings

from . import accounting, metrics, steps
from .context import Context, current, queue, redis, settings, use
from .settings import SchedulerSettings
from .uploads import State, Upload, Uploads

logger = logging.getLogger(__name__)


def attribute(event: UploadEvent, redis: Redis) -> str | None:
    """The workspace an upload belongs to: the one its key lies under, which the store lets only that
    workspace's credentials (and the platform's) write; keys outside every workspace were written
    with the platform's own credentials and belong to the workspace an older installation became.
    Nothing the uploader sends (metadata, headers) has a say."""
    workspaces = Workspaces(redis)
    found = workspace_of(event.key)
    if found is not None and workspaces.exists(found):
        return found
    return LEGACY_WORKSPACE if workspaces.exists(LEGACY_WORKSPACE) else None


def accept(event: UploadEvent, records: Uploads, q: Queue, workspace: str) -> tuple[str, bool]:
    """Records the upload in its workspace and starts it; returns its id and whether this delivery
    started it."""
    upload = Upload.from_event(event, workspace, records.uploader(workspace, event.key))
    # Asked before the upload counts: the quota refuses what goes past it, not what reaches it.
    refused = Usage(records.redis).refusal(workspace, upload.size)
    created = records.create(upload)
    if created:
        accounting.arrived(records.redis, upload)
        if refused:
            records.set_state(upload.id, State.FAILED, f"refused: {refused}")
            logger.info("refused %s/%s: %s", event.bucket, event.key, refused, extra={"upload_id": upload.id})
            return upload.id, True
        steps.start(upload.id, q, records)
        logger.info("accepted %s/%s", event.bucket, event.key, extra={"upload_id": upload.id})
        return upload.id, True
    # A crash between recording and enqueueing leaves a queued upload with no job: start it now.
    if records.get(upload.id).state == State.QUEUED and not Job.exists(
        steps.job_id(upload.id, steps.PROBE.name), connection=q.connection
    ):
        steps.start(upload.id, q, records)
        return upload.id, True
    return upload.id, False


def create_app(config: SchedulerSettings | None = None) -> Flask:
    config = config or settings()
    uploads_bucket = StorageSettings().uploads_bucket
    app = Flask(__name__)

    @app.get("/healthz")
    def healthz() -> Response:
        redis().ping()
        return Response("OK", status=200)

    @app.post("/events")
    def events() -> tuple[Response, int]:
        expected = f"Bearer {config.intake_token}"
        if not config.intake_token or not hmac.compare_digest(request.headers.get("Authorization", ""), expected):
            return jsonify(error="a valid bearer token is required"), 401
        try:
            parsed = parse_events(request.get_json(force=True, silent=True))
        except EventError as exc:
            # A malformed notification will never parse: acknowledge it so it is not retried forever.
            logger.warning("ignored notification: %s", exc)
            metrics.EVENTS.labels("malformed").inc()
            return jsonify(error=str(exc), accepted=[]), 200
        records, q = Uploads(redis()), queue()
        accepted, started = [], []
        for event in parsed:
            workspace = attribute(event, records.redis) if event.bucket == uploads_bucket else None
            if workspace is None:
                logger.warning("ignored %s/%s: in no workspace's part of the uploads bucket", event.bucket,
                               event.key[:200])
                metrics.EVENTS.labels("ignored").inc()
                continue
            upload, new = accept(event, records, q, workspace)
            metrics.EVENTS.labels("accepted" if new else "duplicate").inc()
            accepted.append(upload)
            if new:
                started.append(upload)
        # Checked for a duplicate too: the delivery before it may have been refused here.
        if accepted and not current().replicated():
            logger.warning("uploads %s are on the Redis master alone; refused until a replica has them", accepted)
            metrics.EVENTS.labels("unreplicated").inc()
            return jsonify(error="not yet on a Redis replica: send the event again"), 503
        return jsonify(accepted=accepted, started=started), 200

    metrics.install(app, redis(), config.queue)
    return app


def main() -> None:
    from waitress import serve

    from functions.common.logs import configure_logging

    configure_logging("intake")
    s = use(Context.from_environment()).settings
    serve(create_app(s), host=s.intake_host, port=s.intake_port, threads=8, ident="medialens-intake")


if __name__ == "__main__":
    main()
