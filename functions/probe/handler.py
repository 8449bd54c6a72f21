"""probe: what an upload is, told by its content, not its name; for a picture, also the analysis image."""

from __future__ import annotations

from typing import Any

from functions.common import contract

from . import analysis_image
from .content import examine


def handle(event: Any, context: Any) -> dict[str, Any]:
    return contract.run(event, analyze)


def analyze(request: contract.Request) -> dict[str, Any]:
    data = request.fetch_source()
    with request.timed("describe"):
        found = examine(data)
    # Probe has just decoded the whole picture: the analyzers read what it makes of it, not the original.
    if found.picture is not None and analysis_image.OUTPUT in request.outputs:
        return {**found.description,
                "analysis_image": analysis_image.write(request, found.description, found.picture)}
    return found.description
