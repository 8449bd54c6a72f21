"""OpenFaaS handler for embed: the 384-d sentence embeddings of texts, for search by meaning."""

from __future__ import annotations

from typing import Any

from functions.common import contract

from . import engines
from .settings import settings


def load() -> None:
    engines.engine().load()


def texts_of(request: contract.Request) -> list[str]:
    """``options.texts``: a non-empty list of strings, within the function's count and length bounds."""
    texts = request.options.get("texts")
    if not isinstance(texts, list) or not texts or not all(isinstance(text, str) for text in texts):
        raise contract.InputError("'options.texts' must be a non-empty list of strings")
    limits = settings()
    if len(texts) > limits.max_texts:
        raise contract.InputError(f"{len(texts)} texts sent: send at most {limits.max_texts} per request")
    longest = max(range(len(texts)), key=lambda number: len(texts[number]))
    if len(texts[longest]) > limits.max_chars:
        raise contract.InputError(
            f"text {longest} is {len(texts[longest])} characters long: send at most {limits.max_chars}"
        )
    return texts


def analyze(request: contract.Request) -> dict[str, Any]:
    texts = texts_of(request)
    model = engines.engine()
    model.load()
    with request.timed("inference"):
        vectors = model.predict(texts)
    return {
        "engine": model.info(),
        "embedding_model": model.model_name,
        "embeddings": [[round(float(value), 6) for value in row] for row in vectors],
    }


def handle(event: Any, context: Any) -> dict[str, Any]:
    return contract.run(event, analyze)
