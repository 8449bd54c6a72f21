"""Runs an RQ worker on the scheduler's queue (one per process; start several for more)."""

from __future__ import annotations

import sys

from rq import Worker

# Imported here, before RQ forks a work horse per job, so each job starts with the step code,
# the search index code and the S3 client already loaded instead of importing them anew.
from . import steps
from .connection import queue, redis
from .logs import configure_logging
from .search import jobs as search_jobs


def main() -> None:
    configure_logging("worker")
    name = sys.argv[1] if len(sys.argv) > 1 else None
    steps.store()
    worker = Worker([queue()], connection=redis(), name=name)
    worker.work(with_scheduler=True, logging_level="WARNING")


__all__ = ["main", "search_jobs"]

if __name__ == "__main__":
    main()
