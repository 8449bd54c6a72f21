"""The embed function's engine: all-MiniLM-L6-v2 (384-d) from a local sentence-transformers directory.

The directory's three modules (the transformer, mean pooling, L2 normalisation) run on transformers directly.
Importing sentence-transformers also imports scikit-learn's metrics (63 MiB resident in the functions host) for
helpers this function never calls (issue 17); the vectors are sentence-transformers' own (tests/functions)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from functions.common.contract import ModelNotInstalled
from functions.common.device import device
from functions.common.models import Model
from functions.common.pretrained import transformers_version

from .settings import settings

DIMENSIONS = 384
# The modules of a directory this engine runs: any other (a dense layer, CLS pooling) would give other vectors.
MODULES = ["sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
           "sentence_transformers.models.Normalize"]


class SentenceEmbedder(Model[np.ndarray]):
    """L2-normalised mean-pooled sentence embeddings, one row per text; never reaches for the hub."""

    engine = "transformers-sentence"

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = Path(directory)
        self.model_name = "all-MiniLM-L6-v2"

    @property
    def version(self) -> str:
        return transformers_version()

    def _load(self) -> None:
        if not (self.directory / "modules.json").is_file():
            raise ModelNotInstalled(f"the text embedding model is not installed: no model files in {self.directory}")
        modules = [module["type"] for module in json.loads((self.directory / "modules.json").read_text())]
        pooling = json.loads((self.directory / "1_Pooling" / "config.json").read_text())
        if modules != MODULES or not pooling.get("pooling_mode_mean_tokens"):
            raise ModelNotInstalled(f"{self.directory} is no mean-pooled, normalised sentence-transformers model "
                                    f"(its modules: {', '.join(modules)})")
        from transformers import AutoModel, AutoTokenizer

        self._max_tokens = int(json.loads((self.directory / "sentence_bert_config.json").read_text())
                               ["max_seq_length"])
        self._tokenizer: Any = AutoTokenizer.from_pretrained(self.directory, local_files_only=True)
        self._model: Any = AutoModel.from_pretrained(self.directory, local_files_only=True).eval().to(device())

    def predict(self, texts: Sequence[str]) -> np.ndarray:  # type: ignore[override]
        import torch

        rows = []
        for first in range(0, len(texts), settings().batch_size):
            inputs = self._tokenizer(list(texts[first : first + settings().batch_size]), padding=True,
                                     truncation=True, max_length=self._max_tokens, return_tensors="pt").to(device())
            with torch.inference_mode():
                tokens = self._model(**inputs).last_hidden_state
                mask = inputs["attention_mask"].unsqueeze(-1).to(tokens.dtype)
                mean = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                rows.append(torch.nn.functional.normalize(mean, p=2, dim=1).float().cpu().numpy())
        return np.concatenate(rows).reshape(len(texts), DIMENSIONS)


def engine() -> SentenceEmbedder:
    """The model of the configured directory; one instance per directory and process."""
    return _engine(settings().directory())


@cache
def _engine(directory: Path) -> SentenceEmbedder:
    return SentenceEmbedder(directory)
