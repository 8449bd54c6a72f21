"""Runs an RQ worker on the scheduler's queue (one per process; start several for more)."""

from __future__ import annotations

import logging
import sys

from rq import SimpleWorker

from functions.common.logs import configure_logging
from scheduler.uploads import Uploads
from search import text
from search.hook import SearchHook
from search.index import index

from . import hooks, routing, steps
from .connection import queue, redis

logger = logging.getLogger(__name__)


def main() -> None:
    configure_logging("worker")
    name = sys.argv[1] if len(sys.argv) > 1 else None
    # Made once at start, not by the first job: the S3 client, the gateway's HTTP client and the
    # text model that indexing uses.
    steps.store()
    routing.gateway(routing.CPU)
    try:
        text.embedder().load()
    except FileNotFoundError as exc:
        logger.warning("search indexing of text will fail: %s", exc)
    hooks.install(SearchHook(Uploads(redis()), queue(), index))
    # Jobs run in this process rather than in a fork per job: a step is an HTTP call, and forking
    # a process that holds the text model cost as much CPU per image as the inference itself.
    worker = SimpleWorker([queue()], connection=redis(), name=name)
    worker.work(with_scheduler=True, logging_level="WARNING")


if __name__ == "__main__":
    main()
