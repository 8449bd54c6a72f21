"""Two workspaces on the real stack: every route, asked by each role of each workspace, an operator and
nobody, answers as one table says, and nothing of workspace A ever reaches a member of B.

The table names every route of the app; a route added without a row fails the first test, so none
can be forgotten. A row says what the route needs and what an allowed caller gets; the expected answer
of every caller follows from it: nobody 401 (a page: off to sign-in), too little 403, a member of B
asking for A's things 404, and what B is answered never holds a marker of A that B did not send.
"""

from __future__ import annotations

import io
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from flask import Flask
from redis import Redis

from accounts.apikeys import ApiKeys
from accounts.roles import Role
from accounts.users import Users
from accounts.workspaces import Workspaces
from embedded.stack import Stack
from scheduler.uploads import State, Upload, Uploads
from storage.events import UploadEvent
from tests.conftest import DATA, Account, make_account, wait_for_upload
from tests.ui_support import UNTHROTTLED, app_on, post_upload
from ui.access import Need

ROLES = (Role.VIEWER, Role.EDITOR, Role.OWNER)


@dataclass(frozen=True)
class Caller:
    """Who asks: a key of a workspace with a role, the operator's key, or nobody (no key)."""

    name: str
    key: str | None
    workspace: str = ""
    role: Role | None = None
    operator: bool = False

    def may(self, need: Need) -> bool:
        if need == Need.PUBLIC:
            return True
        if self.key is None:
            return False
        if need == Need.SIGNED_IN:
            return True
        if need in (Need.OPERATOR, Need.METRICS):
            return self.operator
        return self.role is not None and self.role.allows(Role(need.value))


@dataclass
class World:
    """Workspaces A and B with a caller of each role, and what A holds: uploads, a person, a face."""

    redis: Redis
    a: str
    b: str
    callers: list[Caller]
    a_uploads: list[str]
    b_uploads: list[str]
    a_person: str
    a_person_name: str
    a_face: str
    a_keys: list[str] = field(default_factory=list)

    def markers(self) -> list[str]:
        """Text of A that no answer to anyone else may hold (unless they sent it themselves)."""
        return [f"{self.a}/", self.a_person_name, *self.a_uploads, self.a_face, *self.a_keys]

    def fresh_upload(self, workspace: str, state: State = State.QUEUED) -> str:
        """A record of an upload whose object never came (to retry or delete without touching A's data)."""
        records = Uploads(self.redis)
        upload = Upload.from_event(UploadEvent("uploads", f"{workspace}/table/{uuid.uuid4().hex}.jpg",
                                               uuid.uuid4().hex, 10, "image/jpeg"), workspace)
        records.create(upload)
        if state != State.QUEUED:
            records.set_state(upload.id, state, "made for the access table")
        return upload.id

    def fresh_user(self, workspace: str = "") -> str:
        name = f"u-{uuid.uuid4().hex[:10]}"
        Users(self.redis).create(name, uuid.uuid4().hex)
        if workspace:
            Workspaces(self.redis).set_role(workspace, name, Role.VIEWER)
        return name


@dataclass(frozen=True)
class Route:
    """One row: the route, what it needs, what an allowed caller of A gets, and what a member of B gets
    when the route names one of A's things (None: whatever the view says, so long as nothing leaks)."""

    endpoint: str
    method: str
    path: str
    need: Need
    ok: int | None
    foreign: int | None = 404
    body: dict[str, Any] | None = None
    prepare: Callable[[World, Caller], dict[str, str]] | None = None

    @property
    def page(self) -> bool:
        return not self.path.startswith("/api/") and self.path not in ("/events", "/metrics")

    @property
    def names_a(self) -> bool:
        """The request names something of A (filled in from the world, or made by `prepare`)."""
        sent = [self.path, *(str(value) for value in (self.body or {}).values())]
        return any("{" in part for part in sent) or self.prepare is not None


def _own(workspace: str, caller: Caller) -> str:
    return caller.workspace or workspace


TABLE: list[Route] = [
    # The API of uploads.
    Route("api.create_upload", "POST", "/api/v1/uploads", Need.EDITOR, 201, foreign=None,
          body={"filename": "table.jpg", "size": 10, "content_type": "image/jpeg"}),
    Route("api.list_uploads", "GET", "/api/v1/uploads", Need.VIEWER, 200),
    Route("api.get_upload", "GET", "/api/v1/uploads/{upload}", Need.VIEWER, 200),
    Route("api.list_uploads", "GET", "/api/v1/uploads?person={person}", Need.VIEWER, 200),
    # Another workspace's ids are left out of the archive: B gets an empty one.
    Route("api.archive_uploads", "GET", "/api/v1/uploads/archive?ids={upload}", Need.VIEWER, 200, foreign=200),
    Route("api.retry_upload", "POST", "/api/v1/uploads/{fresh}/retry", Need.EDITOR, 202,
          prepare=lambda w, c: {"fresh": w.fresh_upload(w.a, State.FAILED)}),
    Route("api.delete_upload", "DELETE", "/api/v1/uploads/{fresh}", Need.EDITOR, 200,
          prepare=lambda w, c: {"fresh": w.fresh_upload(w.a)}),
    # Search and people.
    Route("search.search_words", "GET", "/api/v1/search?q=obama", Need.VIEWER, 200),
    Route("search.search_image", "POST", "/api/v1/search/image", Need.VIEWER, 200, body={"upload_id": "{upload}"}),
    Route("search.list_people", "GET", "/api/v1/people", Need.VIEWER, 200),
    Route("search.get_person", "GET", "/api/v1/people/{person}", Need.VIEWER, 200),
    Route("search.person_uploads", "GET", "/api/v1/people/{person}/uploads", Need.VIEWER, 200),
    Route("search.name_person", "PATCH", "/api/v1/people/{person}", Need.EDITOR, 200,
          body={"name": "{person_name}"}),
    # Takes back whatever decision of the caller's workspace is the last: its answer depends on the rows before.
    Route("search.undo_people", "POST", "/api/v1/people/undo", Need.EDITOR, None, foreign=None, body={}),
    Route("search.merge_people", "POST", "/api/v1/people/merge", Need.EDITOR, 404,
          body={"into": "{person}", "people": ["{person}", "p999999"]}),
    Route("search.split_face", "POST", "/api/v1/faces/{face}/split", Need.EDITOR, None,
          body={"person": "{person}"}),
    Route("search.rebuild_index", "POST", "/api/v1/index/rebuild", Need.OWNER, 202),
    Route("search.reprocess_uploads", "POST", "/api/v1/uploads/reprocess", Need.OWNER, 202,
          body={"upload_ids": []}),
    # Workspaces, members, keys, audit, usage, S3, export and erasure.
    Route("workspaces.me", "GET", "/api/v1/me", Need.SIGNED_IN, 200),
    Route("workspaces.change_password", "PUT", "/api/v1/me/password", Need.SIGNED_IN, 403,
          body={"current": "x", "new": "a new long password"}),
    Route("workspaces.export_me", "GET", "/api/v1/me/export", Need.SIGNED_IN, 400),
    Route("workspaces.workspace", "GET", "/api/v1/workspace", Need.VIEWER, 200),
    Route("workspaces.members", "GET", "/api/v1/workspace/members", Need.OWNER, 200),
    Route("workspaces.set_member", "PUT", "/api/v1/workspace/members/{user}", Need.OWNER, 200, foreign=None,
          prepare=lambda w, c: {"user": w.fresh_user()}, body={"role": "viewer"}),
    Route("workspaces.remove_member", "DELETE", "/api/v1/workspace/members/{user}", Need.OWNER, 200,
          prepare=lambda w, c: {"user": w.fresh_user(w.a)}),
    Route("workspaces.erase_uploads_of", "DELETE", "/api/v1/workspace/members/{user}/uploads", Need.OWNER, 200,
          foreign=None, prepare=lambda w, c: {"user": w.fresh_user(w.a)}),
    Route("workspaces.list_keys", "GET", "/api/v1/workspace/keys", Need.OWNER, 200),
    Route("workspaces.create_key", "POST", "/api/v1/workspace/keys", Need.OWNER, 201, body={"name": "table"}),
    Route("workspaces.revoke_key", "DELETE", "/api/v1/workspace/keys/{key}", Need.OWNER, 200,
          prepare=lambda w, c: {"key": ApiKeys(w.redis).create(w.a, Role.VIEWER, "doomed", "table")[0].id}),
    Route("workspaces.audit_log", "GET", "/api/v1/workspace/audit", Need.OWNER, 200),
    Route("workspaces.usage", "GET", "/api/v1/workspace/usage", Need.VIEWER, 200),
    Route("workspaces.issue_s3_credentials", "POST", "/api/v1/workspace/s3-credentials", Need.OWNER, 201),
    Route("workspaces.revoke_s3_credentials", "DELETE", "/api/v1/workspace/s3-credentials", Need.OWNER, 200),
    Route("workspaces.export_workspace", "GET", "/api/v1/workspace/export", Need.OWNER, 200),
    # Typed wrong on purpose: the view answers (access passed) and nothing is erased.
    Route("workspaces.erase_this_workspace", "DELETE", "/api/v1/workspace", Need.OWNER, 400,
          body={"confirm": "not-this-one"}),
    # Operators.
    Route("workspaces.list_workspaces", "GET", "/api/v1/workspaces", Need.OPERATOR, 200),
    Route("workspaces.create_workspace", "POST", "/api/v1/workspaces", Need.OPERATOR, 201,
          prepare=lambda w, c: {"user": w.fresh_user()}, body={"name": "table", "owner": "{user}"}),
    Route("workspaces.erase_any_workspace", "DELETE", "/api/v1/workspaces/{doomed}", Need.OPERATOR, 200,
          prepare=lambda w, c: {"doomed": Workspaces(w.redis).create("doomed").id}),
    Route("workspaces.set_quota", "PUT", "/api/v1/workspaces/{a}/quota", Need.OPERATOR, 200, body={}),
    Route("workspaces.list_users", "GET", "/api/v1/users", Need.OPERATOR, 200),
    Route("workspaces.create_user", "POST", "/api/v1/users", Need.OPERATOR, 201,
          prepare=lambda w, c: {"user": f"n-{uuid.uuid4().hex[:10]}"},
          body={"name": "{user}", "password": "a long enough password"}),
    Route("gpu.gpu_status", "GET", "/api/v1/gpu", Need.OPERATOR, 200),
    Route("metrics", "GET", "/metrics", Need.METRICS, 200),
    # Live events (their content is tested below).
    Route("events.event_stream", "GET", "/events", Need.VIEWER, 200),
    # Pages.
    Route("pages.home", "GET", "/", Need.SIGNED_IN, 302),
    Route("pages.upload", "GET", "/upload", Need.EDITOR, 200),
    Route("pages.uploads", "GET", "/uploads", Need.VIEWER, 200),
    Route("pages.result", "GET", "/uploads/{upload}", Need.VIEWER, 200),
    Route("pages.search", "GET", "/search", Need.VIEWER, 200),
    Route("pages.people", "GET", "/people", Need.VIEWER, 200),
    Route("pages.person_page", "GET", "/people/{person}", Need.VIEWER, 200),
    Route("pages.workspace_page", "GET", "/workspace", Need.SIGNED_IN, 200),
    Route("pages.switch_workspace", "POST", "/workspace", Need.SIGNED_IN, 403, body={}),
    Route("pages.system_page", "GET", "/system", Need.OPERATOR, 200),
    # Open to all.
    Route("pages.login", "GET", "/login", Need.PUBLIC, 200),
    Route("pages.login", "POST", "/login", Need.PUBLIC, 400, body={}),
    Route("pages.logout", "POST", "/logout", Need.PUBLIC, 302, body={}),
    Route("openapi.openapi_document", "GET", "/api/v1/openapi.json", Need.PUBLIC, 200),
    Route("healthz", "GET", "/healthz", Need.PUBLIC, 200),
    Route("static", "GET", "/static/style.css", Need.PUBLIC, 200),
]


def test_the_table_names_every_route_of_the_app(app: Flask) -> None:
    routes = {(rule.endpoint, method) for rule in app.url_map.iter_rules()
              for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}}
    declared = {endpoint: getattr(view, "medialens_need", None) for endpoint, view in app.view_functions.items()}
    in_table = {(row.endpoint, row.method) for row in TABLE}
    assert routes - in_table == set(), "a route without a row in the access table"
    assert in_table - routes == set(), "a row for a route the app no longer has"
    for row in TABLE:
        if row.endpoint != "static":
            assert declared[row.endpoint] == row.need, f"{row.endpoint} declares another need than the table"


def _upload(api: httpx.Client, name: str) -> str:
    found = wait_for_upload(api, post_upload(api, name, (DATA / "faces" / name).read_bytes(), "image/jpeg"))
    assert found["state"] == "done", found
    return str(found["id"])


@pytest.fixture(scope="module")
def world(running_stack: Stack) -> World:
    redis = running_stack.redis()
    a, b = f"wa-{uuid.uuid4().hex[:8]}", f"wb-{uuid.uuid4().hex[:8]}"
    callers: list[Caller] = [Caller("nobody", None)]
    accounts: dict[tuple[str, Role], Account] = {}
    for workspace in (a, b):
        for role in ROLES:
            accounts[workspace, role] = made = make_account(redis, workspace, role.value)
            callers.append(Caller(f"{workspace[:2]}-{role.value}", made.key, workspace, role))
    _, operator = ApiKeys(redis).create("", None, "table operator", "table", operator=True)
    callers.append(Caller("operator", operator, operator=True))
    s = running_stack.settings
    base = s.url(s.ui_port) + "/api/v1"

    def api(workspace: str) -> httpx.Client:
        key = accounts[workspace, Role.EDITOR].key
        return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60)

    # Two people in A (the one looked at is the second, so B, with one person, has no one by its id);
    # the same face as A's first in B.
    a_uploads = [_upload(api(a), "obama.jpg"), _upload(api(a), "biden.jpg")]
    b_uploads = [_upload(api(b), "obama2.jpg")]
    people = [api(a).get(f"/people/{p['id']}").json() for p in api(a).get("/people").json()["people"]]
    assert len(people) == 2, people
    person = next(p for p in people if any(f["upload_id"] == a_uploads[1] for f in p["members"]))
    name = f"Alice {uuid.uuid4().hex[:8]}"
    assert api(a).patch(f"/people/{person['id']}", json={"name": name}).status_code == 200
    deadline = time.monotonic() + 120
    while api(a).post("/search/image", json={"upload_id": a_uploads[1]}).status_code != 200:
        assert time.monotonic() < deadline, "A's picture was never indexed"
        time.sleep(0.5)
    keys = [k.id for k in ApiKeys(redis).list(a)]
    return World(redis, a, b, callers, a_uploads, b_uploads, person["id"], name, person["members"][0]["id"], keys)


def _fill(text: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


def _ask(app: Flask, route: Route, caller: Caller, values: dict[str, str]) -> tuple[int, str, str]:
    """The answer's status and text, and what the caller sent (path and body) after filling in.

    Asked of the app in this process, on the stack's Redis, store and workers, with no throttling:
    the table's many refused requests would otherwise run into the limit on wrong keys."""
    path = _fill(route.path, values)
    body = None if route.body is None else {k: ([_fill(v, values) for v in value] if isinstance(value, list)
                                                else _fill(value, values) if isinstance(value, str) else value)
                                            for k, value in route.body.items()}
    headers = {"Authorization": f"Bearer {caller.key}"} if caller.key else {}
    client = app.test_client()
    if route.endpoint == "events.event_stream":
        reply = client.get(path, headers=headers, buffered=False)
        first = next(iter(reply.response), b"") if reply.status_code == 200 else reply.data
        text = first.decode() if isinstance(first, bytes) else str(first)
        reply.close()
        return reply.status_code, text, path
    reply = client.open(path, method=route.method, json=body, headers=headers)
    if route.endpoint in ("workspaces.export_workspace", "api.archive_uploads") and reply.status_code == 200:
        names = tarfile.open(fileobj=io.BytesIO(reply.data)).getnames()
        return reply.status_code, "\n".join(names) + reply.data.decode("latin-1"), path
    return reply.status_code, reply.get_data(as_text=True), f"{path} {body}"


@pytest.fixture(scope="module")
def app(running_stack: Stack) -> Iterator[Flask]:
    with app_on(running_stack, **UNTHROTTLED) as made:
        yield made


def expected(route: Route, caller: Caller, world: World) -> int | None:
    if caller.key is None and route.need != Need.PUBLIC:
        return 302 if route.page else 401
    if not caller.may(route.need):
        return 403
    if caller.workspace == world.b and route.names_a:
        return route.foreign
    return route.ok


@pytest.mark.parametrize("route", TABLE, ids=[f"{r.method} {r.path}" for r in TABLE])
def test_each_caller_gets_what_the_table_says_and_nothing_of_another_workspace(
    app: Flask, world: World, route: Route
) -> None:
    wrong: list[str] = []
    for caller in world.callers:
        values = {"upload": world.a_uploads[1], "person": world.a_person, "person_name": world.a_person_name,
                  "face": world.a_face, "a": world.a}
        if route.prepare is not None:
            values |= route.prepare(world, caller)
        status, text, sent = _ask(app, route, caller, values)
        want = expected(route, caller, world)
        if want is None:
            if status in (401, 403) or status >= 500:
                wrong.append(f"{caller.name}: {status}, access should have passed: {text[:200]}")
        elif status != want:
            wrong.append(f"{caller.name}: {status}, not {want}: {text[:200]}")
        if caller.workspace != world.a and not caller.operator:
            leaked = [marker for marker in world.markers() if marker in text and marker not in sent]
            if leaked:
                wrong.append(f"{caller.name} was shown A's {leaked}")
    assert not wrong, f"{route.method} {route.path}:\n" + "\n".join(wrong)


def test_the_same_face_in_two_workspaces_makes_two_people(running_stack: Stack, world: World) -> None:
    s = running_stack.settings
    for workspace, own in ((world.a, world.a_uploads), (world.b, world.b_uploads)):
        key = next(c.key for c in world.callers if c.workspace == workspace and c.role == Role.VIEWER)
        api = httpx.Client(base_url=s.url(s.ui_port) + "/api/v1", headers={"Authorization": f"Bearer {key}"})
        people = [api.get(f"/people/{p['id']}").json() for p in api.get("/people").json()["people"]]
        faces = {face["upload_id"] for person in people for face in person["members"]}
        assert faces and faces <= set(own), f"{workspace}'s people hold only its own faces"


def test_live_events_reach_only_their_workspace(running_stack: Stack, world: World) -> None:
    s = running_stack.settings
    seen: dict[str, str] = {}
    streams: list[Any] = []
    clients = {}
    for workspace in (world.a, world.b):
        key = next(c.key for c in world.callers if c.workspace == workspace and c.role == Role.VIEWER)
        clients[workspace] = client = httpx.Client(base_url=s.url(s.ui_port), timeout=30,
                                                   headers={"Authorization": f"Bearer {key}"})
        stream = client.stream("GET", "/events")
        streams.append((workspace, stream, stream.__enter__()))
    changed = world.fresh_upload(world.a, State.FAILED)
    deadline = time.monotonic() + 8
    for workspace, _, reply in streams:
        text = ""
        for chunk in reply.iter_text():
            text += chunk
            if changed in text or time.monotonic() > deadline:
                break
        seen[workspace] = text
    for _, stream, _ in streams:
        stream.__exit__(None, None, None)
    assert changed in seen[world.a], "A's viewer sees A's change live"
    assert changed not in seen[world.b] and world.a not in seen[world.b], "B's viewer sees nothing of A"


def _s3(stack: Stack, access: dict[str, Any]) -> Any:
    return boto3.client("s3", endpoint_url=stack.settings.url(stack.settings.s3_port),
                        aws_access_key_id=access["access_key"], aws_secret_access_key=access["secret_key"],
                        region_name="us-east-1", config=Config(signature_version="s3v4"))


def test_s3_credentials_keep_workspaces_apart_and_an_event_lands_where_its_object_is(
    running_stack: Stack, world: World
) -> None:
    s = running_stack.settings
    owners = {w: next(c.key for c in world.callers if c.workspace == w and c.role == Role.OWNER)
              for w in (world.a, world.b)}
    api = {w: httpx.Client(base_url=s.url(s.ui_port) + "/api/v1", headers={"Authorization": f"Bearer {k}"},
                           timeout=60) for w, k in owners.items()}
    access = {w: api[w].post("/workspace/s3-credentials").json() for w in owners}
    a_s3, b_s3 = _s3(running_stack, access[world.a]), _s3(running_stack, access[world.b])
    key = f"{world.a}/straight-from-s3.jpg"
    # The uploader claims another workspace in its metadata: the key's place decides, not what it says.
    a_s3.put_object(Bucket="uploads", Key=key, Body=(DATA / "faces" / "obama3.jpg").read_bytes(),
                    ContentType="image/jpeg", Metadata={"workspace": world.b})
    found = wait_for_upload(api[world.a], key)
    assert found["workspace"] == world.a and found["uploaded_by"] == ""
    assert api[world.b].get("/uploads", params={"key": key}).json()["uploads"] == []
    for attempt in (lambda: b_s3.get_object(Bucket="uploads", Key=key),
                    lambda: b_s3.list_objects_v2(Bucket="uploads", Prefix=f"{world.a}/"),
                    lambda: b_s3.put_object(Bucket="uploads", Key=f"{world.a}/planted.jpg", Body=b"x")):
        with pytest.raises(ClientError) as refused:
            attempt()
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
