"""Request input the API reads: whole numbers from the query string and JSON objects from the body.

Anything else a caller sends is their mistake, so it is answered with a 400 that says what to send,
never with a 500 from deeper down.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, jsonify, request


class BadInput(ValueError):
    """What was wrong with the request, told to the caller as a 400."""


def whole_number(name: str, default: int, low: int, high: int) -> int:
    """The query parameter ``name`` as a whole number, held to ``low``..``high``; absent: ``default``."""
    raw = request.args.get(name, "")
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadInput(f"{name} must be a whole number (from {low} to {high})") from None
    return max(low, min(value, high))


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
