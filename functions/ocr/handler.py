"""OpenFaaS handler for ocr: the text lines in an image, with boxes and confidence."""

from __future__ import annotations

from typing import Any

from functions.common import contract, images

from . import engines


def load() -> None:
    engines.engine().load()


def analyze(request: contract.Request) -> dict[str, Any]:
    image = images.analysis_image(request)
    model = engines.engine().load()
    with request.timed("inference"):
        lines = engines.reading_order(model.predict(images.to_array(image)))
    return {"engine": model.info(), "lines": lines, "text": "\n".join(line["text"] for line in lines)}


def handle(event: Any, context: Any) -> dict[str, Any]:
    return contract.run(event, analyze)
