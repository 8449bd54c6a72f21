"""The RQ jobs of search: index a finished upload, rebuild a workspace's index; forget a deleted upload.

An upload's vectors, words and faces go to the workspace its record names, and nowhere else.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from rq import Queue, Retry

from scheduler.analysis import function_results, readable
from scheduler.context import queue, redis, store
from scheduler.names import IMAGE_PICTURE
from scheduler.uploads import State, UploadNotFound, Uploads
from storage.client import ObjectMissing, Store
from storage.layout import result_key

from . import text
from .contents import Contents, Frame, contents_of
from .fingerprints import Fingerprint
from .index import FACES, IMAGES, TEXT, Entry, Index, index
from .people import Face, People, face_id
from .settings import settings

logger = logging.getLogger(__name__)

INDEX_STEP = "index"
REBUILD_TIMEOUT_S = 6 * 3600


def retry_later() -> Retry:
    """An index job that failed (the embed function gave no answer: remote.FunctionUnavailable) runs again
    later instead of leaving the upload's text out of the index; it replaces what it wrote, so running
    it again is safe. Needs workers started with their RQ scheduler, as scheduler/worker.py starts them."""
    return Retry(max=len(settings().index_retry_s), interval=list(settings().index_retry_s))


def _log(upload: str) -> dict[str, Any]:
    return {"extra": {"upload_id": upload, "step": INDEX_STEP}}


def _metadata(**values: Any) -> dict[str, str | int | float | bool]:
    """Chroma metadata holds no None: an absent time is an absent key."""
    return {key: value for key, value in values.items() if value is not None and value != ""}


def entries_for(contents: Contents) -> tuple[list[Entry], list[Face]]:
    """The upload's vectors (image, face and text) and the faces to place into people."""
    upload = contents.upload_id
    base = {"key": contents.key, "media_type": contents.media_type}
    entries: list[Entry] = []
    faces: list[Face] = []
    chunks: list[tuple[text.Chunk, str, str]] = []
    for frame in contents.frames:
        picture = f"{upload}:{frame.name}"
        where = _metadata(**base, picture=picture, frame=frame.name, time=frame.time, end=frame.end)
        clip = frame.results.get("clip") or {}
        if clip.get("embedding"):
            model = str(clip.get("embedding_model") or (clip.get("engine") or {}).get("model") or "clip")
            sha = contents.sha256 if frame.name == IMAGE_PICTURE else None
            entries.append(Entry(f"{upload}:{frame.name}", IMAGES, model, clip["embedding"],
                                 {**where, **_metadata(sha256=sha)}))
        entries_faces = _faces(upload, frame, where)
        entries += [entry for entry, _ in entries_faces]
        faces += [face for _, face in entries_faces]
        chunk = text.ocr_chunk((frame.results.get("ocr") or {}).get("lines") or [], frame.time, frame.end)
        if chunk is not None:
            chunks.append((chunk, f"{upload}:ocr:{frame.name}", frame.name))
        chunk = text.caption_chunk(frame.results.get("caption") or {}, frame.time, frame.end)
        if chunk is not None:
            chunks.append((chunk, f"{upload}:caption:{frame.name}", frame.name))
    summary = text.summary_chunk(contents.summary)
    if summary is not None:
        chunks.append((summary, f"{upload}:summary", ""))
    for number, chunk in enumerate(text.transcript_chunks(contents.segments, settings().chunk_words)):
        chunks.append((chunk, f"{upload}:transcript:{number}", ""))
    if chunks:
        vectors = text.embedder().embed([chunk.text for chunk, _, _ in chunks])
        for (chunk, entry_id, frame_name), vector in zip(chunks, vectors, strict=True):
            meta = _metadata(
                **base, source=chunk.source, frame=frame_name or None, start=chunk.start, end=chunk.end,
                spans=chunk.spans_json() if chunk.spans else None,
            )
            entries.append(Entry(entry_id, TEXT, text.MODEL_NAME, vector, meta, chunk.text))
    return entries, faces


def _faces(upload: str, frame: Frame, where: dict[str, Any]) -> list[tuple[Entry, Face]]:
    found = []
    for number, face in enumerate((frame.results.get("faces") or {}).get("faces") or []):
        if not isinstance(face, Mapping) or not face.get("embedding"):
            continue  # too small to embed: seen, but not recognisable
        model = str(face.get("embedding_model") or "unknown")
        identity = face_id(upload, frame.name, number)
        box = face.get("box") if isinstance(face.get("box"), Mapping) else None
        quality = _number(face.get("quality"))
        meta = {**where, **_metadata(box=json.dumps(box) if box else None, quality=quality)}
        picture = str(where["picture"])
        found.append((
            Entry(identity, FACES, model, face["embedding"], meta),
            Face(identity, upload, picture, model, face["embedding"], frame.time, dict(box or {})),
        ))
    return found


def _number(value: Any) -> float | None:
    if isinstance(value, Mapping):
        value = value.get("score")
    return float(value) if isinstance(value, (int, float)) else None


def index_document(upload: str, document: Mapping[str, Any], records: Uploads, idx: Index) -> dict[str, int]:
    """Replaces the upload's vectors and places its faces, in its workspace; a deleted upload is left alone."""
    workspace = records.workspace_of(upload)
    contents = contents_of(document)
    contents.upload_id = upload
    entries, faces = entries_for(contents)
    still_wanted = lambda: records.exists(upload)  # noqa: E731
    fingerprint = Fingerprint(contents.sha256, contents.phash, contents.key, contents.media_type)
    written = idx.replace(workspace, upload, entries, still_wanted, fingerprint)
    people = People(records.redis, idx, workspace)
    people.retain(upload, {face.id for face in faces})
    placed = people.place(faces, still_wanted)
    logger.info("indexed %d vectors, %d faces", written, len(placed), **_log(upload))
    return {"vectors": written, "faces": len(placed)}


def document_of(upload: str, records: Uploads, store: Store) -> dict[str, Any] | None:
    record = records.get(upload)
    try:
        found: dict[str, Any] = store.get_json(store.settings.results_bucket, result_key(record.key))
    except ObjectMissing:
        return None
    # The results object is per key: a later version of the same key may have replaced it.
    if (found.get("upload") or {}).get("id") not in (None, upload):
        return None
    return readable(found)


def index_stored(upload: str, records: Uploads, store: Store, idx: Index) -> str:
    """Indexes the analysis stored in the results bucket for ``upload``."""
    try:
        document = document_of(upload, records, store)
    except UploadNotFound:
        return "deleted"
    if document is None:
        logger.warning("no analysis to index", **_log(upload))
        return "no analysis"
    counts = index_document(upload, document, records, idx)
    return f"{counts['vectors']} vectors, {counts['faces']} faces"


def index_upload(upload: str) -> str:
    """RQ job, enqueued by search's pipeline hook when an upload finishes."""
    return index_stored(upload, Uploads(redis()), store(), index())


def rebuild_all(records: Uploads, store: Store, idx: Index, workspace: str, drop: bool = True) -> dict[str, int]:
    """Indexes every finished upload of a workspace again; people, names and corrections stay."""
    if drop:
        idx.drop_workspace(workspace)
    done = 0
    for record in records.all(workspace):
        if record.state in (State.DONE, State.FAILED):
            done += index_stored(record.id, records, store, idx) not in ("deleted", "no analysis")
    return {"uploads": done}


def rebuild(workspace: str, drop: bool = True) -> dict[str, int]:
    """RQ job behind POST /api/v1/index/rebuild."""
    return rebuild_all(Uploads(redis()), store(), index(), workspace, drop)


def enqueue_rebuild(workspace: str, q: Queue | None = None) -> str:
    job = (q or queue()).enqueue(rebuild, workspace, job_timeout=REBUILD_TIMEOUT_S, retry=retry_later(),
                                 description=f"rebuild the index of workspace {workspace}")
    return str(job.id)


def forget_upload(upload: str, workspace: str, records: Uploads, idx: Index) -> dict[str, int]:
    """Removes the upload's vectors and faces from its workspace (the pipeline removes its record and
    objects, so the workspace comes from the caller, which read the record before)."""
    idx.remove(workspace, upload)
    return {"faces": People(records.redis, idx, workspace).forget_upload(upload)}


def stale(records: Uploads, workspace: str, function: str, engine_version: str) -> list[str]:
    """A workspace's uploads whose ``function`` result came from another engine version than
    ``engine_version``."""
    found = []
    for record in records.all(workspace):
        versions = [
            str(((result or {}).get("engine") or {}).get("version", ""))
            for result in function_results(records.results(record.id), function)
        ]
        if any(version != engine_version for version in versions):
            found.append(record.id)
    return found
