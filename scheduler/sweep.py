"""The sweep for lost jobs: puts back every queued or running upload whose step, or `finish`, has no RQ job.

RQ takes back the job of a worker that died and retries it, but a job can still be lost outright: a
SIGKILLed Redis forgets its last second of writes (appendfsync everysec), a worker killed between
taking a job and marking it started leaves it where nothing runs it, a failure callback cut off from
Redis settles nothing, and a retry waits in the scheduled registry for as long as RQ's scheduler,
stopped by a Redis outage, is not started again.

Once per interval one worker (whichever takes `keys.SWEEP_LOCK` first, `Turn`) looks at every unfinished
upload, a batch at a time, holding the lock as it goes, and stops where another sweep began; after a
long sweep (a large backlog) the next waits longer, so that sweeping takes at most `SHARE` of a worker
(put off by `PUT_OFF_MOST` intervals at most). A step that has had no live job (queued, scheduled and
not overdue, deferred, or started by a worker that still beats) for longer than the grace period is
queued again under its own job id, from the request kept with it when it was planned; an upload whose
steps have all settled gets its `finish`; a queued upload without steps gets its `probe`. Each is put
back a bounded number of times, then fails with a plain reason.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from redis import Redis
from rq import Queue
from rq.registry import DeferredJobRegistry, FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from accounts.workspaces import Workspaces
from storage.layout import LEGACY_WORKSPACE

from . import keys, metrics, steps
from .context import Context
from .plans import PROBE, StepSpec
from .uploads import FINAL_STEP_STATES, State, StepState, Uploads

logger = logging.getLogger(__name__)

REQUEUED = "requeued"  # a step's job (probe's included) queued again
FINISHED = "finish"  # an upload whose steps had all settled given its `finish`
FAILED = "failed"  # a step (or finish) failed: lost too often, or its request was not kept
KINDS = (REQUEUED, FINISHED, FAILED)
BATCH = 500  # unfinished uploads read in one round trip
SHARE = 0.05  # of a worker's time, at most, spent sweeping
PUT_OFF_MOST = 10  # intervals: a sweep slowed by a Redis outage must not put off the one that repairs what it lost


@dataclass(frozen=True)
class Jobs:
    """The queue's jobs as one sweep found them."""

    live: frozenset[str]  # will run, or run now on a worker that beats
    stale: dict[str, list[str]]  # started-registry entries whose worker stopped beating, by job id

    @classmethod
    def read(cls, q: Queue, now: float) -> Jobs:
        live = set(q.get_job_ids())
        live.update(DeferredJobRegistry(queue=q).get_job_ids(cleanup=False))
        # A retry past its time waits for RQ's scheduler, which a Redis outage stops until a worker,
        # between jobs, starts it again: overdue, it counts as lost.
        scheduled = q.connection.zrangebyscore(ScheduledJobRegistry(queue=q).key, now, "+inf")
        live.update(keys.text(job) for job in scheduled)
        stale: dict[str, list[str]] = {}
        started = StartedJobRegistry(queue=q)
        entries: list[tuple[Any, float]] = q.connection.zrange(started.key, 0, -1, withscores=True)  # type: ignore[assignment]
        for raw, expires in entries:
            entry = keys.text(raw)
            job = started.parse_job_id(entry)
            if expires >= now:
                live.add(job)
            else:
                stale.setdefault(job, []).append(entry)
        return cls(frozenset(live), stale)


@dataclass(frozen=True)
class Repair:
    upload: str
    step: str  # a step's name, or `finish`
    kind: str  # one of KINDS
    reason: str = ""


def workspaces(connection: Redis) -> list[str]:
    """Every workspace, and the one uploads from before workspaces belong to."""
    return sorted({workspace.id for workspace in Workspaces(connection).all()} | {LEGACY_WORKSPACE})


def without_jobs(
    records: Uploads, uploads: Sequence[str], jobs: Jobs, turn: Turn | None = None
) -> Iterator[tuple[str, str]]:
    """(upload, step) for each step of these unfinished uploads (or their `finish`) that no job will run; under a
    ``turn``, renewed after each batch, up to where it is found lost.

    They are read a batch at a time: read one by one, a backlog of 2,000 uploads cost each sweep 4,000
    round trips (1.5 s of a worker and 0.4 s of Redis, every interval, for as long as the backlog lasted)."""
    for begin in range(0, len(uploads), BATCH):
        if begin and turn is not None and not turn.renew():
            return
        batch = uploads[begin : begin + BATCH]
        for upload, (state, found) in zip(batch, records.progress_of(batch), strict=True):
            if state not in (State.QUEUED, State.RUNNING):
                continue  # finished, or deleted, since the listing was read
            if not found:
                # Recorded, but its first step never planned: the intake stopped in between.
                wanted = [PROBE.name] if state == State.QUEUED else []
            else:
                wanted = [name for name, step in found.items() if step.state not in FINAL_STEP_STATES] or [steps.FINISH]
            yield from ((upload, name) for name in wanted if steps.job_id(upload, name) not in jobs.live)


class Turn:
    """One sweep's hold on `keys.SWEEP_LOCK`, under a name of its own (the worker's and a random part), which
    `keys.SWEEP_LATEST` keeps for the latest sweep to begin.

    The sweep renews it after each batch it reads and before each repair. A lock that expired under a sweep that
    ran past its interval (a worker paused or starved, a slow Redis) is taken again when no other sweep began
    since; when one did, both read the same jobs, and the renewal fails so that this sweep stops before it
    puts back a step the other may put back too (counting it twice towards the repairs that fail it)."""

    TAKE = """
    if redis.call('exists', KEYS[1]) == 1 then return 0 end
    redis.call('set', KEYS[1], ARGV[1], 'px', ARGV[2])
    redis.call('set', KEYS[2], ARGV[1])
    return 1"""
    RENEW = """
    local holder = redis.call('get', KEYS[1])
    if holder == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
    if not holder and redis.call('get', KEYS[2]) == ARGV[1] then
        redis.call('set', KEYS[1], ARGV[1], 'px', ARGV[2])
        return 1
    end
    return 0"""

    def __init__(self, connection: Redis, owner: str, ms: int) -> None:
        self.connection, self.ms = connection, ms
        self.name = f"{owner}#{uuid.uuid4().hex[:12]}"

    def take(self) -> bool:
        """Whether this sweep may begin: no other holds the lock."""
        return bool(self.connection.eval(self.TAKE, 2, keys.SWEEP_LOCK, keys.SWEEP_LATEST, self.name, self.ms))

    def renew(self, ms: int | None = None) -> bool:
        """Makes the lock last ``ms`` (the interval) from now; False when it is another sweep's, or lost to one
        that began since (or that Redis, losing its last writes, forgot this one began)."""
        return bool(self.connection.eval(self.RENEW, 2, keys.SWEEP_LOCK, keys.SWEEP_LATEST, self.name,
                                         ms or self.ms))


def run_due(context: Context, owner: str, now: float | None = None) -> list[Repair] | None:
    """Sweeps when no sweep runs now and none ended within the interval (the lock, left to expire an interval
    after a sweep ends, says so); None when it was not due."""
    interval_ms = max(int(context.settings.sweep_interval_s * 1000), 1)
    turn = Turn(context.redis, owner, interval_ms)
    if not turn.take():
        return None
    began = time.monotonic()
    done = sweep(context, now, turn)
    # A sweep's cost grows with the backlog: the next one waits long enough that sweeping takes at most
    # SHARE of a worker's time.
    rest_ms = min(int((time.monotonic() - began) / SHARE * 1000), interval_ms * PUT_OFF_MOST)
    if rest_ms > interval_ms:
        turn.renew(rest_ms)
    return done


def sweep(context: Context, now: float | None = None, turn: Turn | None = None) -> list[Repair]:
    """Puts back what has been without a job for longer than the grace period; returns what it did. Under a
    ``turn``, it stops where the turn is found lost (renewed after each batch it reads, before each repair, and
    before it records what it saw)."""
    now = time.time() if now is None else now
    records, q = Uploads(context.redis), context.queue
    jobs = Jobs.read(q, now)
    since = {keys.text(k): float(v) for k, v in context.redis.hgetall(keys.SWEEP_MISSING).items()}
    still: dict[str, float] = {}
    repairs = []
    going = True
    for upload, name in without_jobs(records, records.unfinished(workspaces(context.redis)), jobs, turn):
        found = f"{upload}/{name}"
        first = since.get(found, now)
        if now - first < context.settings.sweep_grace_s:
            still[found] = first
        elif not (going := turn is None or turn.renew()):
            break
        else:
            repairs.append(repair(context, records, q, upload, name, jobs))
    if going and (turn is None or turn.renew()):
        with context.redis.pipeline() as pipe:
            pipe.delete(keys.SWEEP_MISSING)
            if still:
                mapping: dict[Any, Any] = still
                pipe.hset(keys.SWEEP_MISSING, mapping=mapping)
            pipe.execute()
    else:  # what it saw is the other sweep's to record
        logger.warning("the sweep ran past its interval and another sweep began; it stops after %d repairs",
                       len(repairs))
    metrics.record_repairs(context.redis, (found.kind for found in repairs))
    return repairs


def repair(context: Context, records: Uploads, q: Queue, upload: str, name: str, jobs: Jobs) -> Repair:
    """Queues a lost step (or `finish`) again, or fails it once it has been lost too often."""
    forget(q, steps.job_id(upload, name), jobs)
    times = records.repaired(upload, name)
    if times > context.settings.sweep_repairs:
        done = fail(records, upload, name, f"its job was lost {times} times (workers or Redis kept stopping); "
                                          "retry the upload")
    elif name == steps.FINISH:
        steps.enqueue_finish(q, upload)
        done = Repair(upload, name, FINISHED)
    else:
        kept = PROBE.to_dict() if name == PROBE.name else records.spec(upload, name)
        if kept is None:
            done = fail(records, upload, name, "its job was lost, and it was planned by an older version that "
                                              "kept no copy of its request; retry the upload")
        else:
            steps.plan(records, q, upload, [StepSpec.from_dict(kept)])
            done = Repair(upload, name, REQUEUED)
    logger.warning("%s had no job for %.0f s: %s%s", name, context.settings.sweep_grace_s, done.kind,
                   f" ({done.reason})" if done.reason else "", extra={"upload_id": upload, "step": name})
    return done


def fail(records: Uploads, upload: str, name: str, reason: str) -> Repair:
    if name == steps.FINISH:
        records.set_state(upload, State.FAILED, f"{steps.FINISH}: {reason}")
    else:
        steps.settle(records, upload, records.step(upload, name), StepState.FAILED, reason)
    return Repair(upload, name, FAILED, reason)


def forget(q: Queue, job: str, jobs: Jobs) -> None:
    """Drops what RQ still holds of a lost job, so that RQ does not run it a second time beside the sweep."""
    with q.connection.pipeline() as pipe:
        for entry in jobs.stale.get(job, []):
            pipe.zrem(StartedJobRegistry(queue=q).key, entry)
        pipe.zrem(ScheduledJobRegistry(queue=q).key, job)
        pipe.zrem(FailedJobRegistry(queue=q).key, job)
        pipe.lrem(q.intermediate_queue_key, 0, job)
        pipe.execute()
