"""Browser sign-in: server-side sessions in Redis behind an opaque cookie id, and a CSRF token in each.

The cookie holds only a random id; what a session knows (who signed in, the workspace they work in,
its CSRF token, when it began) stays in Redis under the id's digest, so a copied cookie reveals
nothing, sign-out revokes the session for every copy, and a session ends after ``session_idle_s``
unused or ``session_max_s`` after sign-in, whichever comes first. Who the person is and what they may
do is read again on every request, so removing them from a workspace takes effect at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any

from flask import Flask, Request, request, session
from flask.sessions import SessionInterface, SessionMixin
from redis import Redis
from werkzeug.datastructures import CallbackDict
from werkzeug.wrappers import Response

from accounts.roles import Role
from accounts.users import Users
from accounts.workspaces import Workspaces
from scheduler import keys

from .context import redis
from .settings import UiSettings

USER = "user"
WORKSPACE = "workspace"
CSRF = "csrf"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """A session's data; ``sid`` is the id the cookie carries, empty until the session is first saved."""

    def __init__(self, initial: dict[str, Any] | None = None, sid: str = "", started: float | None = None) -> None:
        def changed(_: CallbackDict[str, Any]) -> None:
            self.modified = True

        super().__init__(initial, changed)
        self.sid = sid
        self.started = time.time() if started is None else started
        self.replaced_sid = ""
        self.modified = False

    def renew(self) -> None:
        """A new id for the same browser (at sign-in), so an id known before it is worth nothing after."""
        if self.sid:
            self.replaced_sid = self.sid
        self.sid = ""
        self.started = time.time()
        self.modified = True


def _record_key(sid: str) -> str:
    # Only the id's digest names the record: reading Redis gives no cookie to replay.
    return keys.session(hashlib.sha256(sid.encode()).hexdigest())


class RedisSessions(SessionInterface):
    """Flask's session interface over Redis."""

    def __init__(self, redis: Redis, config: UiSettings) -> None:
        self.redis = redis
        self.config = config

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        sid = request.cookies.get(self.get_cookie_name(app), "")
        raw = self.redis.get(_record_key(sid)) if sid else None
        if raw is None:
            return ServerSession()
        record = json.loads(raw)
        if time.time() - float(record["started"]) > self.config.session_max_s:
            self.redis.delete(_record_key(sid))
            return ServerSession()
        return ServerSession(record["data"], sid=sid, started=float(record["started"]))

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, ServerSession)
        name, path = self.get_cookie_name(app), self.get_cookie_path(app)
        domain = self.get_cookie_domain(app)
        if session.replaced_sid:
            self.redis.delete(_record_key(session.replaced_sid))
        if not session:
            if session.sid:
                self.redis.delete(_record_key(session.sid))
            if session.modified or session.sid:
                response.delete_cookie(name, domain=domain, path=path)
            return
        left = self.config.session_max_s - (time.time() - session.started)
        lifetime = math.ceil(min(self.config.session_idle_s, left))
        if lifetime <= 0:
            return
        if not session.sid:
            session.sid = secrets.token_urlsafe(32)
        record = {"started": session.started, "data": dict(session)}
        # Each request renews the idle lifetime, never past the absolute one.
        self.redis.set(_record_key(session.sid), json.dumps(record), ex=lifetime)
        response.vary.add("Cookie")
        response.set_cookie(
            name, session.sid, max_age=lifetime, path=path, domain=domain, httponly=True, samesite="Lax",
            secure=self.config.secure_cookies or request.is_secure,
        )


@dataclass(frozen=True)
class SignedIn:
    """A person signed in, the workspace they work in ("" for none) and their role there."""

    user: str
    workspace: str
    role: Role | None
    operator: bool
    workspaces: dict[str, Role]


def sign_in(user: str, password: str) -> SignedIn | None:
    """Checks the password and starts a new session in the person's first workspace; None (and
    nothing kept) when the name or password is wrong."""
    found = Users(redis()).verify(user.strip(), password)
    if found is None:
        return None
    assert isinstance(session, ServerSession)
    session.clear()
    session.renew()
    session[USER] = found.name
    session[WORKSPACE] = next(iter(sorted(Workspaces(redis()).of_user(found.name))), "")
    session[CSRF] = secrets.token_urlsafe(24)
    return signed_in()


def sign_out() -> None:
    """Ends the session: its record leaves Redis, so the cookie is worthless wherever it was copied."""
    session.clear()


def signed_in() -> SignedIn | None:
    """The session's person, read again from Redis every time: one removed is signed out at once."""
    name = session.get(USER)
    if not isinstance(name, str):
        return None
    found = Users(redis()).get(name)
    if found is None:
        return None
    memberships = Workspaces(redis()).of_user(name)
    workspace = str(session.get(WORKSPACE) or "")
    role = memberships.get(workspace)
    return SignedIn(name, workspace if role else "", role, found.operator, memberships)


def switch_workspace(workspace: str) -> bool:
    """Works in another of the person's workspaces from now on; False when they are no member."""
    current = signed_in()
    if current is None or workspace not in current.workspaces:
        return False
    session[WORKSPACE] = workspace
    return True


def key_from_headers(authorization: str, api_key_header: str | None) -> str | None:
    if api_key_header:
        return api_key_header
    if authorization.startswith("Bearer "):
        return authorization[len("Bearer ") :]
    return None


def csrf_token() -> str:
    token = session.get(CSRF)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        session[CSRF] = token
    return token


def csrf_ok() -> bool:
    """A state-changing request made with the cookie must carry the session's token (header or form)."""
    if request.method not in UNSAFE_METHODS:
        return True
    sent = request.headers.get(CSRF_HEADER) or request.form.get("csrf_token") or ""
    expected = session.get(CSRF)
    return isinstance(expected, str) and hmac.compare_digest(sent, expected)
