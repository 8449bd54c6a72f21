"""What the web app and API write to the audit log: who did what, from where, in which workspace."""

from __future__ import annotations

from collections.abc import Mapping

from flask import g, request

from accounts.audit import Action, Audit
from accounts.settings import AccountsSettings
from accounts.workspaces import Workspaces

from .context import redis


def log() -> Audit:
    return Audit(redis(), AccountsSettings().audit_retention_s)


def record(action: Action, target: str = "", detail: Mapping[str, str | int | float] | None = None,
           workspace: str | None = None) -> None:
    """An entry in the workspace of this request (or the one named) by the caller."""
    log().record(g.workspace if workspace is None else workspace, g.principal.actor, action, target,
                 request.remote_addr or "", **(detail or {}))


def signed_in(user: str, ok: bool, workspace: str = "") -> None:
    """A sign-in, or a failed one, in every workspace of the person named (the system log for a name
    nobody has), so each workspace's owners see attempts on their members."""
    action = Action.SIGN_IN if ok else Action.SIGN_IN_FAILED
    named = [workspace] if workspace else list(Workspaces(redis()).of_user(user)) or [""]
    entries = log()
    for each in named:
        entries.record(each, user[:64], action, "", request.remote_addr or "")
