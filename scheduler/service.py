"""The pipeline's service API: what the web app, the API and the command line may ask of uploads.

Start, retry, reprocess, delete, query (an indexed, paged listing) and view. Callers build one
`Pipeline` at their entry point and hand it down; they never assemble records, plans or step
names themselves. Subsystems that keep data of an upload join through `scheduler.hooks`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from redis.client import PubSub

from storage.client import Store
from storage.layout import artefact_prefix, result_key, shown_path

from . import accounting, analysis, health, hooks, steps
from .analysis import KEYFRAMES, keyframe_results
from .context import Context, use
from .keys import events_channel
from .names import IMAGE_PICTURE, Keyframe, MalformedName, StepName
from .plans import THUMBNAIL
from .uploads import ANY, Page, State, Step, StepState, Upload, UploadNotFound, Uploads, artefacts

# What callers may use besides the Pipeline: states, events and the names of steps and pictures.
__all__ = ["ANY", "IMAGE_PICTURE", "KEYFRAMES", "Keyframe", "MalformedName", "NotRetryable",
           "Pipeline", "State", "StepName", "StepState", "UploadNotFound", "connect", "keyframe_results"]

EXPECTED_GRACE_S = 3600  # an upload form is used within its expiry; its event may come a little later
SETTLED = {StepState.DONE, StepState.FAILED, StepState.SKIPPED}


class NotRetryable(Exception):
    """The upload cannot be retried now; the message says why."""


@dataclass(frozen=True)
class Listing:
    total: int
    uploads: list[dict[str, Any]]


def progress(step_states: Iterable[Step]) -> float:
    found = list(step_states)
    return round(sum(step.state in SETTLED for step in found) / len(found), 3) if found else 0.0


def skipped(steps: Mapping[str, Any], function: str) -> bool:
    """Whether a step of ``function`` on an upload (its own or a keyframe's) was skipped, as a view lists
    steps: the UI asks this instead of reading step names."""
    for name, step in steps.items():
        state = step.get("state") if isinstance(step, Mapping) else getattr(step, "state", None)
        try:
            called = StepName.parse(name).function
        except MalformedName:
            continue
        if called == function and str(getattr(state, "value", state)) == StepState.SKIPPED.value:
            return True
    return False


def retry_refusal(upload: Upload, ran: dict[str, Step]) -> str | None:
    """Why running an upload again cannot help (None when it can): it has not failed, or every step
    that failed was refused for the file itself (empty, damaged, too large to decode, not media)."""
    if upload.state != State.FAILED:
        return f"only failed uploads can be retried; this one is {upload.state.value}"
    failed = [step for step in ran.values() if step.state == StepState.FAILED]
    if failed and all(step.rejected for step in failed):
        return (f"the file itself was refused ({failed[0].reason}): running it again cannot help; "
                "upload a fixed file instead")
    return None


class Pipeline:
    def __init__(self, context: Context) -> None:
        self.context = context
        self.redis = context.redis
        self.records = Uploads(context.redis)
        self.store = context.store
        self.queue = context.queue

    def join(self, hook: hooks.PipelineHook) -> None:
        """Adds a subsystem that must hear of finished and deleted uploads (search: vectors, faces)."""
        self.context.hooks.append(hook)

    def summary(self, upload: Upload, found: dict[str, Step] | None = None) -> dict[str, Any]:
        """An upload as lists show it: its record, the path its workspace knows it by, its steps (each
        with its place in the reading order), how far it is, whether a retry can help, its thumbnail.
        ``found``: its steps, where the caller read them already."""
        if found is None:
            found = self.records.steps(upload.id)
        made = artefacts(found)
        bucket = self.store.settings.artefacts_bucket
        return {
            **upload.to_dict(),
            "path": shown_path(upload.key, upload.workspace),
            "listed_at": upload.listed_at,
            "steps": {name: step.described() for name, step in found.items()},
            "progress": progress(found.values()),
            "retryable": retry_refusal(upload, found) is None,
            "thumbnail": self.store.browser_url(bucket, made[THUMBNAIL]) if THUMBNAIL in made else None,
        }

    def query(
        self, workspace: str, state: str = "", media_type: str = "", key: str = "", offset: int = 0,
        limit: int = 50, since: float | None = None, until: float | None = None, among: Collection[str] | None = None,
    ) -> Listing:
        """A workspace's uploads newest first (by date taken, else uploaded), filtered by state, type,
        time and a set of ids (a person's uploads, from search) from the listing index, or by key."""
        if state and state not in {s.value for s in State}:
            raise ValueError(f"state must be one of {', '.join(s.value for s in State)}")
        if key:
            found = self.records.latest_for_key(self.store.settings.uploads_bucket, key)
            matches = [self.records.get(found)] if found and self.records.exists(found) else []
            matches = [upload for upload in matches if upload.workspace == workspace
                       and (not state or upload.state.value == state)
                       and (not media_type or upload.media_type == media_type)]
            page = Page(len(matches), matches[offset : offset + limit])
        else:
            page = self.records.page(workspace, state or ANY, media_type or ANY, offset, limit, since, until, among)
        steps = self.records.steps_of([upload.id for upload in page.uploads])
        return Listing(page.total, [self.summary(upload, found) for upload, found in zip(page.uploads, steps,
                                                                                           strict=True)])

    def artefact_urls(self, upload: str) -> dict[str, str]:
        """Presigned GET URLs of every artefact an upload's steps wrote, by name."""
        bucket = self.store.settings.artefacts_bucket
        return {name: self.store.browser_url(bucket, key) for name, key in self.artefacts(upload).items()}

    def artefacts(self, upload: str) -> dict[str, str]:
        return artefacts(self.records.steps(upload))

    def view(self, upload: str, workspace: str | None = None) -> dict[str, Any]:
        """One upload whole: record, steps, progress, results (nested as `scheduler.analysis` says), its
        timeline of what is seen and heard, artefact URLs and its source URL."""
        record = self.upload(upload, workspace)
        results = self.records.results(upload)
        return {
            **self.summary(record),
            "results": results,
            "timeline": analysis.timeline(results),
            "artefacts": self.artefact_urls(upload),
            "source": self.store.browser_url(record.bucket, record.key),
            "download": self.store.download_url(record.bucket, record.key),
        }

    def neighbours(self, upload: str, workspace: str) -> tuple[str | None, str | None]:
        """The uploads listed just before (newer) and after (older) this one: a viewer's previous and next."""
        return self.records.neighbours(workspace, self.upload(upload, workspace).id)

    def health(self) -> dict[str, Any]:
        """Gateways with their functions' readiness, queues (with how long their finished and failed jobs are
        kept) and workers."""
        return {"gateways": health.gateways(), "queues": health.queues(self.redis),
                "kept": health.retention(self.context.settings), "workers": health.workers(self.redis)}

    def subscribe(self, workspace: str) -> PubSub:
        """Every upload and step change of one workspace as it happens (messages are JSON)."""
        listener = self.redis.pubsub(ignore_subscribe_messages=True)
        listener.subscribe(events_channel(workspace))
        return listener

    def results(self, upload: str, workspace: str | None = None) -> dict[str, Any]:
        self.upload(upload, workspace)
        return self.records.results(upload)

    def upload(self, upload: str, workspace: str | None = None) -> Upload:
        """The upload's record; not found when it belongs to another workspace than the one named
        (None: any, for upkeep that spans workspaces)."""
        record = self.records.get(upload)
        if workspace is not None and record.workspace != workspace:
            raise UploadNotFound(upload)
        return record

    def exists(self, upload: str, workspace: str | None = None) -> bool:
        try:
            self.upload(upload, workspace)
        except UploadNotFound:
            return False
        return True

    def expect_upload(self, workspace: str, key: str, uploader: str) -> None:
        """Notes who is about to upload ``key`` (handed a form now), for the upload's record."""
        self.records.expect(workspace, key, uploader, self.store.settings.url_expiry_s + EXPECTED_GRACE_S)

    def start(self, upload: str) -> None:
        steps.start(upload, self.queue, self.records)

    def retry(self, upload: str, workspace: str | None = None) -> dict[str, Any]:
        """Runs a failed upload's pipeline again from the start, dropping its old steps and results."""
        record = self.upload(upload, workspace)
        refused = retry_refusal(record, self.records.steps(upload))
        if refused:
            raise NotRetryable(refused)
        self.records.reset(upload)
        # Read before the first step is queued: a worker may take it at once, and the answer is "queued".
        queued = self.summary(self.records.get(upload))
        self.start(upload)
        return queued

    def reprocess(self, uploads: Iterable[str], workspace: str | None = None) -> list[str]:
        """Runs the pipeline of each upload again; what it made is replaced when it finishes."""
        started = []
        for upload in uploads:
            if not self.exists(upload, workspace):
                continue
            self.records.reset(upload)
            self.start(upload)
            started.append(upload)
        return started

    def all_ids(self, workspace: str | None = None) -> list[str]:
        return self.records.ids(workspace)

    def delete(self, upload: str, workspace: str | None = None) -> dict[str, int]:
        """Deletes an upload and all made from it: record, objects, results, and what hooks keep."""
        record = self.upload(upload, workspace)
        ran = self.records.steps(upload)
        made = artefacts(ran)
        owns_key = self.records.latest_for_key(record.bucket, record.key) in (None, upload)
        self.records.delete(upload)
        accounting.left(self.redis, record)
        steps.forget_jobs(upload, ran, self.redis)
        removed: dict[str, int] = {"objects": 0}
        for hook in self.context.hooks:
            for name, count in hook.deleted(upload, record.workspace).items():
                removed[name] = removed.get(name, 0) + count
        s = self.store
        prefix = artefact_prefix(record.workspace, upload)
        removed["objects"] += s.delete_prefix(s.settings.artefacts_bucket, prefix)
        # Artefacts made before workspaces lie outside the prefix: their recorded keys find them.
        for key in made.values():
            if not key.startswith(prefix) and s.exists(s.settings.artefacts_bucket, key):
                s.delete(s.settings.artefacts_bucket, key)
                removed["objects"] += 1
        # The object and its results belong to the newest upload of this key: an older one leaves them.
        if owns_key:
            for bucket, key in ((record.bucket, record.key), (s.settings.results_bucket, result_key(record.key))):
                if s.exists(bucket, key):
                    s.delete(bucket, key)
                    removed["objects"] += 1
        return removed


def connect(store: Store | None = None) -> Pipeline:
    """The pipeline on the configured Redis and store, made this process's context: what an entry
    point builds once."""
    return Pipeline(use(Context.from_environment(store=store)))
