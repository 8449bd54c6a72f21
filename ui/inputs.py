"""Request input the API reads: JSON objects from the body, and the answer to input it cannot use.

Anything else a caller sends is their mistake, so it is answered with a 400 that says what to send,
never with a 500 from deeper down (`ui.openapi` validates each member against the operation's models).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException


class BadInput(ValueError):
    """What was wrong with the request, told to the caller as a 400."""


def json_object() -> dict[str, Any]:
    """The request's JSON body when it is an object; an empty one when there is no JSON body."""
    body = request.get_json(silent=True)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise BadInput("send a JSON object ({\"name\": value, ...}) as the request body")
    return body


def install(app: Flask) -> None:
    @app.errorhandler(BadInput)
    def bad_input(exc: BadInput) -> tuple[Response, int]:
        return jsonify(error=str(exc)), 400

    # An API client reads JSON, so a path or method the API does not have is told to it in JSON too.
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response | HTTPException:
        if not request.path.startswith("/api/"):
            return exc
        reply = jsonify(error=exc.description)
        reply.status_code = exc.code or 500
        return reply
