"""OpenFaaS handler for caption: one or two sentences that describe a picture, and tags when the engine gives them."""

from __future__ import annotations

from typing import Any

from functions.common import contract, images

from . import engines


def load() -> None:
    engines.engine().load()


def analyze(request: contract.Request) -> dict[str, Any]:
    model = engines.engine()
    model.load()
    image = images.analysis_image(request)
    with request.timed("inference"):
        caption = model.predict(image)
    return {"engine": model.info(), "caption": caption.text, "tags": caption.tags}


def handle(event: Any, context: Any) -> dict[str, Any]:
    return contract.run(event, analyze)
