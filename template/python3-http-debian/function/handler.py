"""A new function: replace with your analyzer (see functions/probe/handler.py for the shape)."""

from typing import Any


def handle(event: Any, context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": {"hello": "medialens"}}
