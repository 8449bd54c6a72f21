"""The word index in Redis: each lower-cased word of a workspace's text chunks to the chunks that hold it,
for exact search; and the words of the workspace (its vocabulary), for a query word that is part of a word."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence

from redis import Redis
from redis.typing import EncodableT, FieldT

from scheduler import keys

WORD = re.compile(r"\w+")
# Longer runs are hashes or noise, not words anyone types: not indexed, but the chunks holding one are kept
# apart, so that part of one is still found.
MAX_WORD_CHARS = 64
# A member of every kept vocabulary that no word can be ("\w" has no ':'): the set stays when its words go.
KEPT = ":kept"


def words_of(text: str) -> list[str]:
    """The distinct words of ``text``, lower-cased as the exact match compares them, in order."""
    return list(dict.fromkeys(word for word in WORD.findall(text.lower()) if len(word) <= MAX_WORD_CHARS))


def long_runs(text: str) -> bool:
    """Whether ``text`` holds a run of word characters too long to be indexed as a word."""
    return any(len(word) > MAX_WORD_CHARS for word in WORD.findall(text.lower()))


class WordIndex:
    """Word → chunk ids (one Redis set per word), per upload its chunks' words, to remove them again, the
    vocabulary (every word a chunk held since the index was made or cleared: a word whose last chunk went
    stays in it, costing a look-up that finds nothing) and the chunks holding an over-long run; of one
    workspace, whose keys it all lies under.

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

    @property
    def vocabulary_key(self) -> str:
        return f"{self.prefix}:vocabulary"

    @property
    def _long_key(self) -> str:
        return f"{self.prefix}:long"

    def _keep_vocabulary(self) -> None:
        """Makes the vocabulary of a workspace whose words were indexed before it was kept, from their sets: built
        under another name and renamed, so a reader sees it whole or not at all (and then scans). Once per
        workspace (and after each clear): the build walks every key of the Redis."""
        if self.redis.exists(self.vocabulary_key):
            return
        building = f"{self.vocabulary_key}:building"
        self.redis.delete(building)
        self.redis.sadd(building, KEPT)
        start = len(self._word_key(""))
        batch: list[str] = []
        for key in self.redis.scan_iter(match=self._word_key("*"), count=1000):
            batch.append(keys.text(key)[start:])
            if len(batch) >= 1000:
                self.redis.sadd(building, *batch)
                batch = []
        if batch:
            self.redis.sadd(building, *batch)
        self.redis.rename(building, self.vocabulary_key)

    def add(self, upload: str, chunks: Mapping[str, str]) -> None:
        """Indexes the words of each chunk (chunk id → text); the upload's old chunks must be removed first."""
        if not chunks:
            return
        self._keep_vocabulary()
        pipe = self.redis.pipeline()
        listed: dict[FieldT, EncodableT] = {}
        vocabulary: set[str] = set()
        for chunk_id, text in chunks.items():
            words = words_of(text)
            for word in words:
                pipe.sadd(self._word_key(word), chunk_id)
            if long_runs(text):
                pipe.sadd(self._long_key, chunk_id)
            listed[chunk_id] = " ".join(words)
            vocabulary.update(words)
        if vocabulary:
            pipe.sadd(self.vocabulary_key, *vocabulary)
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
        if listed:
            pipe.srem(self._long_key, *listed)
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

    def partial_candidates(self, parts: Sequence[str], most: int) -> tuple[list[str], bool] | None:
        """The chunks that may hold every one of ``parts`` (lower-cased words or parts of words), for the exact
        test on their text: those holding a word of the vocabulary that holds the part with the fewest such
        chunks, and those holding an over-long run. True when that is all of them; None where no vocabulary
        is kept yet, or a part is so common (more than ``most`` words or chunks) that a bounded scan of the
        chunks finds it sooner."""
        if not parts or not self.redis.exists(self.vocabulary_key):
            return None
        smallest: tuple[int, list[str]] | None = None
        for part in dict.fromkeys(parts):
            # A part is letters, digits and '_' only: nothing in it that a MATCH pattern reads as a wildcard.
            words = list(dict.fromkeys(map(keys.text, self.redis.sscan_iter(self.vocabulary_key, f"*{part}*", 1000))))
            if len(words) > most:
                return None
            pipe = self.redis.pipeline(transaction=False)
            for word in words:
                pipe.scard(self._word_key(word))
            held = sum(pipe.execute()) if words else 0
            if smallest is None or held < smallest[0]:
                smallest = (held, words)
        assert smallest is not None
        held, words = smallest
        if held > most:
            return None
        found: set[str] = {keys.text(chunk) for chunk in self.redis.smembers(self._long_key)}
        for at in range(0, len(words), 1000):
            found.update(map(keys.text, self.redis.sunion([self._word_key(word) for word in words[at:at + 1000]])))
        ordered = sorted(found)
        return ordered[:most], len(ordered) <= most

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
