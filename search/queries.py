"""Search queries over one workspace's index: words, images like an image, images for a description."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from . import text
from .filters import OVERFETCH, Filters
from .fingerprints import Fingerprint
from .index import IMAGES, SCAN_PAGE, TEXT, Hit, Index
from .remote import FunctionUnavailable
from .settings import settings
from .words import words_of

EXACT, SEMANTIC = "exact", "semantic"


@dataclass(frozen=True)
class TextHits:
    """Text hits, best first; ``complete`` is False when a partial word was looked for in only the
    first ``scan_max_chunks`` chunks, so more may hold it; ``notice`` says why passages close in
    meaning were not looked for (the embed function gave no answer)."""

    hits: list[dict[str, Any]]
    complete: bool = True
    notice: str = ""


def exact(
    index: Index, workspace: str, query: str, limit: int, keep: Callable[[Hit], bool] = lambda hit: True
) -> tuple[list[Hit], bool]:
    """Text chunks that hold ``query`` as written, in any case.

    The word index gives the chunks holding every word of the query as a whole word; the substring
    test on their text then keeps only those with the words in the query's order, so the result
    stays exact. A query word that is no whole word of any chunk (a partial word, "zanzi" of
    "Zanzibar") is looked up in the workspace's vocabulary: the chunks holding a word that holds it are
    the candidates, tested alike, at most ``scan_max_chunks`` of them (False comes back when that bound
    left some out). A query of no word, a part of a word so common that many chunks hold it, or a
    workspace whose vocabulary is not kept yet falls back to a scan of as many chunks.
    """
    wanted = query.lower()
    words = words_of(query)
    known = index.words(workspace)
    if not known.knows(words):
        return _partial(index, workspace, query, limit, keep)
    hits: list[Hit] = []
    # Most candidates of a whole-word query pass the test, so a batch a little over the limit is enough.
    for ids in known.candidates(words, batch=max(2 * limit, 64)):
        for hit in index.by_ids(workspace, TEXT, ids):
            if wanted in (hit.document or "").lower() and keep(hit):
                hits.append(hit)
                if len(hits) >= limit:
                    return hits, True
    return hits, True


def _partial(
    index: Index, workspace: str, query: str, limit: int, keep: Callable[[Hit], bool]
) -> tuple[list[Hit], bool]:
    """Chunks that hold ``query`` where a word of it is part of a word only: each query word lies inside one
    word of a chunk that holds the query (or inside an over-long run, never indexed as a word), so the
    chunks holding those are the only candidates."""
    most = index.config.scan_max_chunks
    candidates = index.words(workspace).partial_candidates(words_of(query), most)
    if candidates is None:
        return index.containing(workspace, TEXT, query, limit, most, keep)
    ids, complete = candidates
    wanted, hits, at, batch = query.lower(), [], 0, max(2 * limit, 64)
    while at < len(ids):
        for hit in index.by_ids(workspace, TEXT, ids[at:at + batch]):
            if wanted in (hit.document or "").lower() and keep(hit):
                hits.append(hit)
                if len(hits) >= limit:
                    return hits, True
        at, batch = at + batch, min(batch * 2, SCAN_PAGE)
    return hits, complete


def _place(metadata: dict[str, Any]) -> dict[str, Any]:
    place = {
        "upload_id": metadata.get("upload_id"),
        "key": metadata.get("key"),
        "media_type": metadata.get("media_type"),
    }
    for name in ("frame", "source"):
        if metadata.get(name):
            place[name] = metadata[name]
    return place


def _text_hit(hit: Hit, match: str, query: str) -> dict[str, Any]:
    meta, document = hit.metadata, hit.document or ""
    start, end = meta.get("start"), meta.get("end")
    where = document.lower().find(query.lower()) if match == EXACT else -1
    span = text.time_at(text.spans_from_json(meta.get("spans")), where) if where >= 0 else None
    if span is not None:
        # An exact word is pinned to the segment that says it, not to the whole chunk.
        start, end = span.start, span.end
    score = round(1.0 - hit.distance, 4)
    result = {**_place(meta), "match": match, "score": score, "text": _snippet(document, where)}
    if start is not None:
        result.update(start=start, end=end if end is not None else start)
    return result


def _snippet(document: str, where: int, width: int = 160) -> str:
    if len(document) <= width:
        return document
    begin = max(0, where - width // 3) if where >= 0 else 0
    return ("..." if begin else "") + document[begin : begin + width] + "..."


def words(
    index: Index, workspace: str, query: str, limit: int = 20, modes: Sequence[str] = (EXACT, SEMANTIC),
    filters: Filters = Filters(), uploaded_at: Callable[[str], float | None] = lambda upload: None,
) -> TextHits:
    """Exact matches first (the words as written, any case), then passages close in meaning.

    A passage is close in meaning only within ``semantic_max_distance`` of the query and within
    ``semantic_margin`` of the closest one: a word in no passage (a name nobody said, a typo) is
    near nothing, and then nothing is what it finds rather than the least far passages.
    """
    query = " ".join(query.split())
    hits: dict[str, dict[str, Any]] = {}
    complete = True
    keep = (lambda hit: filters.keeps(hit.metadata, uploaded_at)) if filters else (lambda hit: True)
    if EXACT in modes:
        found, complete = exact(index, workspace, query, limit, keep)
        for hit in found:
            hits[hit.id] = _text_hit(hit, EXACT, query)
    if SEMANTIC in modes and len(hits) < limit:
        try:
            vector = text.embedder().embed([query])[0]
        except FunctionUnavailable as exc:
            return TextHits(list(hits.values())[:limit], complete, str(exc))
        asked = limit * OVERFETCH if filters else limit
        near = [hit for hit in index.nearest(workspace, TEXT, text.MODEL_NAME, vector, asked,
                                             filters.where()) if keep(hit)]
        limits = settings()
        closest = min((hit.distance for hit in near), default=0.0)
        for hit in near:
            close = hit.distance <= min(limits.semantic_max_distance, closest + limits.semantic_margin)
            if hit.id not in hits and close:
                hits[hit.id] = _text_hit(hit, SEMANTIC, query)
    return TextHits(list(hits.values())[:limit], complete)


def _image_hit(hit: Hit, sha256: str = "") -> dict[str, Any]:
    meta = hit.metadata
    result = {**_place(meta), "distance": round(hit.distance, 4), "score": round(1.0 - hit.distance, 4),
              "near_duplicate": hit.distance <= settings().duplicate_distance}
    if sha256 and meta.get("sha256") == sha256:
        result["identical"] = True
    if meta.get("time") is not None:
        result.update(time=meta["time"], start=meta["time"], end=meta.get("end", meta["time"]))
    return result


def similar_images(
    index: Index, workspace: str, embedding: Sequence[float], model: str, limit: int = 20,
    leave_out: str = "", sha256: str = "", filters: Filters = Filters(),
    uploaded_at: Callable[[str], float | None] = lambda upload: None,
) -> list[dict[str, Any]]:
    """Images and keyframes nearest to ``embedding``; ``leave_out`` drops the query's own upload."""
    parts = [part for part in (filters.where(), {"upload_id": {"$ne": leave_out}} if leave_out else None) if part]
    where = None if not parts else parts[0] if len(parts) == 1 else {"$and": parts}
    found = index.nearest(workspace, IMAGES, model, embedding, limit * OVERFETCH if filters else limit, where)
    kept = [hit for hit in found if not filters or filters.keeps(hit.metadata, uploaded_at)]
    return [_image_hit(hit, sha256) for hit in kept[:limit]]


def image_of(
    index: Index, workspace: str, upload_id: str, frame: str | None = None
) -> tuple[list[float], str, str] | None:
    """The stored CLIP embedding of a workspace's upload (its image, or a keyframe): vector, model, sha256."""
    for model in index.models(workspace, IMAGES):
        where: dict[str, Any] = {"upload_id": upload_id}
        if frame:
            where = {"$and": [where, {"frame": frame}]}
        for hit in index.get(workspace, IMAGES, model, where):
            if hit.embedding is not None:
                return hit.embedding, model, str(hit.metadata.get("sha256") or "")
    return None


def duplicates(
    index: Index, workspace: str, found: Fingerprint, leave_out: str = ""
) -> list[dict[str, Any]]:
    """Uploads of the workspace that are the same file as ``found`` or the same picture resized or
    re-encoded, exact ones first; needs no CLIP model."""
    close = index.fingerprints(workspace).duplicates(found, leave_out, settings().duplicate_bits)
    return [duplicate.to_dict() for duplicate in close]


def duplicates_of(index: Index, workspace: str, upload_id: str) -> list[dict[str, Any]]:
    """The duplicates of one of the workspace's uploads (none when it has no fingerprint)."""
    known = index.fingerprints(workspace).get(upload_id)
    return [] if known is None else duplicates(index, workspace, known, leave_out=upload_id)


def pictures_without_clip(index: Index, workspace: str) -> bool:
    """Whether the workspace has analysed pictures but not one CLIP embedding: CLIP is not installed, so
    nothing can be found by what a picture shows."""
    return index.fingerprints(workspace).count() > 0 and not index.models(workspace, IMAGES)
