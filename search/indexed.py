"""Which uploads of a workspace may have vectors in its collections, so that indexing one for the first time
asks Chroma to delete nothing.

Indexing an upload deleted its old vectors first, from every collection of its workspace, by metadata: a
request each that costs the index server more as the collections grow, under the lock every index job waits
for, and almost always found nothing (an upload is indexed once, when its analysis ends). An upload joins the
set before any vector of it is written, and leaves it only once all of them are deleted, so a writer killed at
any point leaves no vector of an upload outside it.

The set speaks for a workspace only once it holds `KNOWN`, added by a write that found the workspace without a
collection, that is, without vectors: a workspace indexed by an older version keeps deleting first, as every
upload did before, until it is dropped (a rebuild); collections moved into a workspace (search/upgrade.py) start
its set again.

Deleting an upload asks every collection all the same. A Redis that loses its last writes (killed, with
appendfsync everysec; or a failover to a replica behind it) may lose an upload's joining, while its vectors,
already written, must still go with it.
After such a loss, only an upload analysed again, whose new analysis has fewer vectors, keeps the old surplus
until it is deleted.
"""

from __future__ import annotations

from redis import Redis

from scheduler import keys

# A member no upload id can be (ids are hex): the set lists every upload of the workspace that has vectors.
KNOWN = ":known"


class Indexed:
    """One workspace's uploads that may have vectors; written under the index's write lock alone."""

    def __init__(self, redis: Redis, workspace: str, index: str) -> None:
        self.redis = redis
        self.key = keys.indexed(workspace, index)

    def may_have(self, upload_id: str, no_collections: bool) -> bool:
        """Whether ``upload_id`` may have vectors: the workspace has collections (``no_collections`` false) and the
        set lists the upload, or does not speak for the workspace."""
        if no_collections:
            return False
        known, listed = self.redis.smismember(self.key, [KNOWN, upload_id])
        return not known or bool(listed)

    def add(self, upload_id: str, first: bool) -> None:
        """Before any vector of ``upload_id`` is written. ``first``: the workspace has no collection yet, so from
        now on the set lists every upload of it that has vectors."""
        self.redis.sadd(self.key, upload_id, *([KNOWN] if first else []))

    def discard(self, upload_id: str) -> None:
        self.redis.srem(self.key, upload_id)

    def clear(self) -> None:
        """The workspace's collections went: the set starts afresh with its next write."""
        self.redis.delete(self.key)
