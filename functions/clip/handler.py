"""OpenFaaS handler for clip: an image embedding and zero-shot content labels."""

from __future__ import annotations

from typing import Any

from functions.common import contract, images

from . import engines
from .settings import settings


def load() -> None:
    engines.engine().load()


def analyze(request: contract.Request) -> dict[str, Any]:
    labels = request.options.get("labels") or settings().labels
    if not isinstance(labels, list) or not all(isinstance(label, str) and label for label in labels):
        raise contract.InputError("'options.labels' must be a list of non-empty strings")
    model = engines.engine()
    model.load()
    image = images.analysis_image(request)
    with request.timed("inference"):
        embedding = model.predict(image)
        ranked = model.zero_shot(embedding, labels)
    return {
        "engine": model.info(),
        "embedding": [round(float(value), 6) for value in embedding],
        "embedding_model": model.model_name,
        "labels": ranked[: settings().top_k],
    }


def handle(event: Any, context: Any) -> dict[str, Any]:
    return contract.run(event, analyze)
