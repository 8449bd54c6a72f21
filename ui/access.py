"""Who makes a request and what they may do.

Every view declares what it needs with `needs`; one check before each request finds the caller (an
API key header, or the browser's session) and refuses what they may not do. A view that declares
nothing is refused to everyone, so a new route cannot be left open by forgetting.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, jsonify, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from accounts.apikeys import ApiKeys
from accounts.roles import Role

from . import sessions
from .context import redis, ui_settings

logger = logging.getLogger(__name__)

View = TypeVar("View", bound=Callable[..., Any])
NEED_ATTRIBUTE = "medialens_need"


class Need(StrEnum):
    PUBLIC = "public"  # anyone, signed in or not
    SIGNED_IN = "signed-in"  # anyone who is signed in or sends a key, whatever their role
    VIEWER = Role.VIEWER.value
    EDITOR = Role.EDITOR.value
    OWNER = Role.OWNER.value
    OPERATOR = "operator"  # runs the installation: workspaces, people's accounts, the system page
    METRICS = "metrics"  # an operator, or whoever holds the metrics token (Prometheus)


@dataclass(frozen=True)
class Principal:
    """The caller: a person signed in, or a program with a key; in one workspace (or none)."""

    actor: str  # the user's name, or "key:<id>"
    workspace: str
    role: Role | None
    operator: bool
    by_key: bool
    person: str = ""  # who answers for what it does: the user, or whoever made the key

    def may(self, need: Need) -> bool:
        if need in (Need.PUBLIC, Need.SIGNED_IN):
            return True
        if need in (Need.OPERATOR, Need.METRICS):
            return self.operator
        return self.role is not None and self.role.allows(Role(need.value))


def needs(need: Need) -> Callable[[View], View]:
    """Declares what a view needs; `check` enforces it."""

    def declare(view: View) -> View:
        setattr(view, NEED_ATTRIBUTE, need)
        return view

    return declare


def need_of(endpoint: str | None) -> Need | None:
    if endpoint == "static":
        return Need.PUBLIC
    view = current_app.view_functions.get(endpoint or "")
    return getattr(view, NEED_ATTRIBUTE, None)


def by_key(secret: str) -> Principal | None:
    found = ApiKeys(redis()).authenticate(secret)
    if found is None:
        return None
    return Principal(f"key:{found.id}", found.workspace, Role(found.role) if found.role else None, found.operator,
                     by_key=True, person=found.created_by)


def caller() -> Principal | None:
    """Who makes this request: by an API key header, or else by the session."""
    secret = sessions.key_from_headers(request.headers.get("Authorization", ""), request.headers.get("X-API-Key"))
    if secret:
        return by_key(secret)
    signed = sessions.signed_in()
    if signed is None:
        return None
    return Principal(signed.user, signed.workspace, signed.role, signed.operator, by_key=False, person=signed.user)


def holds_metrics_token() -> bool:
    """The request bears the metrics token: it may read /metrics, and is no caller anywhere else."""
    token = ui_settings().metrics_token
    sent = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())


def current() -> Principal:
    """The caller of a request that `check` let through (never a public one)."""
    found: Principal = g.principal
    return found


def _api() -> bool:
    """Programs' routes, which answer 401 rather than send a stranger to the sign-in page."""
    return request.path.startswith("/api/") or request.path in ("/events", "/metrics")


def refuse(status: int, message: str) -> Response:
    reply = jsonify(error=message) if _api() else Response(message + "\n", mimetype="text/plain")
    reply.status_code = status
    return reply


def check() -> BaseResponse | None:
    """Runs before every request: finds the caller and refuses what they may not do."""
    if request.endpoint is None:
        return None  # no such route: a plain 404
    need = need_of(request.endpoint)
    if need is None:
        logger.error("refused %s: the view declares no access", request.endpoint)
        return refuse(403, "this route declares no access and is closed")
    if need == Need.PUBLIC or (need == Need.METRICS and holds_metrics_token()):
        return None
    principal = caller()
    if principal is None:
        if _api():
            return refuse(401, "an API key is required: send 'Authorization: Bearer <key>', or sign in")
        return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))
    # A cookie is sent by the browser on its own, so requests that change state also need the token.
    if not principal.by_key and not sessions.csrf_ok():
        return refuse(403, f"send the page's {sessions.CSRF_HEADER} header with requests that change state")
    if not principal.may(need):
        what = "an operator" if need == Need.OPERATOR else f"the {need.value} role in this workspace"
        return refuse(403, f"this needs {what}")
    g.principal = principal
    g.workspace = principal.workspace
    return None


def install(app: Flask) -> None:
    app.before_request(check)
