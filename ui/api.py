"""The JSON API under /api/v1: upload URLs, uploads with their steps and results."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

from flask import Blueprint, Response, current_app, g, jsonify, stream_with_context

from accounts.audit import Action
from accounts.export import originals_archive
from accounts.usage import Usage
from scheduler.service import NotRetryable, UploadNotFound
from storage.layout import form_upload_key
from storage.media_types import upload_type

from . import audit
from .access import Need, current, needs
from .context import pipeline, redis, store
from .openapi import operation
from .schemas import (
    LIST_MAX,
    ArchiveQuery,
    Deleted,
    Error,
    UploadForm,
    UploadList,
    UploadRequest,
    UploadsQuery,
    UploadSummary,
    UploadView,
)

api = Blueprint("api", __name__, url_prefix="/api/v1")

SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def error(status: int, message: str) -> tuple[Response, int]:
    return jsonify(error=message), status


@api.post("/uploads")
@needs(Need.EDITOR)
@operation("A presigned POST form to upload one file with.", {201: UploadForm, 403: Error, 413: Error, 415: Error},
           body=UploadRequest)
def create_upload(body: UploadRequest) -> tuple[Response, int]:
    """Hands out a presigned POST form; the bucket event starts the analysis once it is used.

    The store itself holds the upload to the key, content type and size named here, so what arrives
    is what was asked for (a presigned PUT binds neither type nor length).
    """
    filename = body.filename.strip()
    if not filename:
        return error(400, "send {'filename': ..., 'size': ..., 'content_type': ...} to get an upload form")
    size = body.size
    limit = current_app.config["MAX_UPLOAD_BYTES"]
    if size is not None and size > limit:
        return error(413, f"files up to {limit} bytes are accepted")
    refused = Usage(redis()).refusal(g.workspace, size or 0)
    if refused:
        return error(403, refused)
    content_type = upload_type(body.content_type, filename)
    if content_type is None:
        return error(415, "only pictures, video and sound are analysed: send their 'content_type' "
                          "(image/jpeg, video/mp4, audio/mpeg, ...)")
    name = SAFE_NAME.sub("_", filename.rsplit("/", 1)[-1]).strip("._") or "upload"
    key = form_upload_key(g.workspace, name)
    s = store()
    bound = limit if size is None else size
    form = s.presigned_post(s.settings.uploads_bucket, key, content_type, bound)
    pipeline().expect_upload(g.workspace, key, current().person)
    audit.record(Action.UPLOAD, key, {"content_type": content_type})
    return jsonify(
        bucket=s.settings.uploads_bucket, key=key, method="POST", url=form.url, fields=form.fields,
        content_type=content_type, max_bytes=bound,
    ), 201


@api.get("/uploads")
@needs(Need.VIEWER)
@operation("Uploads, newest first (by date taken, else uploaded), filtered and a page at a time.",
           {200: UploadList, 404: Error}, query=UploadsQuery)
def list_uploads(query: UploadsQuery) -> tuple[Response, int]:
    among = None
    if query.person:
        # Imported here: the search blueprint builds on this module's `error`.
        from search.people import PersonNotFound

        from .search import people
        try:
            among = {entry["upload_id"] for entry in people().uploads_of(query.person)}
        except PersonNotFound:
            return error(404, f"no person {query.person}: pick one from the people page")
    since, until = day_bounds(query.since, query.until)
    try:
        listing = pipeline().query(
            g.workspace, state=query.state, media_type=query.media_type, key=query.key, offset=query.offset,
            limit=query.limit, since=since, until=until, among=among,
        )
    except ValueError as exc:
        return error(400, str(exc))
    return jsonify(total=listing.total, uploads=listing.uploads), 200


def day_bounds(since: date | None, until: date | None) -> tuple[float | None, float | None]:
    """A range of whole days (UTC) as the first and last second they hold."""
    start = None if since is None else datetime.combine(since, time.min, UTC).timestamp()
    end = None if until is None else datetime.combine(until, time.max, UTC).timestamp()
    return start, end


@api.get("/uploads/archive")
@needs(Need.VIEWER)
@operation("The originals of some uploads as one tar archive, streamed.", {200: "application/x-tar", 400: Error},
           query=ArchiveQuery)
def archive_uploads(query: ArchiveQuery) -> Response | tuple[Response, int]:
    """The originals of the uploads named (of this workspace; others are left out), each under its path."""
    ids = [part for part in (item.strip() for item in query.ids.split(",")) if part]
    if not ids or len(ids) > LIST_MAX:
        return error(400, f"name 1 to {LIST_MAX} upload ids, separated by commas")
    audit.record(Action.EXPORT, g.workspace, {"uploads": len(ids)})
    chunks = originals_archive(pipeline(), g.workspace, ids)
    name = f"medialens-{len(ids)}-uploads-{datetime.now(UTC):%Y%m%d}.tar"
    return Response(stream_with_context(chunks), mimetype="application/x-tar",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@api.get("/uploads/<upload_id>")
@needs(Need.VIEWER)
@operation("One upload whole: steps, results, timeline and URLs.", {200: UploadView, 404: Error})
def get_upload(upload_id: str) -> tuple[Response, int]:
    try:
        view = pipeline().view(upload_id, g.workspace)
    except UploadNotFound:
        return error(404, f"no upload {upload_id}")
    from .search import name_faces  # ui/search.py builds on this module: imported when first needed

    name_faces(upload_id, view["results"])  # who each face is, as the result view and the command show it
    return jsonify(view), 200


@api.post("/uploads/<upload_id>/retry")
@needs(Need.EDITOR)
@operation("Runs a failed upload again.", {202: UploadSummary, 404: Error, 409: Error})
def retry_upload(upload_id: str) -> tuple[Response, int]:
    """Runs a failed upload's pipeline again from the start, dropping its old steps and results."""
    try:
        queued = pipeline().retry(upload_id, g.workspace)
        audit.record(Action.RETRY, upload_id)
        return jsonify(queued), 202
    except UploadNotFound:
        return error(404, f"no upload {upload_id}")
    except NotRetryable as exc:
        return error(409, str(exc))


@api.delete("/uploads/<upload_id>")
@needs(Need.EDITOR)
@operation("Deletes an upload and all made from it.", {200: Deleted, 404: Error})
def delete_upload(upload_id: str) -> tuple[Response, int]:
    """Deletes an upload and all made from it: objects, results, vectors and face assignments."""
    try:
        removed = pipeline().delete(upload_id, g.workspace)
    except UploadNotFound:
        return error(404, f"no upload {upload_id}")
    audit.record(Action.DELETE, upload_id, removed)
    return jsonify(deleted=upload_id, **removed), 200
