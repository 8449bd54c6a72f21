"""Runs an RQ worker on the scheduler's queue (one per process; start several for more)."""

from __future__ import annotations

import sys

from rq import Worker

from .connection import queue, redis
from .logs import configure_logging


def main() -> None:
    configure_logging("worker")
    name = sys.argv[1] if len(sys.argv) > 1 else None
    worker = Worker([queue()], connection=redis(), name=name)
    worker.work(with_scheduler=True, logging_level="WARNING")


if __name__ == "__main__":
    main()
