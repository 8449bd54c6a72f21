"""Upload records in Redis: one per object version, with a state machine and per-step status.

    queued -> running -> done
                      -> failed (with a reason a person understands)

An upload's id is derived from bucket, key and etag, so the same bucket event delivered twice
names the same upload: intake creates it once.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any

from redis import Redis
from redis.client import Pipeline

from storage.events import UploadEvent
from storage.layout import LEGACY_WORKSPACE

from . import keys
from .analysis import nested
from .keys import PREFIX, events_channel, text
from .plans import position

# Per-upload keys beside the record: each step's state, its result and its request (to run it again
# when its job is lost), the count of steps not yet settled, the settled ones, and the sweep's repairs.
PARTS = ("steps", "results", "specs", "outstanding", "settled", "repairs")


class State(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class StepState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


FINAL_STEP_STATES = {StepState.DONE, StepState.FAILED, StepState.SKIPPED}


def upload_id(bucket: str, key: str, etag: str) -> str:
    digest = hashlib.sha256(f"{bucket}\0{key}\0{etag.strip(chr(34))}".encode()).hexdigest()
    return digest[:20]


def json_hash(raw: dict[Any, Any]) -> dict[str, Any]:
    """A Redis hash whose every value is JSON (a record, an upload's steps), read as the members of one
    object: one parse (parsing the values one by one took a third of the time a page of 50 uploads took)."""
    members = ",".join(f"{json.dumps(text(name))}:{text(value)}" for name, value in raw.items())
    found: dict[str, Any] = json.loads("{" + members + "}")
    return found


def steps_from(raw: dict[Any, Any]) -> dict[str, Step]:
    """An upload's steps hash, read: each step by name, in order."""
    return {name: Step.from_dict(step) for name, step in json_hash(raw).items()}


def written(record: Step | Upload) -> dict[str, Any]:
    """A record's fields as JSON and Redis store them, its state as text. Its dicts are the record's own,
    not copies (``asdict`` copied each: a page of 50 uploads with their steps spent a tenth of its time
    there), so the answer is for writing out, not for changing."""
    return {**vars(record), "state": record.state.value}


@dataclass
class Step:
    name: str
    state: StepState = StepState.PENDING
    reason: str = ""
    gateway: str = ""
    attempts: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    progress: float = 0.0
    artefacts: dict[str, str] = field(default_factory=dict)
    rejected: bool = False  # the function refused the file itself: running the step again cannot help

    def to_dict(self) -> dict[str, Any]:
        return written(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Step:
        return cls(**{**data, "state": StepState(data["state"])})

    def described(self) -> dict[str, Any]:
        """The step as clients see it: with its place in the order a person reads steps in."""
        return {**self.to_dict(), "position": position(self.name)}


@dataclass
class Upload:
    id: str
    bucket: str
    key: str
    etag: str
    size: int
    workspace: str = LEGACY_WORKSPACE
    uploaded_by: str = ""  # who asked for the upload form; "" for an upload straight to S3
    content_type: str = ""
    state: State = State.QUEUED
    reason: str = ""
    media_type: str = ""
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    metadata: dict[str, str] = field(default_factory=dict)
    # What probe found, kept on the record so that lists show it without reading results.
    duration: float | None = None
    taken_at: float | None = None  # when the picture or clip was taken (its EXIF or container date)
    overview: dict[str, int] = field(default_factory=dict)  # what the analysis found, counted (at finish)

    @property
    def listed_at(self) -> float:
        """The time an upload is listed and grouped by: when it was taken, else when it was uploaded."""
        return self.taken_at if self.taken_at is not None else self.created_at

    @classmethod
    def from_event(cls, event: UploadEvent, workspace: str, uploaded_by: str = "") -> Upload:
        """The upload an event starts, in the workspace the caller attributed it to."""
        return cls(
            id=upload_id(event.bucket, event.key, event.etag),
            bucket=event.bucket,
            key=event.key,
            etag=event.etag,
            size=event.size,
            workspace=workspace,
            uploaded_by=uploaded_by,
            content_type=event.content_type,
            metadata=dict(event.user_metadata),
        )

    def to_dict(self) -> dict[str, Any]:
        return written(self)

    def to_redis(self) -> dict[Any, Any]:
        return {k: json.dumps(v) for k, v in self.to_dict().items()}

    @classmethod
    def from_redis(cls, raw: dict[Any, Any]) -> Upload:
        data = json_hash(raw)
        data["state"] = State(data["state"])
        return cls(**data)


def artefacts(steps: dict[str, Step]) -> dict[str, str]:
    """Every artefact the steps of one upload wrote: name -> key in the artefacts bucket."""
    return {name: key for step in steps.values() for name, key in step.artefacts.items()}


class UploadNotFound(KeyError):
    pass


ANY = "*"

# KEYS: the upload's record, one of its hashes; ARGV: field, value.
WRITE_IF_RECORDED = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
"""
# Each script below publishes the change it made on the channel it is given, so a write and its
# event cost one round trip, and no event tells of a write that did not happen.
#
# KEYS: the record, its steps, its requests, its outstanding count; ARGV: the channel, then per step its
# name, its pending state, its request ('' for none) and its event. Only new steps are written, published
# and counted; the count of them, or 0 when the upload is gone.
PLAN_IF_RECORDED = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local added = 0
for i = 2, #ARGV, 4 do
  if ARGV[i + 2] ~= '' then redis.call('HSETNX', KEYS[3], ARGV[i], ARGV[i + 2]) end
  if redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1]) == 1 then
    added = added + 1
    redis.call('PUBLISH', ARGV[1], ARGV[i + 3])
  end
end
if added > 0 then redis.call('INCRBY', KEYS[4], added) end
return added
"""
# KEYS: the record, its steps, its set of settled steps; ARGV: the step, its state, the channel, the event.
# A settled step is never written again: a run overlapping another (its worker thought dead) must not
# undo the outcome.
WRITE_STEP = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('SISMEMBER', KEYS[3], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
"""
# KEYS: the record, its steps, its set of settled steps, its outstanding count, its results; ARGV: the
# step, its final state, the channel, the event, and its result if it has one. The count left, or nothing
# when the upload is gone or the step had settled before (then the first outcome, and its result, stay).
SETTLE_IF_RECORDED = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if redis.call('SADD', KEYS[3], ARGV[1]) == 0 then return false end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if ARGV[5] then redis.call('HSET', KEYS[5], ARGV[1], ARGV[5]) end
redis.call('PUBLISH', ARGV[3], ARGV[4])
return redis.call('DECR', KEYS[4])
"""
INDEX_VERSION = "2"
WORKSPACES_CACHED = 10_000
ALL = f"{PREFIX}:uploads"  # every upload of every workspace, for upkeep (an upgrade, a rebuild)


@dataclass(frozen=True)
class Page:
    """One page of uploads, newest first, and how many match in all."""

    total: int
    uploads: list[Upload]


class Uploads:
    """Reads and writes upload records; every change is published for live progress."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._workspaces: dict[str, str] = {}

    @staticmethod
    def _key(upload: str, part: str = "") -> str:
        return f"{PREFIX}:upload:{upload}" + (f":{part}" if part else "")

    @staticmethod
    def _listing(workspace: str, state: str = ANY, media_type: str = ANY) -> str:
        """A sorted set of one workspace's upload ids by creation time: all, or those of one state
        and/or type.

        Each upload is in the four sets its (state, type) pair names, so any filter is one set and
        a page costs O(log n + page) however many uploads there are, in this workspace or others."""
        if state == ANY and media_type == ANY:
            return f"{keys.workspace(workspace)}:uploads"
        return f"{keys.workspace(workspace)}:uploads:{state}:{media_type}"

    def _listings(self, upload: Upload) -> list[str]:
        """Every set an upload is in: its workspace's four, and the one of all uploads."""
        state, media_type = upload.state.value, upload.media_type
        return [ALL, *(self._listing(upload.workspace, s, t) for s in (state, ANY) for t in (media_type or "", ANY))]

    def create(self, upload: Upload) -> bool:
        """Stores a new upload; False (and nothing written) when it already exists."""
        key = self._key(upload.id)
        if not self.redis.hsetnx(key, "id", json.dumps(upload.id)):
            return False
        with self.redis.pipeline() as pipe:
            pipe.hset(key, mapping=upload.to_redis())
            for listing in self._listings(upload):
                pipe.zadd(listing, {upload.id: upload.listed_at})
            pipe.set(f"{PREFIX}:bykey:{upload.bucket}/{upload.key}", upload.id)
            self.publish(upload.id, "upload", upload.to_dict(), upload.workspace, pipe)
            pipe.execute()
        return True

    def page(
        self, workspace: str, state: str = ANY, media_type: str = ANY, offset: int = 0, limit: int = 50,
        since: float | None = None, until: float | None = None, among: Collection[str] | None = None,
    ) -> Page:
        """A workspace's uploads newest first (by `Upload.listed_at`), filtered by state, media type and
        time, read from the index; with ``among``, only those of these ids (a person's uploads)."""
        listing = self._listing(workspace, state or ANY, media_type or ANY)
        low, high = ("-inf" if since is None else since), ("+inf" if until is None else until)
        raw: list[Any]
        if among is None:
            with self.redis.pipeline(transaction=False) as pipe:
                pipe.zcount(listing, low, high)
                pipe.zrevrangebyscore(listing, high, low, start=offset, num=limit)
                counted, raw = pipe.execute()
            total = int(counted)
        else:
            # Scored by the workspace's own listing, so an id of another workspace has no score.
            wanted = sorted(set(among))
            scores = self.redis.zmscore(listing, wanted) if wanted else []
            inside = [(score, upload) for upload, score in zip(wanted, scores, strict=True) if score is not None
                      and (since is None or score >= since) and (until is None or score <= until)]
            inside.sort(reverse=True)
            total = len(inside)
            raw = [upload for _, upload in inside[offset : offset + limit]]
        return Page(total, self.many([text(item) for item in raw]))

    def many(self, ids: Sequence[str]) -> list[Upload]:
        """The records of these uploads that still exist, in order, read in one round trip (a page of
        50 was 50)."""
        with self.redis.pipeline(transaction=False) as pipe:
            for upload in ids:
                pipe.hgetall(self._key(upload))
            raws = pipe.execute()
        found = []
        for upload, raw in zip(ids, raws, strict=True):
            try:
                found.append(self._found(upload, raw))
            except UploadNotFound:
                continue
        return found

    def neighbours(self, workspace: str, upload: str) -> tuple[str | None, str | None]:
        """The uploads listed just before (newer) and after (older) this one in its workspace's listing."""
        listing = self._listing(workspace)
        found = self.redis.zrevrank(listing, upload)
        if found is None:
            return None, None
        rank = int(found)  # type: ignore[arg-type]
        around = [text(item) for item in self.redis.zrevrange(listing, max(rank - 1, 0), rank + 1)]
        newer = around[0] if rank > 0 else None
        older = around[-1] if around and around[-1] != upload else None
        return newer, older

    def ensure_index(self) -> int:
        """Builds the listing sets for records made before they existed (an upgrade); returns how many."""
        marker = f"{PREFIX}:uploads:index-version"
        if text(self.redis.get(marker) or b"") == INDEX_VERSION:
            return 0
        # One process builds them (every web-app process starts here), the others wait and find them built.
        # The lock's name is outside the stale sets' pattern below, which would delete it.
        with self.redis.lock(f"{PREFIX}:lock:uploads-index", timeout=600, blocking_timeout=600):
            if text(self.redis.get(marker) or b"") == INDEX_VERSION:
                return 0
            # The listing sets from before workspaces ("ml:uploads:<state>:<type>") are replaced.
            stale = list(self.redis.scan_iter(f"{PREFIX}:uploads:*:*", count=1000))
            if stale:
                self.redis.delete(*stale)
            count = 0
            for upload in self.all():
                with self.redis.pipeline() as pipe:
                    for listing in self._listings(upload):
                        pipe.zadd(listing, {upload.id: upload.listed_at})
                    pipe.execute()
                count += 1
            self.redis.set(marker, INDEX_VERSION)
            return count

    def expect(self, workspace: str, key: str, uploader: str, ttl_s: int) -> None:
        """Notes who was handed the form to upload ``key``, for the upload that arrives with it."""
        self.redis.set(self._expected(workspace, key), uploader, ex=max(ttl_s, 1))

    def uploader(self, workspace: str, key: str) -> str:
        """Who was handed the form for this key ("" when nobody was: a straight S3 upload)."""
        found = self.redis.getdel(self._expected(workspace, key))
        return text(found) if found else ""

    @staticmethod
    def _expected(workspace: str, key: str) -> str:
        return f"{keys.workspace(workspace)}:expected:{key}"

    def get(self, upload: str) -> Upload:
        return self._found(upload, self.redis.hgetall(self._key(upload)))

    def with_step(self, upload: str, name: str) -> tuple[Upload, Step]:
        """An upload and one of its steps, read in one round trip."""
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._key(upload))
            pipe.hget(self._key(upload, "steps"), name)
            raw, step = pipe.execute()
        return self._found(upload, raw), self._step(name, step)

    def _found(self, upload: str, raw: dict[Any, Any]) -> Upload:
        if not raw or b"state" not in raw:
            raise UploadNotFound(upload)
        found = Upload.from_redis(raw)
        self._remember(upload, found.workspace)
        return found

    def exists(self, upload: str) -> bool:
        return bool(self.redis.exists(self._key(upload)))

    def latest_for_key(self, bucket: str, key: str) -> str | None:
        found = self.redis.get(f"{PREFIX}:bykey:{bucket}/{key}")
        return text(found) if found else None

    def ids(self, workspace: str | None = None) -> list[str]:
        """Every upload id, newest first: of one workspace, or of all."""
        listing = ALL if workspace is None else self._listing(workspace)
        return [text(item) for item in self.redis.zrevrange(listing, 0, -1)]

    def all(self, workspace: str | None = None) -> Iterator[Upload]:
        for upload in self.ids(workspace):
            try:
                yield self.get(upload)
            except UploadNotFound:
                continue

    def count(self, workspace: str | None = None) -> int:
        return int(self.redis.zcard(ALL if workspace is None else self._listing(workspace)))

    def update(self, upload: str, also: Callable[[Pipeline], None] | None = None, **fields: Any) -> Upload:
        """Changes the record's fields; what ``also`` queues on the transaction (the end of an upload's
        bookkeeping) happens with the change, all or nothing."""
        if isinstance(fields.get("state"), Enum):
            fields["state"] = fields["state"].value
        fields["updated_at"] = time.time()
        mapping: dict[Any, Any] = {k: json.dumps(v) for k, v in fields.items()}
        key = self._key(upload)
        changed: list[Upload] = []

        def write(pipe: Any) -> None:
            # Watched: a state change that races another moves the id between listings only once.
            raw = pipe.hgetall(key)
            if not raw or b"state" not in raw:
                raise UploadNotFound(upload)
            before = Upload.from_redis(raw)
            current = Upload.from_redis({**before.to_redis(), **mapping})
            old = set(self._listings(before))
            new = set(self._listings(current))
            pipe.multi()
            pipe.hset(key, mapping=mapping)
            for listing in old - new:
                pipe.zrem(listing, upload)
            # A date taken found by probe moves the upload to its place in every listing it is in.
            moved = current.listed_at != before.listed_at
            for listing in (new if moved else new - old):
                pipe.zadd(listing, {upload: current.listed_at})
            # Published by the transaction: the change and its event in one round trip.
            self.publish(upload, "upload", current.to_dict(), current.workspace, pipe)
            if also is not None:
                also(pipe)
            changed[:] = [current]

        self.redis.transaction(write, key)
        return changed[0]

    def set_state(self, upload: str, state: State, reason: str = "") -> Upload:
        return self.update(upload, state=state, reason=reason)

    def steps(self, upload: str) -> dict[str, Step]:
        return self.steps_of([upload])[0]

    def steps_of(self, ids: Sequence[str]) -> list[dict[str, Step]]:
        """Each upload's steps, in order, read in one round trip."""
        with self.redis.pipeline(transaction=False) as pipe:
            for upload in ids:
                pipe.hgetall(self._key(upload, "steps"))
            raws = pipe.execute()
        return [steps_from(raw) for raw in raws]

    def progress_of(self, ids: Sequence[str]) -> list[tuple[State | None, dict[str, Step]]]:
        """Each upload's state (None for one deleted) and steps, read in one round trip."""
        with self.redis.pipeline(transaction=False) as pipe:
            for upload in ids:
                pipe.hget(self._key(upload), "state")
                pipe.hgetall(self._key(upload, "steps"))
            raws = pipe.execute()
        return [(State(json.loads(state)) if state else None, steps_from(found))
                for state, found in zip(raws[::2], raws[1::2], strict=True)]

    def step(self, upload: str, name: str) -> Step:
        return self._step(name, self.redis.hget(self._key(upload, "steps"), name))

    @staticmethod
    def _step(name: str, raw: Any) -> Step:
        return Step.from_dict(json.loads(raw)) if raw else Step(name=name)

    def put_step(self, upload: str, step: Step) -> None:
        """Stores a step's progress; a step that has settled keeps its outcome."""
        self.redis.eval(WRITE_STEP, 3, self._key(upload), self._key(upload, "steps"), self._key(upload, "settled"),
                        step.name, json.dumps(step.to_dict()), self._channel(upload),
                        self._message(upload, "step", step.described()))

    def plan_steps(self, upload: str, names: list[str], specs: dict[str, dict[str, Any]] | None = None,
                   pipe: Pipeline | None = None) -> None:
        """Records planned steps as pending and counts them as outstanding, in one script; with ``pipe``,
        as part of that transaction.

        Counting before a parent settles keeps the outstanding count above zero until the last
        step of the whole plan has settled, which is when the upload is finished. A step's request
        (`specs`, by name) is kept beside it, so a job lost with its worker or Redis can be made again.
        """
        if not names:
            return
        steps: list[str] = []
        for name in names:
            request = json.dumps(specs[name]) if specs and name in specs else ""
            pending = Step(name)
            steps += [name, json.dumps(pending.to_dict()), request, self._message(upload, "step", pending.described())]
        (self.redis if pipe is None else pipe).eval(
            PLAN_IF_RECORDED, 4, self._key(upload), self._key(upload, "steps"), self._key(upload, "specs"),
            self._key(upload, "outstanding"), self._channel(upload), *steps)

    def settle(self, upload: str, step: Step, result: dict[str, Any] | None = None,
               before: Callable[[Pipeline], None] | None = None) -> int | None:
        """Stores a step in a final state, with its result if it has one; returns the steps still
        outstanding, or None when the upload is gone or this step had settled before (so the caller
        that sees 0 is the only one to finish the upload).

        What ``before`` queues on the transaction (planning the steps this outcome makes possible)
        happens with the settle, all or nothing, in one round trip."""
        with self.redis.pipeline() as pipe:
            if before is not None:
                before(pipe)
            pipe.eval(SETTLE_IF_RECORDED, 5, self._key(upload), self._key(upload, "steps"),
                      self._key(upload, "settled"), self._key(upload, "outstanding"), self._key(upload, "results"),
                      step.name, json.dumps(step.to_dict()), self._channel(upload),
                      self._message(upload, "step", step.described()),
                      *([] if result is None else [json.dumps(result)]))
            left = pipe.execute()[-1]
        return None if left is None else int(left)

    def spec(self, upload: str, name: str) -> dict[str, Any] | None:
        """The request a step was planned with (None for a step planned before requests were kept)."""
        raw = self.redis.hget(self._key(upload, "specs"), name)
        return json.loads(raw) if raw else None

    def repaired(self, upload: str, name: str) -> int:
        """Counts one more repair of a step (or `finish`) whose job was lost; returns how many so far."""
        return int(self.redis.hincrby(self._key(upload, "repairs"), name, 1))

    def unfinished(self, workspaces: Iterable[str]) -> list[str]:
        """The ids of the queued and running uploads of these workspaces, oldest first."""
        found: list[str] = []
        for workspace in workspaces:
            for state in (State.QUEUED, State.RUNNING):
                found.extend(text(item) for item in self.redis.zrange(self._listing(workspace, state.value), 0, -1))
        return found

    def outstanding(self, upload: str) -> int:
        """Planned steps not yet settled."""
        return int(self.redis.get(self._key(upload, "outstanding")) or 0)

    def put_result(self, upload: str, step: str, result: dict[str, Any]) -> None:
        """Stores a step's result while the upload's record exists (checked in the same script)."""
        self.redis.eval(WRITE_IF_RECORDED, 2, self._key(upload), self._key(upload, "results"), step, json.dumps(result))

    def results(self, upload: str) -> dict[str, Any]:
        """The results of the steps so far, in the analysis document's shape (keyframes nested)."""
        raw = self.redis.hgetall(self._key(upload, "results"))
        return nested(json_hash(raw))

    def reset(self, upload: str) -> Upload:
        """Forgets an upload's steps and results and queues it again, for a retry."""
        self.redis.delete(*(self._key(upload, part) for part in PARTS))
        return self.update(upload, state=State.QUEUED, reason="")

    def delete(self, upload: str) -> None:
        record = self.get(upload)
        with self.redis.pipeline() as pipe:
            for part in ("", *PARTS):
                pipe.delete(self._key(upload, part))
            for listing in self._listings(record):
                pipe.zrem(listing, upload)
            pipe.execute()
        if self.latest_for_key(record.bucket, record.key) == upload:
            self.redis.delete(f"{PREFIX}:bykey:{record.bucket}/{record.key}")
        self.publish(upload, "deleted", {"id": upload}, record.workspace)

    def workspace_of(self, upload: str) -> str:
        """The workspace an upload belongs to (it never changes, so each is read once)."""
        found = self._workspaces.get(upload)
        if found is None:
            raw = self.redis.hget(self._key(upload), "workspace")
            found = json.loads(raw) if raw else LEGACY_WORKSPACE
            self._remember(upload, found)
        return found

    def _remember(self, upload: str, workspace: str) -> None:
        if upload not in self._workspaces and len(self._workspaces) >= WORKSPACES_CACHED:
            self._workspaces.clear()
        self._workspaces[upload] = workspace

    def publish(self, upload: str, kind: str, data: dict[str, Any], workspace: str | None = None,
                pipe: Pipeline | None = None) -> None:
        """Tells the upload's workspace, and only it, of a change; with ``pipe``, as part of that transaction."""
        target = self.redis if pipe is None else pipe
        target.publish(self._channel(upload, workspace), self._message(upload, kind, data))

    def _channel(self, upload: str, workspace: str | None = None) -> str:
        return events_channel(workspace or self.workspace_of(upload))

    @staticmethod
    def _message(upload: str, kind: str, data: dict[str, Any]) -> str:
        return json.dumps({"upload_id": upload, "kind": kind, "data": data, "time": time.time()})
