"""The search and people API under /api/v1: words, images, people, and index upkeep.

Every route answers from the request's workspace (``g.workspace``) alone: what another workspace
holds is not found, exactly as what does not exist.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from accounts.audit import Action
from scheduler.service import IMAGE_PICTURE, UploadNotFound
from search import jobs, queries
from search.clip import NOT_INSTALLED, image_embedding, text_embedding
from search.filters import Filters
from search.index import Index, index
from search.people import FaceNotFound, NothingToUndo, People, PersonConflict, PersonNotFound, face_id
from search.people import label as person_label
from search.remote import FunctionRejected, FunctionUnavailable
from search.wording import say
from storage.layout import workspace_prefix

from . import audit
from .access import Need, needs
from .api import error
from .context import pipeline, redis, store, ui_settings
from .i18n import lazy_gettext
from .media import Pictures
from .openapi import operation
from .pictures import PictureUnreadable, fingerprint_of
from .schemas import (
    Error,
    ImageSearchReply,
    ImageSearchRequest,
    LimitQuery,
    MergeRequest,
    PeopleList,
    PeopleQuery,
    Person,
    PersonName,
    PersonUploads,
    PersonWithFaces,
    RebuildJob,
    Reprocessing,
    ReprocessQuery,
    ReprocessRequest,
    SearchQuery,
    SearchReply,
    SplitRequest,
    Undone,
)

search = Blueprint("search", __name__, url_prefix="/api/v1")

QUERY_PREFIX = "search-queries/"


def search_index() -> Index:
    found: Index | None = current_app.extensions.get("medialens.index")
    return found or index()


def workspace() -> str:
    """The request's workspace, which the app sets before any route runs."""
    found: str = g.workspace
    return found


def people() -> People:
    return People(redis(), search_index(), workspace())


def pictures() -> Pictures:
    return Pictures(pipeline())


def _hits(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Hits as the pages show them: each with a presigned thumbnail URL."""
    return pictures().with_thumbnails(found)


def name_faces(upload_id: str, found: dict[str, Any]) -> None:
    """Puts each face's person (id, name and the label shown for them) and face id on an image's face results."""
    faces = (found.get("faces") or {}).get("faces") or []
    ids = [face_id(upload_id, IMAGE_PICTURE, number) for number in range(len(faces))]
    persons = people().persons_of(ids)
    for identity, face in zip(ids, faces, strict=True):
        if identity in persons and isinstance(face, dict):
            person = persons[identity]
            face["person"] = {**person, "label": person_label(person["id"], person["name"])}
            face["face_id"] = identity


def duplicates_of(upload_id: str) -> list[dict[str, Any]]:
    """Copies of one of the request's workspace's uploads, with thumbnails (the result view lists them)."""
    return _hits(queries.duplicates_of(search_index(), workspace(), upload_id))


def workspace_people(workspace_id: str) -> list[dict[str, Any]]:
    """Every person of a workspace with their faces (for its export)."""
    return People(redis(), search_index(), workspace_id).all()


def filters_of(query: SearchQuery) -> Filters:
    """The query's filters; a person's filter is the set of their uploads (PersonNotFound if unknown)."""
    uploads = None
    if query.person:
        uploads = frozenset(entry["upload_id"] for entry in people().uploads_of(query.person))
    return Filters(
        media_type=query.media_type, uploads=uploads,
        since=_day_start(query.since) if query.since else None,
        until=_day_start(query.until + datetime.timedelta(days=1)) if query.until and query.until < datetime.date.max
        else None,
    )


def _day_start(day: datetime.date) -> float:
    return datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC).timestamp()


def uploaded_at(upload: str) -> float | None:
    """When an upload of the request's workspace was made; None when it is gone or another's."""
    try:
        return pipeline().upload(upload, workspace()).created_at
    except UploadNotFound:
        return None


@search.get("/search")
@needs(Need.VIEWER)
@operation("Words seen or heard, or pictures that fit a description.", {200: SearchReply, 404: Error, 501: Error},
           query=SearchQuery)
def search_words(query: SearchQuery) -> tuple[Response, int]:
    """Words in transcripts and on screen (``kind=text``), or pictures for a description (``kind=image``)."""
    words = query.q.strip()
    if not words:
        return error(400, "send ?q=words to search for")
    longest = ui_settings().search_max_query_chars
    if len(words) > longest:
        return error(400, f"the query is {len(words)} characters long: search for up to {longest}")
    limit, kind = query.limit, query.kind
    try:
        filters = filters_of(query)
    except PersonNotFound:
        return error(404, "that person is not (or no longer) in this workspace: pick one from the people list")
    if kind == "image":
        try:
            vector, model = text_embedding(words)
        except FunctionUnavailable as exc:
            return error(501, str(exc))
        except FunctionRejected as exc:
            return error(400, f"these words cannot be searched for as a picture: {exc}")
        hits = queries.similar_images(search_index(), workspace(), vector, model, limit, filters=filters,
                                      uploaded_at=uploaded_at)
        return jsonify(query=words, kind=kind, hits=_hits(hits)), 200
    modes = [query.mode] if query.mode else [queries.EXACT, queries.SEMANTIC]
    idx = search_index()
    found = queries.words(idx, workspace(), words, limit, modes, filters, uploaded_at)
    reply: dict[str, Any] = {"query": words, "kind": kind, "hits": _hits(found.hits)}
    if found.notice:
        reply["notice"] = say(found.notice)  # a known notice in the reader's language
    elif not any(hit["match"] == queries.EXACT for hit in found.hits) and queries.pictures_without_clip(
            idx, workspace()):
        # Words found nowhere may describe a picture, which only CLIP could find.
        reply["notice"] = say(NOT_INSTALLED)
    if not found.complete:
        reply["note"] = (f"part of a word is searched in the first {idx.config.scan_max_chunks} "
                         "text chunks only: type whole words to search everything")
    return jsonify(reply), 200


@search.post("/search/image")
@needs(Need.VIEWER)
@operation("Copies of an image sent, or of an upload's, and pictures like it.", {200: ImageSearchReply,
           404: Error, 413: Error, 415: Error}, query=LimitQuery, body=ImageSearchRequest, image_body=True)
def search_image(query: LimitQuery, body: ImageSearchRequest | None = None) -> tuple[Response, int]:
    """Exact and near duplicates of a picture (raw bytes or form file ``file``) or of an upload, found by
    its fingerprints, and similar pictures when a CLIP model is installed."""
    idx = search_index()
    if body is not None:
        return _like_upload(idx, body, query.limit)
    file = request.files.get("file")
    data = file.read() if file else request.get_data()
    content_type = (file.mimetype if file else request.content_type) or "application/octet-stream"
    if not data:
        return error(400, "send an image as the request body (or a form field 'file'), or {'upload_id': ...}")
    if len(data) > current_app.config["MAX_UPLOAD_BYTES"]:
        return error(413, "the image is too large")
    try:
        sent = fingerprint_of(data)
    except PictureUnreadable:
        return error(415, "send a picture (JPEG, PNG, WebP, ...): this file is none that can be read")
    copies = queries.duplicates(idx, workspace(), sent)
    reply: dict[str, Any] = {"duplicates": _hits(copies), "hits": []}
    s = store()
    key = f"{workspace_prefix(workspace())}{QUERY_PREFIX}{uuid.uuid4().hex}"
    s.put_bytes(s.settings.artefacts_bucket, key, data, content_type)
    try:
        vector, model = image_embedding(s, s.settings.artefacts_bucket, key, content_type)
        reply["hits"] = _hits(queries.similar_images(idx, workspace(), vector, model, query.limit,
                                                     sha256=sent.sha256))
    except FunctionUnavailable as exc:
        reply["notice"] = say(str(exc))  # a known notice in the reader's language
    except FunctionRejected as exc:
        return error(415, f"send a picture (JPEG, PNG, WebP, ...): {exc}")
    finally:
        s.delete(s.settings.artefacts_bucket, key)
    return jsonify(reply), 200


def _like_upload(idx: Index, body: ImageSearchRequest, limit: int) -> tuple[Response, int]:
    upload_id = body.upload_id
    copies = queries.duplicates_of(idx, workspace(), upload_id) if body.frame is None else []
    found = queries.image_of(idx, workspace(), upload_id, body.frame)
    if found is None and idx.fingerprints(workspace()).get(upload_id) is None:
        return error(404, f"upload {upload_id} is no analysed picture of this workspace")
    reply: dict[str, Any] = {"upload_id": upload_id, "duplicates": _hits(copies), "hits": []}
    if found is None:
        reply["notice"] = say(NOT_INSTALLED)
    else:
        vector, model, sha256 = found
        reply["hits"] = _hits(queries.similar_images(idx, workspace(), vector, model, limit, leave_out=upload_id,
                                                     sha256=sha256))
    return jsonify(reply), 200


# In the reader's language: the pages show these errors as they come.
GONE = lazy_gettext(
    "that person is no longer in this workspace (merged into someone else, or removed): reload the page")
FACE_GONE = lazy_gettext(
    "that face is no longer in this workspace (its upload was deleted or analysed again): reload the page")


@search.get("/people")
@needs(Need.VIEWER)
@operation("Everyone the faces found were grouped into.", {200: PeopleList}, query=PeopleQuery)
def list_people(query: PeopleQuery) -> tuple[Response, int]:
    known = people()
    found = known.all(hidden=query.hidden)
    return jsonify(total=len(found), people=found, undo=known.last_decision()), 200


@search.post("/people/undo")
@needs(Need.EDITOR)
@operation("Takes back the last decision about people (a name, a hide, a merge, a move).", {200: Undone, 409: Error})
def undo_people() -> tuple[Response, int]:
    known = people()
    try:
        undone = known.undo()
    except NothingToUndo:
        return error(409, "there is nothing left to undo")
    audit.record(Action.PEOPLE_UNDONE, "", {"undone": undone[:200]})
    return jsonify(undone=undone, undo=known.last_decision()), 200


@search.get("/people/<person>")
@needs(Need.VIEWER)
@operation("One person, with every face of theirs.", {200: PersonWithFaces, 404: Error})
def get_person(person: str) -> tuple[Response, int]:
    """The person, with ``members``: every face of theirs and the picture it is in, for thumbnails."""
    found = people()
    try:
        summary = found.summary(person)
    except PersonNotFound:
        return error(404, str(GONE))
    seen = pictures()
    members = []
    for face in found.members(summary["id"]):
        try:
            members.append(seen.with_picture(found.face(face)))
        except FaceNotFound:
            continue
    return jsonify({**summary, "members": members}), 200


@search.patch("/people/<person>")
@needs(Need.EDITOR)
@operation("Names a person, or hides them.", {200: Person, 404: Error}, body=PersonName)
def name_person(person: str, body: PersonName) -> tuple[Response, int]:
    if body.name is None and body.hidden is None:
        return error(400, "send {'name': ...} to name the person, or {'hidden': true} to hide them")
    known = people()
    try:
        changed = known.summary(person)
        if body.name is not None:
            changed = known.rename(person, body.name)
            audit.record(Action.PERSON_RENAMED, person, {"name": body.name[:80]})
        if body.hidden is not None:
            changed = known.hide(person, body.hidden)
            audit.record(Action.PERSON_HIDDEN, person, {"hidden": str(body.hidden).lower()})
    except PersonNotFound:
        return error(404, str(GONE))
    return jsonify(changed), 200


@search.post("/people/merge")
@needs(Need.EDITOR)
@operation("Makes several people one.", {200: Person, 404: Error, 409: Error}, body=MergeRequest)
def merge_people(body: MergeRequest) -> tuple[Response, int]:
    """``{"into": "p1", "people": ["p2", ...]}``, or ``{"people": ["p1", "p2"]}`` (into the first)."""
    others = body.people
    into = body.into or others[0]
    if not [p for p in others if p != into]:
        return error(400, "name at least two people to merge")
    try:
        merged = people().merge(into, others)
    except PersonNotFound:
        return error(404, str(GONE))
    except PersonConflict as exc:
        return error(409, str(exc))
    audit.record(Action.PERSON_MERGED, into, {"people": ",".join(others)[:200]})
    return jsonify(merged), 200


@search.post("/faces/<face>/split")
@needs(Need.EDITOR)
@operation("Moves a face out of its person.", {200: Person, 404: Error, 409: Error}, body=SplitRequest)
def split_face(face: str, body: SplitRequest) -> tuple[Response, int]:
    """Moves a face out of its person: alone, or into ``{"person": ...}``."""
    try:
        moved = people().split(face, body.person)
    except FaceNotFound:
        return error(404, str(FACE_GONE))
    except PersonNotFound:
        return error(404, str(GONE))
    except PersonConflict as exc:
        return error(409, str(exc))
    audit.record(Action.FACE_SPLIT, face, {"into": body.person or ""})
    return jsonify(moved), 200


@search.get("/people/<person>/uploads")
@needs(Need.VIEWER)
@operation("Every upload where a person appears.", {200: PersonUploads, 404: Error})
def person_uploads(person: str) -> tuple[Response, int]:
    """Every upload where the person appears; video faces carry their time."""
    known = people()
    try:
        found = known.uploads_of(person)
        resolved = known.resolve(person)
    except PersonNotFound:
        return error(404, str(GONE))
    for entry in found:
        if pipeline().exists(entry["upload_id"], workspace()):
            upload = pipeline().upload(entry["upload_id"], workspace())
            entry.update(key=upload.key, media_type=upload.media_type)
    return jsonify(person=resolved, uploads=_hits(found)), 200


@search.post("/index/rebuild")
@needs(Need.OWNER)
@operation("Indexes every finished upload of the workspace again (owners).", {202: RebuildJob})
def rebuild_index() -> tuple[Response, int]:
    """Indexes every finished upload of the workspace again (people, names and corrections stay)."""
    return jsonify(job=jobs.enqueue_rebuild(workspace())), 202


@search.post("/uploads/reprocess")
@needs(Need.OWNER)
@operation("Runs the pipeline again for some or all uploads of the workspace (owners).", {202: Reprocessing},
           query=ReprocessQuery, body=ReprocessRequest)
def reprocess_uploads(query: ReprocessQuery, body: ReprocessRequest) -> tuple[Response, int]:
    """Runs the pipeline again for ``{"upload_ids": [...]}``, ``?all=1``, or uploads whose
    ``?function=`` result came from another ``&engine_version=``."""
    if body.upload_ids is not None:
        chosen = body.upload_ids
    elif query.function and query.engine_version is not None:
        chosen = jobs.stale(pipeline().records, workspace(), query.function, query.engine_version)
    elif query.all:
        chosen = pipeline().all_ids(workspace())
    else:
        return error(400, "send {'upload_ids': [...]}, ?all=1, or ?function=NAME&engine_version=VERSION")
    return jsonify(reprocessing=pipeline().reprocess(chosen, workspace())), 202
