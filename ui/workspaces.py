"""The API of workspaces: who is signed in, members and their roles, keys, and (for operators) the
workspaces and accounts of the installation."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict

from flask import Blueprint, Response, g, jsonify, request, stream_with_context

from accounts.apikeys import ApiKeys
from accounts.audit import Action
from accounts.erasure import erase_uploads, erase_workspace
from accounts.export import personal, workspace_archive
from accounts.roles import Role
from accounts.usage import Quota, Usage
from accounts.users import UserError, Users
from accounts.workspaces import Workspaces
from storage.client import public_endpoint
from storage.credentials import CredentialsError, workspace_credentials
from storage.layout import workspace_prefix

from . import audit
from .access import Need, current, needs
from .api import error
from .context import pipeline, redis, store
from .openapi import operation
from .schemas import (
    AuditList,
    AuditQuery,
    Erased,
    EraseRequest,
    Error,
    KeyList,
    KeyRecord,
    KeyRequest,
    Me,
    Members,
    NewKey,
    PasswordRequest,
    PersonalData,
    QuotaRequest,
    RoleRequest,
    S3Access,
    UsageQuery,
    UsageReport,
    UserInfo,
    UserList,
    UserRequest,
    WorkspaceInfo,
    WorkspaceList,
    WorkspaceRequest,
)
from .search import workspace_people

logger = logging.getLogger(__name__)
workspaces = Blueprint("workspaces", __name__, url_prefix="/api/v1")

DAY_S = 86400


@workspaces.get("/me")
@needs(Need.SIGNED_IN)
@operation("Who this key or session is, and where.", {200: Me})
def me() -> tuple[Response, int]:
    p = current()
    return jsonify(actor=p.actor, workspace=p.workspace, role=p.role.value if p.role else None,
                   operator=p.operator), 200


@workspaces.put("/me/password")
@needs(Need.SIGNED_IN)
@operation("Changes the signed-in person's password.", {200: Me, 400: Error, 403: Error}, body=PasswordRequest)
def change_password(body: PasswordRequest) -> tuple[Response, int]:
    p = current()
    if p.by_key or Users(redis()).verify(p.actor, body.current) is None:
        return error(403, "sign in and give your current password to change it")
    try:
        Users(redis()).set_password(p.actor, body.new)
    except UserError as exc:
        return error(400, str(exc))
    return me()


@workspaces.get("/workspace")
@needs(Need.VIEWER)
@operation("The workspace this key or session works in.", {200: WorkspaceInfo})
def workspace() -> tuple[Response, int]:
    return jsonify(Workspaces(redis()).get(g.workspace).to_dict()), 200


@workspaces.get("/workspace/members")
@needs(Need.OWNER)
@operation("The workspace's members and their roles.", {200: Members})
def members() -> tuple[Response, int]:
    return jsonify(members={user: role.value for user, role in Workspaces(redis()).members(g.workspace).items()}), 200


def _last_owner(user: str) -> bool:
    found = Workspaces(redis()).members(g.workspace)
    return found.get(user) == Role.OWNER and sum(role == Role.OWNER for role in found.values()) == 1


@workspaces.put("/workspace/members/<user>")
@needs(Need.OWNER)
@operation("Adds a person to the workspace, or changes their role.", {200: Members, 404: Error, 409: Error},
           body=RoleRequest)
def set_member(user: str, body: RoleRequest) -> tuple[Response, int]:
    if Users(redis()).get(user) is None:
        return error(404, f"no user {user}: an operator makes accounts")
    role = Role(body.role)
    if role != Role.OWNER and _last_owner(user):
        return error(409, "a workspace keeps at least one owner: make another owner first")
    before = Workspaces(redis()).role_of(g.workspace, user)
    Workspaces(redis()).set_role(g.workspace, user, role)
    audit.record(Action.MEMBER_ADDED if before is None else Action.ROLE_CHANGED, user, {"role": role.value})
    return members()


@workspaces.delete("/workspace/members/<user>")
@needs(Need.OWNER)
@operation("Removes a person from the workspace; their sessions lose it at once.",
           {200: Members, 404: Error, 409: Error})
def remove_member(user: str) -> tuple[Response, int]:
    if _last_owner(user):
        return error(409, "a workspace keeps at least one owner: make another owner first")
    if not Workspaces(redis()).remove_member(g.workspace, user):
        return error(404, f"{user} is no member of this workspace")
    audit.record(Action.MEMBER_REMOVED, user)
    return members()


@workspaces.get("/workspace/keys")
@needs(Need.OWNER)
@operation("The workspace's API keys (never their secrets).", {200: KeyList})
def list_keys() -> tuple[Response, int]:
    return jsonify(keys=[k.to_dict() for k in ApiKeys(redis()).list(g.workspace)]), 200


@workspaces.post("/workspace/keys")
@needs(Need.OWNER)
@operation("Makes an API key; its secret is in this answer only.", {201: NewKey}, body=KeyRequest)
def create_key(body: KeyRequest) -> tuple[Response, int]:
    expires = time.time() + body.expires_in_days * DAY_S if body.expires_in_days else None
    found, secret = ApiKeys(redis()).create(g.workspace, Role(body.role), body.name, current().actor, expires)
    audit.record(Action.KEY_CREATED, found.id, {"role": found.role, "name": found.name})
    return jsonify(**found.to_dict(), secret=secret), 201


@workspaces.delete("/workspace/keys/<key_id>")
@needs(Need.OWNER)
@operation("Revokes an API key: it stops working at once.", {200: KeyRecord, 404: Error})
def revoke_key(key_id: str) -> tuple[Response, int]:
    found = next((k for k in ApiKeys(redis()).list(g.workspace) if k.id == key_id), None)
    if found is None or not ApiKeys(redis()).revoke(g.workspace, key_id):
        return error(404, f"this workspace has no key {key_id}")
    audit.record(Action.KEY_REVOKED, key_id, {"name": found.name})
    return jsonify(found.to_dict()), 200


@workspaces.get("/workspaces")
@needs(Need.OPERATOR)
@operation("Every workspace of the installation (operators).", {200: WorkspaceList})
def list_workspaces() -> tuple[Response, int]:
    return jsonify(workspaces=[w.to_dict() for w in Workspaces(redis()).all()]), 200


@workspaces.post("/workspaces")
@needs(Need.OPERATOR)
@operation("Makes a workspace with an owner (operators).", {201: WorkspaceInfo, 404: Error, 400: Error},
           body=WorkspaceRequest)
def create_workspace(body: WorkspaceRequest) -> tuple[Response, int]:
    if Users(redis()).get(body.owner) is None:
        return error(404, f"no user {body.owner}: make the account first")
    try:
        made = Workspaces(redis()).create(body.name, owner=body.owner)
    except ValueError as exc:
        return error(400, str(exc))
    audit.record(Action.WORKSPACE_CREATED, made.id, {"owner": body.owner}, workspace="")
    return jsonify(made.to_dict()), 201


@workspaces.get("/users")
@needs(Need.OPERATOR)
@operation("Every account (operators).", {200: UserList})
def list_users() -> tuple[Response, int]:
    return jsonify(users=[asdict(u) for u in Users(redis()).all()]), 200


@workspaces.post("/users")
@needs(Need.OPERATOR)
@operation("Makes an account (operators); an owner then adds it to a workspace.", {201: UserInfo, 400: Error},
           body=UserRequest)
def create_user(body: UserRequest) -> tuple[Response, int]:
    try:
        made = Users(redis()).create(body.name, body.password, operator=body.operator)
    except UserError as exc:
        return error(400, str(exc))
    audit.record(Action.USER_CREATED, made.name, {"operator": int(made.operator)}, workspace="")
    return jsonify(asdict(made)), 201



@workspaces.get("/workspace/audit")
@needs(Need.OWNER)
@operation("The workspace's audit log, newest first: who did what, when and from where.", {200: AuditList},
           query=AuditQuery)
def audit_log(query: AuditQuery) -> tuple[Response, int]:
    found = audit.log().entries(g.workspace, actor=query.actor or None, action=query.action,
                                since=query.since, until=query.until, before=query.before or None, limit=query.limit)
    return jsonify(entries=[entry.to_dict() for entry in found]), 200


@workspaces.get("/workspace/usage")
@needs(Need.VIEWER)
@operation("What the workspace stores, processed and spent per day, and its quotas.", {200: UsageReport},
           query=UsageQuery)
def usage(query: UsageQuery) -> tuple[Response, int]:
    return jsonify(Usage(redis()).report(g.workspace, days=query.days)), 200


@workspaces.put("/workspaces/<workspace_id>/quota")
@needs(Need.OPERATOR)
@operation("Sets a workspace's quotas (operators); none lifts a limit.", {200: UsageReport, 404: Error},
           body=QuotaRequest)
def set_quota(workspace_id: str, body: QuotaRequest) -> tuple[Response, int]:
    if not Workspaces(redis()).exists(workspace_id):
        return error(404, f"no workspace {workspace_id}")
    Usage(redis()).set_quota(workspace_id, Quota(body.storage_bytes, body.files_per_day))
    limits = {k: v for k, v in body.model_dump().items() if v is not None}
    audit.record(Action.QUOTA_CHANGED, workspace_id, limits, workspace=workspace_id)
    return jsonify(Usage(redis()).report(workspace_id, days=1)), 200


@workspaces.post("/workspace/s3-credentials")
@needs(Need.OWNER)
@operation("New S3 credentials of this workspace (the earlier ones stop working); the store itself holds them "
           "to the workspace's part of each bucket.", {201: S3Access, 503: Error})
def issue_s3_credentials() -> tuple[Response, int]:
    s = store()
    try:
        made = workspace_credentials(s.settings).issue(g.workspace)
    except CredentialsError as exc:
        logger.error("could not issue S3 credentials for %s: %s", g.workspace, exc)
        return error(503, "the store could not make credentials now: try again, or ask an operator to look")
    audit.record(Action.S3_CREDENTIALS, made.access_key)
    prefix = workspace_prefix(g.workspace)
    buckets = {s.settings.uploads_bucket: prefix, s.settings.results_bucket: prefix,
               s.settings.artefacts_bucket: prefix}
    return jsonify(endpoint=public_endpoint(s.settings), access_key=made.access_key, secret_key=made.secret_key,
                   buckets=buckets), 201


@workspaces.delete("/workspace/s3-credentials")
@needs(Need.OWNER)
@operation("Revokes this workspace's S3 credentials.", {200: Me, 503: Error})
def revoke_s3_credentials() -> tuple[Response, int]:
    try:
        workspace_credentials(store().settings).revoke(g.workspace)
    except CredentialsError as exc:
        logger.error("could not revoke S3 credentials of %s: %s", g.workspace, exc)
        return error(503, "the store could not revoke the credentials now: try again")
    audit.record(Action.S3_CREDENTIALS, "revoked")
    return me()


@workspaces.get("/workspace/export")
@needs(Need.OWNER)
@operation("The whole workspace as one tar archive, streamed: workspace.json, uploads.json, people.json, "
           "originals/ and results/.", {200: "application/x-tar"})
def export_workspace() -> Response:
    audit.record(Action.EXPORT, g.workspace)
    chunks = workspace_archive(pipeline(), g.workspace, workspace_people(g.workspace))
    name = f"medialens-{g.workspace}-{time.strftime('%Y%m%d')}.tar"
    return Response(stream_with_context(chunks), mimetype="application/x-tar",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@workspaces.get("/me/export")
@needs(Need.SIGNED_IN)
@operation("What the platform keeps about the signed-in person (account, memberships, keys, actions).",
           {200: PersonalData, 400: Error})
def export_me() -> tuple[Response, int]:
    p = current()
    if p.by_key:
        return error(400, "sign in as the person whose data you want: a key is no person")
    for workspace in Workspaces(redis()).of_user(p.actor):
        audit.record(Action.EXPORT, p.actor, {"personal": 1}, workspace=workspace)
    return jsonify(personal(redis(), audit.log(), p.actor)), 200


def _erase(workspace: str) -> tuple[Response, int]:
    removed = erase_workspace(pipeline(), audit.log(), workspace, current().actor, request.remote_addr or "")
    return jsonify(erased=workspace, removed=removed), 200


@workspaces.delete("/workspace")
@needs(Need.OWNER)
@operation("Erases this workspace and everything in it, from every store; cannot be undone.",
           {200: Erased, 400: Error}, body=EraseRequest)
def erase_this_workspace(body: EraseRequest) -> tuple[Response, int]:
    if body.confirm != g.workspace:
        return error(400, f"send {{'confirm': '{g.workspace}'}} to erase this workspace")
    return _erase(g.workspace)


@workspaces.delete("/workspaces/<workspace_id>")
@needs(Need.OPERATOR)
@operation("Erases a workspace and everything in it (operators).", {200: Erased, 404: Error})
def erase_any_workspace(workspace_id: str) -> tuple[Response, int]:
    if not Workspaces(redis()).exists(workspace_id):
        return error(404, f"no workspace {workspace_id}")
    return _erase(workspace_id)


@workspaces.delete("/workspace/members/<user>/uploads")
@needs(Need.OWNER)
@operation("Deletes every upload one person made in this workspace, and all made from them.", {200: Erased})
def erase_uploads_of(user: str) -> tuple[Response, int]:
    removed = erase_uploads(pipeline(), g.workspace, uploaded_by=user)
    audit.record(Action.ERASURE, f"uploads of {user}", removed)
    return jsonify(erased=f"uploads of {user}", removed=removed), 200
