"""Pictures' fingerprints in Redis, per workspace: the file's sha256 and the picture's perceptual hash, to
find exact and near duplicates with no CLIP model.

Probe writes both into every image's results (functions/probe); indexing keeps them here beside the
word index, under the same lock, so duplicates never reach across workspaces and need no vectors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from redis import Redis

from scheduler import keys

EXACT, NEAR = "exact", "near"
HASH_BITS = 64


@dataclass(frozen=True)
class Fingerprint:
    """What is known of one upload's picture; ``phash`` is 16 hex digits, or empty for no picture."""

    sha256: str
    phash: str = ""
    key: str = ""
    media_type: str = ""

    def to_json(self) -> str:
        return json.dumps({"sha256": self.sha256, "phash": self.phash, "key": self.key,
                           "media_type": self.media_type})

    @classmethod
    def from_json(cls, raw: str | bytes) -> Fingerprint:
        data = json.loads(raw)
        return cls(str(data.get("sha256") or ""), str(data.get("phash") or ""), str(data.get("key") or ""),
                   str(data.get("media_type") or ""))


@dataclass(frozen=True)
class Duplicate:
    """Another upload of the same file (``exact``) or of the same picture resized or re-encoded (``near``);
    ``bits`` is how many of the 64 perceptual-hash bits differ."""

    upload_id: str
    match: str
    bits: int
    key: str
    media_type: str

    def to_dict(self) -> dict[str, str | int]:
        return {"upload_id": self.upload_id, "match": self.match, "bits": self.bits, "key": self.key,
                "media_type": self.media_type}


def bits_apart(first: str, second: str) -> int:
    """How many bits two perceptual hashes (hex) differ in; all of them when either is missing."""
    if not first or not second or len(first) != len(second):
        return HASH_BITS
    return bin(int(first, 16) ^ int(second, 16)).count("1")


class Fingerprints:
    """Upload → its fingerprint (one hash), and sha256 → uploads (one set per digest), of one workspace."""

    def __init__(self, redis: Redis, workspace: str, name: str) -> None:
        self.redis = redis
        self.prefix = keys.fingerprints(workspace, name)

    def _uploads(self) -> str:
        return f"{self.prefix}:uploads"

    def _digest(self, sha256: str) -> str:
        return f"{self.prefix}:sha256:{sha256}"

    def put(self, upload: str, found: Fingerprint) -> None:
        self.remove(upload)
        if not found.sha256:
            return
        pipe = self.redis.pipeline()
        pipe.hset(self._uploads(), upload, found.to_json())
        pipe.sadd(self._digest(found.sha256), upload)
        pipe.execute()

    def get(self, upload: str) -> Fingerprint | None:
        raw = self.redis.hget(self._uploads(), upload)
        return None if raw is None else Fingerprint.from_json(raw)

    def count(self) -> int:
        """How many uploads have a fingerprint (every analysed one since fingerprints were kept)."""
        return int(self.redis.hlen(self._uploads()))

    def remove(self, upload: str) -> None:
        known = self.get(upload)
        if known is None:
            return
        pipe = self.redis.pipeline()
        pipe.hdel(self._uploads(), upload)
        pipe.srem(self._digest(known.sha256), upload)
        pipe.execute()

    def clear(self) -> None:
        for key in list(self.redis.scan_iter(match=f"{self.prefix}:*", count=1000)):
            self.redis.unlink(key)

    def duplicates(self, found: Fingerprint, leave_out: str = "", max_bits: int = 8) -> list[Duplicate]:
        """Uploads of the same file, then pictures within ``max_bits`` of ``found``'s perceptual hash,
        closest first. Near ones are compared with every picture of the workspace: 64-bit hashes, so
        ten thousand pictures cost a few milliseconds."""
        same_file = {keys.text(m) for m in self.redis.smembers(self._digest(found.sha256))} if found.sha256 else set()
        hits: list[Duplicate] = []
        for raw_upload, raw in self.redis.hscan_iter(self._uploads(), count=1000):
            upload = keys.text(raw_upload)
            if upload == leave_out:
                continue
            other = Fingerprint.from_json(raw)
            bits = bits_apart(found.phash, other.phash)
            if upload in same_file:
                hits.append(Duplicate(upload, EXACT, 0, other.key, other.media_type))
            elif bits <= max_bits:
                hits.append(Duplicate(upload, NEAR, bits, other.key, other.media_type))
        return sorted(hits, key=lambda d: (d.match != EXACT, d.bits, d.upload_id))
