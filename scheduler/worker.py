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

from .context import Context, use
from .routing import CPU

logger = logging.getLogger(__name__)


def main() -> None:
    configure_logging("worker")
    name = sys.argv[1] if len(sys.argv) > 1 else None
    # Made once at start, not by the first job: the S3 client, the gateway's HTTP client and the
    # text model that indexing uses. Jobs find them in the context.
    context = use(Context.from_environment())
    context.gateway(CPU)
    try:
        text.embedder().load()
    except FileNotFoundError as exc:
        logger.warning("search indexing of text will fail: %s", exc)
    context.hooks.append(SearchHook(Uploads(context.redis), context.queue, index))
    # Jobs run in this process rather than in a fork per job: a step is an HTTP call, and forking
    # a process that holds the text model cost as much CPU per image as the inference itself.
    worker = SimpleWorker([context.queue], connection=context.redis, name=name)
    worker.work(with_scheduler=True, logging_level="WARNING")


if __name__ == "__main__":
    main()
