"""Throttling per client (flask-limiter over the app's Redis): failed sign-ins, wrong keys, searches.

Only failures count towards the sign-in and key limits (a person who signs in right is never slowed
down); once a client is over one, every such request is refused for the rest of the window.
"""

from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, Flask, Response, jsonify, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from redis import Redis

from .settings import UiSettings

UNAUTHORISED = 401
# Blueprints whose every route takes an API key (or a signed-in session).
KEYED_BLUEPRINTS = {"api", "search", "gpu", "events", "workspaces"}


def refused_credentials(response: Response) -> bool:
    return response.status_code == UNAUTHORISED


def limiter(app: Flask, config: UiSettings, redis: Redis) -> Limiter:
    """The app's limiter, its counters in Redis so every web-app process shares them."""
    # Through the app's own connections, which follow a Sentinel failover (scheduler/redis_connection.py).
    made = Limiter(get_remote_address, app=app, storage_uri="redis://",
                   storage_options={"connection_pool": redis.connection_pool},  # type: ignore[dict-item]
                   strategy="moving-window", key_prefix="ml:limits", headers_enabled=True)
    # The views are wrapped here, per app, rather than decorated where they are defined: the limits
    # come from this app's settings.
    views: dict[str, Any] = app.view_functions
    sign_in = made.limit(config.sign_in_limit, methods=["POST"], deduct_when=refused_credentials)
    views["pages.login"] = sign_in(views["pages.login"])
    for endpoint in ("search.search_words", "search.search_image"):
        views[endpoint] = made.limit(config.search_limit)(views[endpoint])
    # A wrong key is refused before any view runs: these limits are checked as the request comes in.
    wrong_key = made.shared_limit(config.key_failure_limit, scope="wrong-key", deduct_when=refused_credentials)
    for name in KEYED_BLUEPRINTS:
        wrong_key(cast(Blueprint, app.blueprints[name]))

    @app.errorhandler(RateLimitExceeded)
    def too_many(error: RateLimitExceeded) -> tuple[Response, int]:
        message = f"too many requests from this address ({error.description}): wait a minute and try again"
        if request.path.startswith("/api/"):
            return jsonify(error=message), 429
        return Response(message, status=429, mimetype="text/plain"), 429

    return made
