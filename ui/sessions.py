"""Browser sign-in: the API key kept in the signed session cookie, and a CSRF token beside it."""

from __future__ import annotations

import hmac
import secrets

from flask import request, session

from .auth import Principal, authenticate, key_from_headers
from .context import redis

KEY = "api_key"
CSRF = "csrf"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def sign_in(key: str) -> Principal | None:
    """Checks the key and keeps it in the session; None (and nothing kept) when it is not valid."""
    principal = authenticate(redis(), key.strip())
    if principal is None:
        return None
    session.clear()
    session[KEY] = key.strip()
    session[CSRF] = secrets.token_urlsafe(24)
    session.permanent = True
    return principal


def sign_out() -> None:
    session.clear()


def signed_in() -> Principal | None:
    """The session's principal; checked against Redis every time, so a revoked key signs out."""
    key = session.get(KEY)
    return authenticate(redis(), key) if isinstance(key, str) else None


def principal() -> tuple[Principal | None, bool]:
    """Who makes this request, by an API key header or else by the session; True when by header."""
    header_key = key_from_headers(request.headers.get("Authorization", ""), request.headers.get("X-API-Key"))
    if header_key:
        return authenticate(redis(), header_key), True
    return signed_in(), False


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
