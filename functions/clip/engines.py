"""The clip function's engine: a transformers CLIP model from the model directory."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from functions.common.clip import ClipModel

from .settings import settings


def engine() -> ClipModel:
    """The CLIP model of the configured directory; one instance per directory and process."""
    return _engine(settings().directory(), settings().prompt)


@cache
def _engine(directory: Path, prompt: str) -> ClipModel:
    return ClipModel(directory, prompt)
