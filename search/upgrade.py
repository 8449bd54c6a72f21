"""The upgrade of search's data from before workspaces: vectors, word index and people move into the legacy workspace.

Before workspaces, Chroma collections were named ``<prefix>-<kind>-<model>`` with no workspace in
their metadata, and every search key was ``ml:<part>...``. Both move, as they are, to where
LEGACY_WORKSPACE keeps them (scheduler/keys.py names each key ``<workspace(id)>:<part>...``), so
nothing is embedded or grouped again and every person keeps its id, name and corrections.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from redis.exceptions import ResponseError

from scheduler import keys
from storage.layout import LEGACY_WORKSPACE

from .index import Index, collection_name

logger = logging.getLogger(__name__)

LAYOUT = "workspaces"  # what keys.SEARCH_LAYOUT holds once the upgrade is done
PARTS = (*keys.PEOPLE_PARTS, keys.WORDS_PART)
OLD_PREFIX = f"{keys.PREFIX}:"
SCAN_BATCH = 1000


@dataclass(frozen=True)
class Upgraded:
    keys: int = 0
    collections: int = 0
    left: int = 0  # keys whose new name was taken already: left where they are, and logged


def to_workspaces(index: Index) -> Upgraded:
    """Moves every collection, word index key and people key without a workspace to LEGACY_WORKSPACE.

    Idempotent: what has moved is not found under its old name again, and once all has moved a marker
    makes later calls one GET. Runs under the index's write lock, so two processes starting at once
    move each thing once.
    """
    redis = index.redis
    if keys.text(redis.get(keys.SEARCH_LAYOUT) or b"") == LAYOUT:
        return Upgraded()
    with index.writing() as client:
        moving = [listed for listed in client.listing()
                  if listed.name.startswith(f"{index.config.collection_prefix}-")
                  and "kind" in (listed.metadata or {}) and "workspace" not in (listed.metadata or {})]
        if moving:  # their vectors' uploads are in no record of indexed uploads: it starts again, before they move
            index.indexed(LEGACY_WORKSPACE).clear()
        for listed in moving:
            meta = dict(listed.metadata or {})
            new_name = collection_name(index.config.collection_prefix, LEGACY_WORKSPACE, str(meta["kind"]),
                                       str(meta.get("model")))
            # The distance space is part of the collection's configuration, which stays; Chroma refuses a
            # modify that names it in the metadata.
            kept = {name: value for name, value in meta.items() if not name.startswith("hnsw:")}
            listed.modify(name=new_name, metadata={**kept, "workspace": LEGACY_WORKSPACE})
        collections = len(moving)
        moved, left = _move_keys(index)
    if not left:
        redis.set(keys.SEARCH_LAYOUT, LAYOUT)
    if moved or collections or left:
        logger.info("moved %d search keys and %d collections into workspace %s; %d left", moved, collections,
                    LEGACY_WORKSPACE, left)
    return Upgraded(moved, collections, left)


def _move_keys(index: Index) -> tuple[int, int]:
    """Renames each ``ml:<part>...`` key of search to ``<workspace(LEGACY)>:<part>...``; (moved, left)."""
    redis = index.redis
    target = keys.workspace(LEGACY_WORKSPACE)
    old = [name for name in map(keys.text, redis.scan_iter(match=f"{OLD_PREFIX}*", count=SCAN_BATCH))
           if name[len(OLD_PREFIX):].startswith(PARTS)]
    lock = keys.people_lock(LEGACY_WORKSPACE)[len(target) + 1 :]
    moved = left = 0
    for name in old:
        rest = name[len(OLD_PREFIX):]
        if rest == lock:
            continue  # a lock expires by itself; its holder is a process from before the upgrade
        try:
            renamed = redis.renamenx(name, f"{target}:{rest}")
        except ResponseError:
            continue  # gone since the scan: moved already
        if renamed:
            moved += 1
        else:
            left += 1
            logger.warning("search key %s was not moved: %s:%s exists already", name, target, rest)
    return moved, left
