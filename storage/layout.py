"""Where things live in the buckets: the one place that builds object keys."""

from __future__ import annotations

import re


def result_key(upload_key: str) -> str:
    """The analysis of ``uploads/<key>`` is stored as ``results/<key>.json``."""
    return f"{upload_key}.json"


def artefact_key(upload_id: str, name: str) -> str:
    """Artefacts of one upload share a prefix, so deleting an upload deletes them all."""
    return f"{upload_id}/{name}"


def artefact_prefix(upload_id: str) -> str:
    return f"{upload_id}/"


WORKSPACE_ID = re.compile(r"[a-z0-9][a-z0-9-]{1,31}")


def workspace_prefix(workspace: str) -> str:
    """Every object of a workspace, in every bucket, lives under ``<workspace>/``."""
    if not WORKSPACE_ID.fullmatch(workspace):
        raise ValueError(
            f"workspace id {workspace!r} is not valid: use 2-32 lowercase letters, digits or '-', "
            "starting with a letter or digit"
        )
    return f"{workspace}/"
