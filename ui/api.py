"""The JSON API under /api/v1: upload URLs, uploads with their steps and results."""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from scheduler import steps as pipeline
from scheduler.connection import redis
from scheduler.uploads import State, UploadNotFound, Uploads
from search import jobs as search_jobs
from storage.client import Store

from . import sessions
from .media import artefact_urls

api = Blueprint("api", __name__, url_prefix="/api/v1")

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def store() -> Store:
    found: Store = current_app.extensions["medialens.store"]
    return found


def error(status: int, message: str) -> tuple[Response, int]:
    return jsonify(error=message), status


@api.before_request
def require_key() -> tuple[Response, int] | None:
    principal, by_header = sessions.principal()
    if principal is None:
        return error(401, "an API key is required: send 'Authorization: Bearer <key>'")
    # A cookie is sent by the browser on its own, so requests that change state also need the token.
    if not by_header and not sessions.csrf_ok():
        return error(403, f"send the page's {sessions.CSRF_HEADER} header with requests that change state")
    g.principal = principal
    return None


@api.post("/uploads")
def create_upload() -> tuple[Response, int]:
    """Hands out a presigned PUT URL; the bucket event starts the analysis once it is used."""
    body = request.get_json(silent=True) or {}
    filename = str(body.get("filename") or "").strip()
    if not filename:
        return error(400, "send {'filename': ..., 'size': ...} to get an upload URL")
    size = body.get("size")
    limit = current_app.config["MAX_UPLOAD_BYTES"]
    if size is not None and (not isinstance(size, int) or size > limit):
        return error(413, f"files up to {limit} bytes are accepted")
    name = SAFE_NAME.sub("_", filename.rsplit("/", 1)[-1]).strip("._") or "upload"
    key = f"{uuid.uuid4().hex[:12]}/{name}"
    s = store()
    return jsonify(
        bucket=s.settings.uploads_bucket,
        key=key,
        method="PUT",
        url=s.presigned_put(s.settings.uploads_bucket, key),
    ), 201


def summary(upload: Any, steps: dict[str, Any]) -> dict[str, Any]:
    settled = [s for s in steps.values() if s.state.value in ("done", "failed", "skipped")]
    return {
        **upload.to_dict(),
        "steps": {name: step.to_dict() for name, step in steps.items()},
        "progress": round(len(settled) / len(steps), 3) if steps else 0.0,
    }


@api.get("/uploads")
def list_uploads() -> tuple[Response, int]:
    records = Uploads(redis())
    key = request.args.get("key")
    state = request.args.get("state")
    media_type = request.args.get("media_type")
    if state and state not in {s.value for s in State}:
        return error(400, f"state must be one of {', '.join(s.value for s in State)}")
    limit = min(int(request.args.get("limit", 50)), 500)
    offset = int(request.args.get("offset", 0))
    if key:
        found = records.latest_for_key(store().settings.uploads_bucket, key)
        candidates = [found] if found else []
    else:
        candidates = records.ids(0, records.count())
    items = []
    for upload_id in candidates:
        try:
            upload = records.get(upload_id)
        except UploadNotFound:
            continue
        if (state and upload.state.value != state) or (media_type and upload.media_type != media_type):
            continue
        items.append(upload)
    page = items[offset : offset + limit]
    return jsonify(
        total=len(items), uploads=[summary(upload, records.steps(upload.id)) for upload in page]
    ), 200


@api.get("/uploads/<upload_id>")
def get_upload(upload_id: str) -> tuple[Response, int]:
    records = Uploads(redis())
    try:
        upload = records.get(upload_id)
    except UploadNotFound:
        return error(404, f"no upload {upload_id}")
    steps = records.steps(upload_id)
    s = store()
    artefacts = artefact_urls(s, steps)
    return jsonify(
        **summary(upload, steps),
        results=records.results(upload_id),
        artefacts=artefacts,
        source=s.presigned_get(upload.bucket, upload.key),
    ), 200


@api.post("/uploads/<upload_id>/retry")
def retry_upload(upload_id: str) -> tuple[Response, int]:
    """Runs a failed upload's pipeline again from the start, dropping its old steps and results."""
    records = Uploads(redis())
    try:
        upload = records.get(upload_id)
    except UploadNotFound:
        return error(404, f"no upload {upload_id}")
    if upload.state != State.FAILED:
        return error(409, f"only failed uploads can be retried; this one is {upload.state.value}")
    records.reset(upload_id)
    pipeline.start(upload_id)
    return jsonify(summary(records.get(upload_id), records.steps(upload_id))), 202


@api.delete("/uploads/<upload_id>")
def delete_upload(upload_id: str) -> tuple[Response, int]:
    """Deletes an upload and all made from it: objects, results, vectors and face assignments."""
    idx = current_app.extensions.get("medialens.index")
    try:
        removed = search_jobs.delete_upload(upload_id, store(), idx=idx)
    except UploadNotFound:
        return error(404, f"no upload {upload_id}")
    return jsonify(deleted=upload_id, **removed), 200
