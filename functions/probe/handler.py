"""probe: what an upload is, told by its content, not its name."""

from __future__ import annotations

from typing import Any

from functions.common import contract

from .content import describe


def handle(event: Any, context: Any) -> dict[str, Any]:
    return contract.run(event, analyze)


def analyze(request: contract.Request) -> dict[str, Any]:
    data = request.fetch_source()
    with request.timed("describe"):
        return describe(data)
