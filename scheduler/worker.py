"""Runs an RQ worker on the scheduler's queue (one per process; start several for more).

Jobs run in this process rather than in a fork per job: a job is HTTP calls (a step's, or the
embed function's for the index), which a fork per job would only add its own cost to. Without a
fork RQ keeps no heartbeat for the job, so `Worker` beats for it: a worker killed mid-job is
noticed within a few beats, and any other worker takes the job back (RQ's abandoned-job cleanup,
then the job's retries). A Redis outage does not end the process: it waits and connects again.
Between jobs a worker also runs the sweep for jobs lost outright (scheduler/sweep.py), when due.
The worker that holds RQ's scheduler lock moves due jobs (retries after their wait) onto the queue
from a thread of its own, not from the process RQ forks for it.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, SimpleWorker
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.job import Job
from rq.scheduler import RQScheduler

from functions.common.logs import configure_logging
from scheduler.uploads import Uploads
from search.hook import SearchHook
from search.index import index

from . import sweep
from .context import Context, use
from .routing import CPU

logger = logging.getLogger(__name__)

MISSED_BEATS = 3
# RQ's lock on cleaning a queue's registries lasts 15 minutes, and a worker killed while it cleans (or
# cut off by Redis) never releases it: for that long no dead worker's job would be taken back.
CLEANUP_LOCK_S = 60
# How long a stopping worker waits for its scheduler's thread to release the lock: the thread looks once a second.
SCHEDULER_STOP_S = 5.0


class CleanedQueue(Queue):
    """A queue whose registries' cleanup lock outlives a worker that dies holding it by a minute, not 15."""

    def acquire_maintenance_lock(self) -> bool:
        return bool(self.connection.set(self.registry_cleaning_key, 1, nx=True, ex=CLEANUP_LOCK_S))


class ThreadScheduler(RQScheduler):
    """RQ's scheduler in a thread of the worker. RQ forks a process for it, which held a copy of the worker's
    pages (65 MiB resident, issue 17) to move due jobs onto the queue once a second. A scheduler that fails
    (Redis away) ends its thread, and the worker's maintenance starts it again, as RQ does a process."""

    def start(self) -> threading.Thread:  # type: ignore[override]
        self._status = self.Status.STARTED
        self._stop_requested = False
        thread = threading.Thread(target=run_scheduler, args=(self,), name="rq-scheduler", daemon=True)
        self._process = thread  # type: ignore[assignment]  # what RQ's worker asks is_alive() of
        thread.start()
        return thread

    def _install_signal_handlers(self) -> None:
        """None: only the main thread may set them, and the worker stops the scheduler when it stops."""

    def stop_thread(self, timeout_s: float) -> None:
        """Asks the loop to stop (it releases the lock as it does) and waits up to ``timeout_s`` for it."""
        self.request_stop()
        thread = self._process
        # A stop that comes between making the thread and starting it finds no thread to wait for.
        if isinstance(thread, threading.Thread) and thread.ident is not None:
            thread.join(timeout_s)


class Worker(SimpleWorker):
    """A SimpleWorker that keeps a busy job's heartbeat and cleans up after dead workers often, busy or idle."""

    def __init__(self, queues: list[Queue], heartbeat_s: float, context: Context | None = None,
                 **kwargs: Any) -> None:
        # Dead workers' jobs are looked for every few beats, not every 10 minutes (RQ's default).
        kwargs["maintenance_interval"] = max(1, int(heartbeat_s * MISSED_BEATS))
        cleaned = [CleanedQueue(q.name, connection=q.connection, serializer=q.serializer) for q in queues]
        super().__init__(cleaned, queue_class=CleanedQueue, **kwargs)
        self.heartbeat_s = heartbeat_s
        self.context = context
        self._beating = threading.Lock()
        self._done = threading.Event()
        self.stopping = False

    def _start_scheduler(self, burst: bool = False, logging_level: str | None = "INFO",
                         date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
                         log_format: str = DEFAULT_LOGGING_FORMAT) -> None:
        if burst:  # RQ's: due jobs moved once, no scheduler left running
            return super()._start_scheduler(burst, logging_level, date_format, log_format)
        self.scheduler = ThreadScheduler(
            self.queues, connection=self.connection, serializer=self.serializer, date_format=date_format,
            log_format=log_format, logging_level=logging_level if logging_level is not None else self.log.level)
        self.scheduler.acquire_locks(auto_start=True)

    def stop_scheduler(self) -> None:
        # RQ's signals the scheduler's process by its pid, which a thread does not have.
        if isinstance(self.scheduler, ThreadScheduler):
            self.scheduler.stop_thread(SCHEDULER_STOP_S)
        else:
            super().stop_scheduler()

    def handle_warm_shutdown_request(self) -> None:
        # RQ stops by raising from its signal handler, which can cut a Redis reply in half; the error
        # the teardown then meets must end the process, not pass for an outage to wait out.
        self.stopping = True
        super().handle_warm_shutdown_request()

    @property
    def dequeue_timeout(self) -> int:
        # Maintenance runs between waits for a job, and RQ's wait (the worker's TTL less 15 s, near 7
        # minutes) kept an idle worker from it that long: dead workers' jobs, retries due while RQ's
        # scheduler was stopped by a Redis outage (the worker starts it again) and lost jobs stayed put.
        return max(1, int(self.maintenance_interval))

    def get_heartbeat_ttl(self, job: Job) -> int:
        # How long the job stays ours without a beat: RQ's default is the whole job timeout.
        return int(self.heartbeat_s * MISSED_BEATS) + 1

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        if self.context is None:
            return
        try:
            sweep.run_due(self.context, self.name)
        except RedisError:
            raise
        except Exception:
            # A fault in the sweep must not stop the worker from running jobs.
            logger.exception("the sweep for lost jobs failed")

    def execute_job(self, job: Job, queue: Queue) -> None:
        self._done.clear()

        def beat() -> None:
            while not self._done.wait(self.heartbeat_s):
                with self._beating:
                    if self._done.is_set():
                        return
                    try:
                        self.maintain_heartbeats(job)
                    except (RedisConnectionError, RedisTimeoutError) as exc:
                        logger.warning("heartbeat of %s missed: %s", job.id, exc)

        beating = threading.Thread(target=beat, name=f"heartbeat-{job.id}", daemon=True)
        beating.start()
        try:
            super().execute_job(job, queue)
        finally:
            self._stop_beating()
            beating.join()

    def _stop_beating(self) -> None:
        # Under the lock: a beat after the job left the started registry would put it back there,
        # and the cleanup would later take a finished job for an abandoned one.
        with self._beating:
            self._done.set()

    def handle_job_success(self, *args: Any, **kwargs: Any) -> Any:
        self._stop_beating()
        return super().handle_job_success(*args, **kwargs)

    def handle_job_failure(self, *args: Any, **kwargs: Any) -> Any:
        self._stop_beating()
        return super().handle_job_failure(*args, **kwargs)


def run_scheduler(scheduler: RQScheduler) -> None:
    try:
        scheduler.work()
    except Exception:
        logger.exception("RQ's scheduler failed (the worker's maintenance starts it again)")


def main() -> None:
    configure_logging("worker")
    # Made once at start, not by the first job: the S3 client and the gateway's HTTP client. Jobs find
    # them in the context.
    context = use(Context.from_environment())
    name = sys.argv[1] if len(sys.argv) > 1 else f"{context.settings.worker_prefix}-{uuid.uuid4().hex[:8]}"
    context.gateway(CPU)
    context.hooks.append(SearchHook(Uploads(context.redis), context.queue, index))
    pause, restarts = 1.0, 0
    worker: Worker | None = None
    while True:
        try:
            # Made inside: making a worker talks to Redis already, which may still be away. After an
            # outage the old registration may still be in Redis (kept by its AOF): a new name.
            worker = Worker([context.queue], connection=context.redis, heartbeat_s=context.settings.heartbeat_s,
                            context=context,
                            name=name if restarts == 0 else f"{name}-{restarts}")
            worker.work(with_scheduler=True, logging_level="WARNING")
            return
        except (RedisError, OSError) as exc:
            if worker is not None and worker.stopping:
                logger.warning("Redis failed while the worker stopped (%s); stopped all the same", exc)
                return
            restarts += 1
            logger.warning("Redis cannot be reached (%s); connecting again in %.0f s", exc, pause)
            time.sleep(pause)
            pause = min(pause * 2, 30.0)


if __name__ == "__main__":
    main()
