"""The System page's queue counts after a worker died mid-job: the page answers, and the dead job is left
for the workers and the sweep to settle, not settled by the web app."""

from __future__ import annotations

import threading

from redis import Redis
from rq import Queue
from rq.executions import Execution

from scheduler import health


def remember_failure(job: object, connection: Redis, *args: object) -> None:
    connection.set("test:failure-callback-ran", "1")


def noop() -> None:
    """A job's work; it never runs here."""


def test_queue_counts_of_a_job_whose_worker_died_are_read_from_a_web_thread(redis_db: Redis) -> None:
    queue = Queue("health-test", connection=redis_db)
    job = queue.enqueue(noop, on_failure=remember_failure)
    with redis_db.pipeline() as pipe:
        # Its worker took it and died: the entry's time in the started registry has run out.
        Execution.create(job, ttl=0, pipeline=pipe, worker_name="gone")
        pipe.execute()
    found: list[health.QueueStatus] = []
    errors: list[BaseException] = []

    def system_page() -> None:  # the web app answers a page in a thread of its server, never the main one
        try:
            found.extend(health.queues(redis_db))
        except BaseException as error:
            errors.append(error)

    page = threading.Thread(target=system_page)
    page.start()
    page.join()
    assert not errors, errors
    assert [(status.name, status.running) for status in found] == [("health-test", 1)]
    assert redis_db.get("test:failure-callback-ran") is None, "the web app ran a scheduler callback"


def test_the_system_page_says_how_long_finished_and_failed_jobs_are_counted() -> None:
    from scheduler.settings import SchedulerSettings

    kept = health.retention(SchedulerSettings(result_ttl_s=5400, failure_ttl_s=90))
    assert kept == {"finished": "90 min", "failed": "90 s"}
    assert [health.span(seconds) for seconds in (600, 86_400, 3_601)] == ["10 min", "24 h", "3601 s"]
