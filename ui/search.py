"""The search and people API under /api/v1: words, images, people, and index upkeep."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request

from search import jobs, queries
from search.clip import ClipUnavailable, image_embedding, text_embedding
from search.index import Index, index
from search.people import FaceNotFound, People, PersonConflict, PersonNotFound

from .api import error, require_key
from .context import pipeline, redis, store, ui_settings
from .inputs import json_object, whole_number
from .media import Pictures

search = Blueprint("search", __name__, url_prefix="/api/v1")
search.before_request(require_key)

QUERY_PREFIX = "search-queries/"
MAX_LIMIT = 100


def search_index() -> Index:
    found: Index | None = current_app.extensions.get("medialens.index")
    return found or index()


def people() -> People:
    return People(redis(), search_index())


def pictures() -> Pictures:
    return Pictures(pipeline())


def _hits(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Hits as the pages show them: each with a presigned thumbnail URL."""
    return pictures().with_thumbnails(found)


def _limit() -> int:
    return whole_number("limit", 20, 1, MAX_LIMIT)


def _admin() -> tuple[Response, int] | None:
    if getattr(g.principal, "role", "") != "admin":
        return error(403, "this needs an admin API key")
    return None


@search.get("/search")
def search_words() -> tuple[Response, int]:
    """Words in transcripts and on screen (``kind=text``), or pictures for a description (``kind=image``)."""
    query = (request.args.get("q") or "").strip()
    if not query:
        return error(400, "send ?q=words to search for")
    longest = ui_settings().search_max_query_chars
    if len(query) > longest:
        return error(400, f"the query is {len(query)} characters long: search for up to {longest}")
    limit = _limit()
    kind = request.args.get("kind", "text")
    if kind == "image":
        try:
            vector, model = text_embedding(query)
        except ClipUnavailable as exc:
            return error(501, str(exc))
        hits = queries.similar_images(search_index(), vector, model, limit)
        return jsonify(query=query, kind=kind, hits=_hits(hits)), 200
    if kind != "text":
        return error(400, "kind must be 'text' (words) or 'image' (pictures that fit a description)")
    mode = request.args.get("mode", "")
    modes = [mode] if mode in (queries.EXACT, queries.SEMANTIC) else [queries.EXACT, queries.SEMANTIC]
    idx = search_index()
    found = queries.words(idx, query, limit, modes)
    reply: dict[str, Any] = {"query": query, "kind": kind, "hits": _hits(found.hits)}
    if not found.complete:
        reply["note"] = (f"part of a word is searched in the first {idx.config.scan_max_chunks} "
                         "text chunks only: type whole words to search everything")
    return jsonify(reply), 200


@search.post("/search/image")
def search_image() -> tuple[Response, int]:
    """Similar images and near-duplicates of a picture (raw bytes or form file ``file``) or of an upload."""
    idx = search_index()
    body = json_object() if request.is_json else None
    if body is not None:
        upload_id = str(body.get("upload_id") or "")
        if not upload_id:
            return error(400, "send {'upload_id': ...} or the image itself as the request body")
        found = queries.image_of(idx, upload_id, body.get("frame"))
        if found is None:
            return error(404, f"upload {upload_id} has no image embedding (is a CLIP model installed?)")
        vector, model, sha256 = found
        hits = queries.similar_images(idx, vector, model, _limit(), leave_out=upload_id, sha256=sha256)
        return jsonify(upload_id=upload_id, hits=_hits(hits)), 200
    file = request.files.get("file")
    data = file.read() if file else request.get_data()
    content_type = (file.mimetype if file else request.content_type) or "application/octet-stream"
    if not data:
        return error(400, "send an image as the request body (or a form field 'file'), or {'upload_id': ...}")
    if len(data) > current_app.config["MAX_UPLOAD_BYTES"]:
        return error(413, "the image is too large")
    s = store()
    key = f"{QUERY_PREFIX}{uuid.uuid4().hex}"
    s.put_bytes(s.settings.artefacts_bucket, key, data, content_type)
    try:
        vector, model = image_embedding(s, s.settings.artefacts_bucket, key, content_type)
    except ClipUnavailable as exc:
        return error(501, str(exc))
    finally:
        s.delete(s.settings.artefacts_bucket, key)
    return jsonify(hits=_hits(queries.similar_images(idx, vector, model, _limit()))), 200


@search.get("/people")
def list_people() -> tuple[Response, int]:
    found = people().all()
    return jsonify(total=len(found), people=found), 200


@search.get("/people/<person>")
def get_person(person: str) -> tuple[Response, int]:
    """The person, with ``members``: every face of theirs and the picture it is in, for thumbnails."""
    found = people()
    try:
        summary = found.summary(person)
    except PersonNotFound:
        return error(404, f"no person {person}")
    seen = pictures()
    members = []
    for face in found.members(summary["id"]):
        try:
            members.append(seen.with_picture(found.face(face)))
        except FaceNotFound:
            continue
    return jsonify({**summary, "members": members}), 200


@search.patch("/people/<person>")
def name_person(person: str) -> tuple[Response, int]:
    body = json_object()
    name = body.get("name")
    if not isinstance(name, str) or len(name) > 200:
        return error(400, "send {'name': ...} (up to 200 characters; an empty name clears it)")
    try:
        return jsonify(people().rename(person, name)), 200
    except PersonNotFound:
        return error(404, f"no person {person}")


@search.post("/people/merge")
def merge_people() -> tuple[Response, int]:
    """``{"into": "p1", "people": ["p2", ...]}``, or ``{"people": ["p1", "p2"]}`` (into the first)."""
    body = json_object()
    others = body.get("people")
    if not isinstance(others, list) or not all(isinstance(p, str) for p in others):
        return error(400, "send {'into': person, 'people': [person, ...]}")
    into = body.get("into") or (others[0] if others else None)
    if not isinstance(into, str) or not [p for p in others if p != into]:
        return error(400, "name at least two people to merge")
    try:
        return jsonify(people().merge(into, others)), 200
    except PersonNotFound as exc:
        return error(404, f"no person {exc.args[0]}")
    except PersonConflict as exc:
        return error(409, str(exc))


@search.post("/faces/<face>/split")
def split_face(face: str) -> tuple[Response, int]:
    """Moves a face out of its person: alone, or into ``{"person": ...}``."""
    body = json_object()
    into = body.get("person")
    if into is not None and not isinstance(into, str):
        return error(400, "'person' must be a person id")
    try:
        return jsonify(people().split(face, into)), 200
    except FaceNotFound:
        return error(404, f"no face {face}")
    except PersonNotFound as exc:
        return error(404, f"no person {exc.args[0]}")
    except PersonConflict as exc:
        return error(409, str(exc))


@search.get("/people/<person>/uploads")
def person_uploads(person: str) -> tuple[Response, int]:
    """Every upload where the person appears; video faces carry their time."""
    try:
        found = people().uploads_of(person)
        resolved = people().resolve(person)
    except PersonNotFound:
        return error(404, f"no person {person}")
    for entry in found:
        if pipeline().exists(entry["upload_id"]):
            upload = pipeline().upload(entry["upload_id"])
            entry.update(key=upload.key, media_type=upload.media_type)
    return jsonify(person=resolved, uploads=_hits(found)), 200


@search.post("/index/rebuild")
def rebuild_index() -> tuple[Response, int]:
    """Indexes every finished upload again (people, names and corrections stay)."""
    refused = _admin()
    if refused:
        return refused
    return jsonify(job=jobs.enqueue_rebuild()), 202


@search.post("/uploads/reprocess")
def reprocess_uploads() -> tuple[Response, int]:
    """Runs the pipeline again for ``{"upload_ids": [...]}``, ``?all=1``, or uploads whose
    ``?function=`` result came from another ``&engine_version=``."""
    refused = _admin()
    if refused:
        return refused
    body = json_object()
    function, version = request.args.get("function"), request.args.get("engine_version")
    if isinstance(body.get("upload_ids"), list):
        chosen = [str(u) for u in body["upload_ids"]]
    elif function and version is not None:
        chosen = jobs.stale(pipeline().records, function, version)
    elif request.args.get("all") in ("1", "true"):
        chosen = pipeline().all_ids()
    else:
        return error(400, "send {'upload_ids': [...]}, ?all=1, or ?function=NAME&engine_version=VERSION")
    return jsonify(reprocessing=pipeline().reprocess(chosen)), 202
