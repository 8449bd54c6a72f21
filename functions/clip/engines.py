"""The clip function's engine: a transformers CLIP model from the model directory."""

from __future__ import annotations

from functions.common.clip import ClipModel, clip_model

from .settings import settings


def engine() -> ClipModel:
    """The CLIP model of the configured directory; one instance per directory and process."""
    return clip_model(settings().directory(), settings().prompt, settings().precision)
