"""What the JSON API takes and gives: the models its inputs are validated with and its OpenAPI document is made of."""

from __future__ import annotations

import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from accounts.audit import Action

# Bounds the views and the document share, so what is described is what is enforced.
LIST_MAX = 500
SEARCH_LIMIT_MAX = 100
NAME_MAX = 200


class Query(BaseModel):
    """A query string: values arrive as text and are read as the field's type."""

    model_config = ConfigDict(extra="ignore")


class Body(BaseModel):
    """A JSON body: read as sent (no text read as a number), with unknown members ignored."""

    model_config = ConfigDict(extra="ignore", strict=True)


class Reply(BaseModel):
    """A response: the members named are promised; records may carry more as the pipeline grows."""

    model_config = ConfigDict(extra="allow")


# Requests.

class UploadsQuery(Query):
    limit: int = Field(50, ge=1, le=LIST_MAX, description="How many uploads to list.")
    offset: int = Field(0, ge=0, le=2**31, description="How many to skip, newest first.")
    state: Literal["", "queued", "running", "done", "failed"] = Field("", description="Only uploads in this state.")
    media_type: str = Field("", max_length=64, description="Only this media type (image, video, audio).")
    key: str = Field("", max_length=1024, description="Only the newest upload of this object key.")
    since: datetime.date | None = Field(
        None, description="Only uploads taken (else uploaded) on or after this day (UTC).")
    until: datetime.date | None = Field(
        None, description="Only uploads taken (else uploaded) on or before this day (UTC).")
    person: str = Field("", max_length=200, description="Only uploads where this person appears.")


class ArchiveQuery(Query):
    ids: str = Field(min_length=1, max_length=LIST_MAX * 21, description="Upload ids, separated by commas.")


class SearchQuery(Query):
    q: str = Field(min_length=1, description="Words to search for (a length cap is set by the server).")
    kind: Literal["text", "image"] = Field("text", description="Words seen or heard, or pictures for a description.")
    mode: Literal["", "exact", "semantic"] = Field("", description="One kind of text match; both when empty.")
    limit: int = Field(20, ge=1, le=SEARCH_LIMIT_MAX)
    media_type: Literal["", "image", "video", "audio"] = Field("", description="Only uploads of this media type.")
    person: str = Field("", max_length=200, description="Only uploads this person (an id from /people) is in.")
    since: datetime.date | None = Field(None, description="Only uploads made on this day (UTC) or later.")
    until: datetime.date | None = Field(None, description="Only uploads made on this day (UTC) or earlier.")


class LimitQuery(Query):
    limit: int = Field(20, ge=1, le=SEARCH_LIMIT_MAX)


class ReprocessQuery(Query):
    all: bool = Field(False, description="Every upload.")
    function: str = Field("", max_length=200, description="Uploads whose result of this function ...")
    engine_version: str | None = Field(None, max_length=200, description="... came from another engine version.")


class UploadRequest(Body):
    filename: str = Field(min_length=1, max_length=1024)
    size: int | None = Field(None, ge=0, description="Bytes; the form holds the upload to it.")
    content_type: str = Field("", max_length=255, description="image/jpeg, video/mp4, audio/mpeg, ...")


class ImageSearchRequest(Body):
    upload_id: str = Field(min_length=1, max_length=200, description="Pictures like this upload's.")
    frame: str | None = Field(None, max_length=200, description="One keyframe of a video (kf3).")


class PersonName(Body):
    name: str | None = Field(None, max_length=NAME_MAX, description="An empty name clears it.")
    hidden: bool | None = Field(None, description="Leave the person out of the people list, or show them again.")


class PeopleQuery(Query):
    hidden: bool = Field(False, description="List the people a user hid too.")


class MergeRequest(Body):
    people: list[str] = Field(min_length=1, max_length=1000)
    into: str | None = Field(None, description="The person the others go into; the first of people when absent.")


class SplitRequest(Body):
    person: str | None = Field(None, description="The person the face moves to; alone when absent.")


class ReprocessRequest(Body):
    upload_ids: list[str] | None = Field(None, max_length=10_000)


# Responses.

class Error(Reply):
    """What was wrong, and what to do."""

    error: str


class ApiDocument(Reply):
    """This API's OpenAPI document."""

    openapi: str
    paths: dict[str, Any]


class UploadForm(Reply):
    bucket: str
    key: str
    method: Literal["POST"]
    url: str
    fields: dict[str, str]
    content_type: str
    max_bytes: int


class StepRecord(Reply):
    name: str
    state: Literal["pending", "running", "done", "failed", "skipped"]
    reason: str
    attempts: int
    progress: float
    rejected: bool = Field(False, description="The file itself was refused: running the step again cannot help.")
    position: int = Field(0, description="Its place in the order a person reads steps in (sort by it).")


class UploadSummary(Reply):
    id: str
    bucket: str
    key: str
    path: str = Field(description="The key as the workspace reads it (no workspace prefix, no form folder).")
    state: Literal["queued", "running", "done", "failed"]
    reason: str
    media_type: str
    size: int
    created_at: float
    taken_at: float | None = Field(description="When it was taken (EXIF or container date), if known.")
    listed_at: float = Field(description="What lists sort and group by: taken_at, else created_at.")
    duration: float | None = Field(description="Seconds of video or sound.")
    overview: dict[str, int] = Field(description="What the analysis found: faces, people, text_lines, "
                                     "spoken_segments (counts above zero, once finished).")
    steps: dict[str, StepRecord]
    progress: float = Field(description="The share of planned steps that have settled, 0 to 1.")
    retryable: bool = Field(description="Whether running it again can help (failed, and not for the file itself).")
    thumbnail: str | None = Field(description="A URL of its thumbnail, once made.")


class UploadView(UploadSummary):
    results: dict[str, Any]
    timeline: Any
    artefacts: dict[str, Any]
    source: str | None


class UploadList(Reply):
    total: int
    uploads: list[UploadSummary]


class Deleted(Reply):
    deleted: str
    objects: int


class Hit(Reply):
    upload_id: str
    thumbnail: str | None


class SearchReply(Reply):
    query: str
    kind: Literal["text", "image"]
    hits: list[Hit]
    note: str | None = None
    notice: str | None = Field(None, description="Why passages close in meaning, or pictures by what they show, "
                               "could not be looked for, and the fix.")


class Duplicate(Hit):
    match: Literal["exact", "near"] = Field(description="The same file, or the same picture resized or re-encoded.")
    bits: int = Field(description="Perceptual-hash bits (of 64) that differ: 0 for an exact copy.")


class ImageSearchReply(Reply):
    hits: list[Hit] = Field(description="Pictures similar in content (CLIP), most similar first.")
    duplicates: list[Duplicate] = Field(description="Copies of the picture, found without CLIP.")
    upload_id: str | None = None
    notice: str | None = Field(None, description="Why similar pictures could not be looked for, and the fix.")


class Person(Reply):
    id: str
    name: str | None
    label: str = Field(description="The name, or \"Person 3\" for someone not named yet.")
    hidden: bool = False
    faces: int
    uploads: int
    cover: dict[str, Any] | None


class PersonWithFaces(Person):
    members: list[dict[str, Any]]


class PeopleList(Reply):
    total: int
    people: list[Person]
    undo: str | None = Field(None, description="The last decision about people, which POST /people/undo takes back.")


class Undone(Reply):
    undone: str = Field(description="The decision taken back, in words.")
    undo: str | None = Field(None, description="The decision before it, which another undo would take back.")


class PersonUploads(Reply):
    person: str
    uploads: list[Hit]


class RebuildJob(Reply):
    job: str


class Reprocessing(Reply):
    reprocessing: list[str]


class GpuStatus(Reply):
    enabled: bool
    message: str
    problem: bool
    nodes: list[dict[str, Any]]
    spend: dict[str, Any]
    budget: dict[str, Any]
    files_this_month: int
    cost_per_file: float | None
    max_nodes: int


# Workspaces, members and keys.

RoleName = Literal["viewer", "editor", "owner"]


class RoleRequest(Body):
    role: RoleName = Field(description="The member's role in this workspace.")


class KeyRequest(Body):
    name: str = Field(min_length=1, max_length=80, description="What the key is for.")
    role: RoleName = Field("viewer", description="What the key may do in this workspace.")
    expires_in_days: float | None = Field(None, ge=0.001, le=3650, description="Stops working after this many days.")


class WorkspaceRequest(Body):
    name: str = Field(min_length=1, max_length=80)
    owner: str = Field(min_length=1, max_length=64, description="An existing user, made its owner.")


class UserRequest(Body):
    name: str = Field(min_length=2, max_length=64)
    password: str = Field(min_length=10, max_length=1024)
    operator: bool = Field(False, description="May run the installation: workspaces, accounts, system page.")


class PasswordRequest(Body):
    current: str = Field(min_length=1, max_length=1024)
    new: str = Field(min_length=10, max_length=1024)


class Me(Reply):
    actor: str
    workspace: str
    role: str | None
    operator: bool


class WorkspaceInfo(Reply):
    id: str
    name: str
    created_at: float


class WorkspaceList(Reply):
    workspaces: list[WorkspaceInfo]


class Members(Reply):
    members: dict[str, RoleName]


class KeyRecord(Reply):
    id: str
    name: str
    workspace: str
    role: str
    created_by: str
    created_at: float
    expires_at: float | None


class KeyList(Reply):
    keys: list[KeyRecord]


class NewKey(KeyRecord):
    secret: str = Field(description="The key itself: shown this once, never again.")


class UserInfo(Reply):
    name: str
    operator: bool
    created_at: float


class UserList(Reply):
    users: list[UserInfo]


class AuditQuery(Query):
    actor: str = Field("", max_length=80, description="Only what this user (or key:<id>) did.")
    action: Action | None = Field(None, description="Only this kind of action.")
    since: float | None = Field(None, ge=0, le=1e11, allow_inf_nan=False,
                                description="Only entries at or after this time (epoch seconds).")
    until: float | None = Field(None, ge=0, le=1e11, allow_inf_nan=False,
                                description="Only entries at or before this time (epoch seconds).")
    before: str = Field("", max_length=40, pattern=r"^(\d+-\d+)?$", description="Entries older than this entry id.")
    limit: int = Field(100, ge=1, le=LIST_MAX)


class AuditEntry(Reply):
    id: str
    time: float
    actor: str
    action: str
    target: str
    source: str
    detail: dict[str, Any]


class AuditList(Reply):
    entries: list[AuditEntry]


class UsageQuery(Query):
    days: int = Field(30, ge=1, le=400, description="How many days back, today included.")


class UsageReport(Reply):
    workspace: str
    stored: dict[str, int]
    quota: dict[str, int | None]
    days: list[dict[str, Any]]


class QuotaRequest(Body):
    storage_bytes: int | None = Field(None, ge=0, le=2**62, description="Bytes stored at most; none: no limit.")
    files_per_day: int | None = Field(None, ge=0, le=2**31, description="Uploads a day at most; none: no limit.")


class S3Access(Reply):
    endpoint: str
    access_key: str
    secret_key: str = Field(description="Shown this once, never again.")
    buckets: dict[str, str] = Field(description="Each bucket and the prefix this workspace may use in it.")


class EraseRequest(Body):
    confirm: str = Field(min_length=1, max_length=40, description="The workspace's id, typed again.")


class Erased(Reply):
    erased: str
    removed: dict[str, int]


class PersonalData(Reply):
    account: dict[str, Any]
    workspaces: dict[str, str]
    keys: list[dict[str, Any]]
    audit: dict[str, list[dict[str, Any]]]
