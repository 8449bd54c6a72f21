"""The embed function's engine: all-MiniLM-L6-v2 (384-d) through sentence-transformers, from a local directory."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from functions.common.contract import ModelNotInstalled
from functions.common.device import device
from functions.common.models import Model

from .settings import settings

DIMENSIONS = 384


class SentenceEmbedder(Model[np.ndarray]):
    """L2-normalised sentence embeddings, one row per text; never reaches for the hub."""

    engine = "sentence-transformers"

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = Path(directory)
        self.model_name = "all-MiniLM-L6-v2"

    @property
    def version(self) -> str:
        import sentence_transformers

        return str(sentence_transformers.__version__)

    def _load(self) -> None:
        if not (self.directory / "modules.json").is_file():
            raise ModelNotInstalled(f"the text embedding model is not installed: no model files in {self.directory}")
        from sentence_transformers import SentenceTransformer

        self._model: Any = SentenceTransformer(str(self.directory), device=device(), local_files_only=True)

    def predict(self, texts: Sequence[str]) -> np.ndarray:  # type: ignore[override]
        vectors = self._model.encode(list(texts), batch_size=settings().batch_size, normalize_embeddings=True,
                                     show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), DIMENSIONS)


def engine() -> SentenceEmbedder:
    """The model of the configured directory; one instance per directory and process."""
    return _engine(settings().directory())


@cache
def _engine(directory: Path) -> SentenceEmbedder:
    return SentenceEmbedder(directory)
