"""OpenFaaS handler for pose: body landmarks of the people in an image."""

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
        people = model.predict(images.to_array(image))
    return {"engine": model.info(), "people": people, "max_people": 1}


def handle(event: Any, context: Any) -> dict[str, Any]:
    return contract.run(event, analyze)
