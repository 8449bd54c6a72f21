"""Where things live in the buckets: the one place that builds object keys."""

from __future__ import annotations


def result_key(upload_key: str) -> str:
    """The analysis of ``uploads/<key>`` is stored as ``results/<key>.json``."""
    return f"{upload_key}.json"


def artefact_key(upload_id: str, name: str) -> str:
    """Artefacts of one upload share a prefix, so deleting an upload deletes them all."""
    return f"{upload_id}/{name}"


def artefact_prefix(upload_id: str) -> str:
    return f"{upload_id}/"
