"""OpenFaaS handler for nsfw: a whole-image score, labelled regions and a verdict."""

from __future__ import annotations

from typing import Any

from functions.common import contract, images, models

from . import engines


def load() -> None:
    engines.regions().load()
    engines.whole_image().load()


def analyze(request: contract.Request) -> dict[str, Any]:
    pixels = images.to_array(images.analysis_image(request))
    detector, scorer = engines.regions().load(), engines.whole_image().load()
    with request.timed("inference"):
        regions = detector.predict(pixels)
        score = scorer.predict(pixels)
    result: dict[str, Any] = {
        "engine": models.combined_info(detector, scorer),
        "engines": {"regions": detector.info(), "score": scorer.info()},
        "score": round(score, 4),
        "regions": regions,
        "verdict": engines.verdict(score, regions),
    }
    return result


def handle(event: Any, context: Any) -> dict[str, Any]:
    return contract.run(event, analyze)
