"""OpenFaaS handler for clip: an image embedding, zero-shot content labels and safety labels, or a text
embedding."""

from __future__ import annotations

from typing import Any

from functions.common import contract, images

from . import engines
from .settings import settings


def load() -> None:
    engines.engine().load()


def analyze(request: contract.Request) -> dict[str, Any]:
    text = request.options.get("text")
    if text is not None:
        return embed_text(text)
    labels = request.options.get("labels") or settings().labels
    if not isinstance(labels, list) or not all(isinstance(label, str) and label for label in labels):
        raise contract.InputError("'options.labels' must be a list of non-empty strings")
    model = engines.engine()
    model.load()
    image = images.analysis_image(request)
    with request.timed("inference"):
        embedding = model.predict(image)
        ranked = model.zero_shot(embedding, labels)
        # Over the same embedding: a few label embeddings more, no second look at the picture.
        safety = model.zero_shot(embedding, settings().safety_labels)
    return {
        "engine": model.info(),
        "embedding": [round(float(value), 6) for value in embedding],
        "embedding_model": model.model_name,
        "labels": ranked[: settings().top_k],
        "safety": safety,
    }


def embed_text(text: Any) -> dict[str, Any]:
    """Text mode (`options.text`, no source): the text's embedding, for text-to-image search."""
    if not isinstance(text, str) or not text.strip():
        raise contract.InputError("'options.text' must be a non-empty string")
    model = engines.engine()
    model.load()
    vector = model.embed_text(text)
    return {
        "engine": model.info(),
        "text_embedding": [round(float(value), 6) for value in vector],
        "embedding_model": model.model_name,
    }


def handle(event: Any, context: Any) -> dict[str, Any]:
    return contract.run(event, analyze)
