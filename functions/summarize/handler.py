"""OpenFaaS handler for summarize: a title, a short summary and chapters of a recording, from its texts."""

from __future__ import annotations

from typing import Any

from functions.common import contract

from . import engines
from .settings import settings
from .summaries import Material, summarize


def load() -> None:
    engines.engine().load()


def analyze(request: contract.Request) -> dict[str, Any]:
    material = Material.from_options(request.options)
    writer = engines.engine()
    writer.load()
    with request.timed("inference"):
        written = summarize(material, writer, settings())
    return {"engine": writer.info(), **written}


def handle(event: Any, context: Any) -> dict[str, Any]:
    return contract.run(event, analyze)
