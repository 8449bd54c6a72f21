"""Where things live in the buckets: the one place that builds object keys.

Every object of a workspace lives under ``<workspace>/`` in each bucket, so the store itself can
hold a workspace's credentials to its own part (storage/credentials.py) and an object's key says
whose it is.
"""

from __future__ import annotations

import re
import uuid

WORKSPACE_ID = re.compile(r"[a-z0-9][a-z0-9-]{1,31}")
FORM_FOLDER_LENGTH = 12
FORM_FOLDER = re.compile(rf"[0-9a-f]{{{FORM_FOLDER_LENGTH}}}")


def valid_workspace(workspace: str) -> bool:
    return WORKSPACE_ID.fullmatch(workspace) is not None


def workspace_prefix(workspace: str) -> str:
    """The part of every bucket that belongs to one workspace (the id is checked: it goes into
    store policies and commands)."""
    if not valid_workspace(workspace):
        raise ValueError(
            f"workspace id {workspace!r} is not valid: use 2-32 lowercase letters, digits or '-', "
            "starting with a letter or digit"
        )
    return f"{workspace}/"


def workspace_of(key: str) -> str | None:
    """The workspace an object key lies under, or None when its first segment names none."""
    first, slash, _ = key.partition("/")
    return first if slash and valid_workspace(first) else None


def upload_key(workspace: str, name: str) -> str:
    """Where an upload's original goes: ``<workspace>/<name>``."""
    return workspace_prefix(workspace) + name


def form_upload_key(workspace: str, name: str) -> str:
    """Where a file sent through an upload form goes: a folder of its own, so two files of one name
    never replace each other."""
    return upload_key(workspace, f"{uuid.uuid4().hex[:FORM_FOLDER_LENGTH]}/{name}")


def shown_path(key: str, workspace: str) -> str:
    """An upload's key as its workspace reads it: without the workspace's prefix and an upload form's folder."""
    prefix = f"{workspace}/"
    relative = key[len(prefix):] if key.startswith(prefix) else key
    folder, slash, rest = relative.partition("/")
    return rest if slash and rest and FORM_FOLDER.fullmatch(folder) else relative


def result_key(upload_key: str) -> str:
    """The analysis of ``uploads/<key>`` is stored as ``results/<key>.json`` (the key holds the workspace)."""
    return f"{upload_key}.json"


def artefact_key(workspace: str, upload_id: str, name: str) -> str:
    """Artefacts of one upload share a prefix, so deleting an upload deletes them all."""
    return artefact_prefix(workspace, upload_id) + name


def artefact_prefix(workspace: str, upload_id: str) -> str:
    return f"{workspace_prefix(workspace)}{upload_id}/"


# What an installation from before workspaces becomes: its objects keep their keys, outside any prefix.
LEGACY_WORKSPACE = "default"
