"""The word index in Redis: each lower-cased word of a workspace's text chunks to the chunks that hold it,
for exact search."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence

from redis import Redis
from redis.typing import EncodableT, FieldT

from scheduler import keys

WORD = re.compile(r"\w+")
# Longer runs are hashes or noise, not words anyone types; a query holding one falls back to the scan.
MAX_WORD_CHARS = 64


def words_of(text: str) -> list[str]:
    """The distinct words of ``text``, lower-cased as the exact match compares them, in order."""
    return list(dict.fromkeys(word for word in WORD.findall(text.lower()) if len(word) <= MAX_WORD_CHARS))


class WordIndex:
    """Word → chunk ids (one Redis set per word), and per upload its chunks' words, to remove them again;
    of one workspace, whose keys it all lies under.

    In Redis rather than in process memory so that every worker and web process sees the same index.
    """

    def __init__(self, redis: Redis, workspace: str, name: str) -> None:
        self.redis = redis
        self.workspace = workspace
        self.prefix = keys.words(workspace, name)

    def _word_key(self, word: str) -> str:
        return f"{self.prefix}:word:{word}"

    def _upload_key(self, upload: str) -> str:
        return f"{self.prefix}:upload:{upload}"

    def add(self, upload: str, chunks: Mapping[str, str]) -> None:
        """Indexes the words of each chunk (chunk id → text); the upload's old chunks must be removed first."""
        if not chunks:
            return
        pipe = self.redis.pipeline()
        listed: dict[FieldT, EncodableT] = {}
        for chunk_id, text in chunks.items():
            words = words_of(text)
            for word in words:
                pipe.sadd(self._word_key(word), chunk_id)
            listed[chunk_id] = " ".join(words)
        pipe.hset(self._upload_key(upload), mapping=listed)
        pipe.execute()

    def remove(self, upload: str) -> int:
        """Takes the upload's chunks out of every word's set; returns how many chunks it had."""
        listed = self.redis.hgetall(self._upload_key(upload))
        chunks_of_word: dict[str, list[str]] = {}
        for chunk_id, words in listed.items():
            for word in keys.text(words).split():
                chunks_of_word.setdefault(word, []).append(keys.text(chunk_id))
        pipe = self.redis.pipeline()
        for word, chunk_ids in chunks_of_word.items():
            pipe.srem(self._word_key(word), *chunk_ids)  # an emptied set disappears with its last member
        pipe.delete(self._upload_key(upload))
        pipe.execute()
        return len(listed)

    def clear(self) -> None:
        batch: list[str] = []
        for key in self.redis.scan_iter(match=f"{self.prefix}:*", count=1000):
            batch.append(keys.text(key))
            if len(batch) >= 1000:
                self.redis.unlink(*batch)
                batch = []
        if batch:
            self.redis.unlink(*batch)

    def chunks_of(self, upload: str) -> list[str]:
        return sorted(keys.text(chunk_id) for chunk_id in self.redis.hkeys(self._upload_key(upload)))

    def holders(self, word: str) -> set[str]:
        """Every chunk id that holds ``word`` (lower-case); for checks, a query streams ``candidates``."""
        return {keys.text(chunk_id) for chunk_id in self.redis.smembers(self._word_key(word))}

    def knows(self, words: Sequence[str]) -> bool:
        """Whether each word is a whole word of at least one chunk."""
        return bool(words) and self.redis.exists(*[self._word_key(word) for word in words]) == len(set(words))

    def candidates(self, words: Sequence[str], batch: int) -> Iterator[list[str]]:
        """Batches of chunk ids holding every word: the rarest word's set is scanned, the others asked.

        Streamed, so a query for a common word stops after the first batches instead of intersecting
        sets of every chunk.
        """
        word_keys = list(dict.fromkeys(self._word_key(word) for word in words))
        pipe = self.redis.pipeline(transaction=False)
        for key in word_keys:
            pipe.scard(key)
        sizes = pipe.execute()
        if not word_keys or min(sizes) == 0:
            return
        rarest, *others = [key for _, key in sorted(zip(sizes, word_keys, strict=True))]
        seen: set[str] = set()
        cursor = 0
        while True:
            cursor, found = self.redis.sscan(rarest, cursor, count=batch)
            # SSCAN may return a member twice while Redis rehashes the set.
            fresh = [chunk_id for chunk_id in map(keys.text, found) if chunk_id not in seen]
            seen.update(fresh)
            for other in others:
                if not fresh:
                    break
                held = self.redis.smismember(other, fresh)
                fresh = [chunk_id for chunk_id, has in zip(fresh, held, strict=True) if has]
            if fresh:
                yield fresh
            if cursor == 0:
                return
