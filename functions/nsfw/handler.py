"""OpenFaaS handler for nsfw: a whole-image score, labelled regions and a verdict."""

from __future__ import annotations

from typing import Any

from functions.common import contract, images, models

from . import engines
from .settings import settings


def load() -> None:
    engines.regions().load()
    engines.whole_image().load()
    engines.clip_if_installed()


def analyze(request: contract.Request) -> dict[str, Any]:
    image = images.analysis_image(request)
    pixels = images.to_array(image)
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
    clip = engines.clip_if_installed()
    if clip is not None:
        with request.timed("clip"):
            result["clip_labels"] = clip.zero_shot(clip.predict(image), settings().clip_labels)
        result["engines"]["clip"] = clip.info()
    return result


def handle(event: Any, context: Any) -> dict[str, Any]:
    return contract.run(event, analyze)
