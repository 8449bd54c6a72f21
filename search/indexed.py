"""Which uploads of a workspace may have vectors in its collections, so that indexing one for the first time
asks Chroma to delete nothing.

Indexing an upload deletes its old vectors first, from every collection of its workspace, by metadata: a
request each that costs the index server more as the collections grow, under the lock every index job waits
for, and almost always finds nothing (an upload is indexed once, when its analysis ends). An upload joins the
set before any vector of it is written, and leaves it only once all of them are deleted, so a write cut off
at any point leaves no vector of an upload outside it.

The set speaks for a workspace only once it holds `KNOWN`, added while the workspace has no collection at all,
that is, no vector: a workspace indexed by an older version, or whose set was lost, keeps deleting first, as
every upload did before.
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
        """Whether ``upload_id`` may have vectors: it is in the set, or the set does not speak for the workspace.
        ``no_collections``: the workspace has none now, so the set may start to speak for it."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.sismember(self.key, KNOWN)
            pipe.sismember(self.key, upload_id)
            known, listed = pipe.execute()
        if not known and no_collections:
            self.redis.sadd(self.key, KNOWN)
            return False
        return not known or bool(listed)

    def add(self, upload_id: str) -> None:
        self.redis.sadd(self.key, upload_id)

    def discard(self, upload_id: str) -> None:
        self.redis.srem(self.key, upload_id)

    def clear(self) -> None:
        """The workspace's collections went: the set starts afresh with its next write."""
        self.redis.delete(self.key)
