"""Search's hook into the pipeline: index an upload when it finishes, forget it when it is deleted."""

from __future__ import annotations

from collections.abc import Callable

from redis.client import Pipeline
from rq import Queue

from scheduler.hooks import PipelineHook
from scheduler.steps import INDEX, job_id
from scheduler.uploads import Uploads

from . import jobs
from .index import Index
from .people import People


class SearchHook(PipelineHook):
    """``index`` gives the index when it is needed: opening it is not free, and a deletion may never come."""

    def __init__(self, records: Uploads, queue: Queue, index: Callable[[], Index]) -> None:
        self.records, self.queue, self.index = records, queue, index

    def finished(self, upload: str, pipe: Pipeline) -> None:
        # Its own job, so a slow embedding never holds the upload's state back; the id makes it once,
        # and queued with the final state, no crash leaves a finished upload out of the index.
        self.queue.enqueue(jobs.index_upload, upload, job_id=job_id(upload, INDEX), retry=jobs.retry_later(),
                           description=f"index {upload}", pipeline=pipe)

    def deleted(self, upload: str, workspace: str) -> dict[str, int]:
        return jobs.forget_upload(upload, workspace, self.records, self.index())

    def erase(self, workspace: str) -> dict[str, int]:
        """The workspace's collections, word index, people and faces go."""
        found = self.index()
        people = People(self.records.redis, found, workspace).erase()
        return {"collections": found.drop_workspace(workspace), "people": people}
