"""CLIP image embeddings and zero-shot labels from a local transformers model directory.

Used by the clip function. Nothing ships in a package: `make models` fills the
directory (CLIP ViT-B/32 by default); a missing directory is ModelNotInstalled, never a download.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .models import Model, require_dir
from .pretrained import FloatPrecision, FloatType, float_precision, torch_dtype, transformers_version

PROMPT = "a photo of {}"


def clip_model(directory: Path, prompt: str = PROMPT, precision: FloatPrecision = "auto") -> ClipModel:
    """One CLIP per directory, prompt and precision in a process: every caller in one host shares one model in
    memory."""
    return _shared(Path(directory), prompt, float_precision(precision, "cpu"))


@cache
def _shared(directory: Path, prompt: str, precision: FloatType) -> ClipModel:
    return ClipModel(directory, prompt, precision)


class ClipModel(Model[np.ndarray]):
    """A transformers CLIPModel + CLIPProcessor loaded with ``local_files_only=True``, on the CPU wherever it
    runs (on a GPU node too: it is not moved to the GPU)."""

    engine = "transformers-clip"

    def __init__(self, directory: Path, prompt: str = PROMPT, precision: FloatPrecision = "auto") -> None:
        super().__init__()
        self.directory = Path(directory)
        self.prompt = prompt
        self.precision = float_precision(precision, "cpu")
        self.model_name = self.directory.name
        self._label_cache: dict[tuple[str, ...], np.ndarray] = {}
        self._label_lock = threading.Lock()

    @property
    def version(self) -> str:
        return transformers_version()

    def info(self) -> dict[str, str]:
        # Another precision makes slightly other vectors: the result says which one made these.
        return {**super().info(), "precision": self.precision}

    def _load(self) -> None:
        require_dir(self.directory, "the CLIP model")
        from transformers import CLIPModel as TransformersClip
        from transformers import CLIPProcessor

        model = TransformersClip.from_pretrained(self.directory, local_files_only=True).eval()
        # Read in the checkpoint's float type: bfloat16 would make the trained 100 a 98.9.
        self._scale = float(model.logit_scale.exp().item())
        self._model = model.to(torch_dtype(self.precision))
        self._processor = CLIPProcessor.from_pretrained(self.directory, local_files_only=True)
        self.model_name = str(getattr(self._model.config, "_name_or_path", "") or self.directory.name)
        self.model_name = Path(self.model_name).name
        self.dimensions = int(self._model.config.projection_dim)

    def predict(self, image: Image.Image) -> np.ndarray:
        """The L2-normalised image embedding."""
        import torch

        pixels = self._processor(images=image, return_tensors="pt")["pixel_values"].to(self._model.dtype)
        with torch.inference_mode():
            features = _tensor(self._model.get_image_features(pixel_values=pixels))
        return _normalised(features.numpy())[0]

    def embed_labels(self, labels: Sequence[str]) -> np.ndarray:
        """L2-normalised text embeddings of the prompts for ``labels`` (cached per label set)."""
        import torch

        key = tuple(labels)
        with self._label_lock:
            if key not in self._label_cache:
                prompts = [self.prompt.format(label) for label in labels]
                inputs = self._processor(text=prompts, return_tensors="pt", padding=True)
                with torch.inference_mode():
                    features = _tensor(self._model.get_text_features(**inputs))
                self._label_cache[key] = _normalised(features.numpy())
            return self._label_cache[key]

    def embed_text(self, text: str) -> np.ndarray:
        """L2-normalised embedding of free text, comparable with image embeddings (search)."""
        import torch

        inputs = self._processor(text=[text], return_tensors="pt", padding=True, truncation=True)
        with torch.inference_mode():
            features = _tensor(self._model.get_text_features(**inputs))
        return _normalised(features.numpy())[0]

    def zero_shot(self, embedding: np.ndarray, labels: Sequence[str]) -> list[dict[str, Any]]:
        """Probabilities over ``labels`` for an image embedding, most likely first."""
        if not labels:
            return []
        logits = self._scale * (self.embed_labels(labels) @ embedding)
        probabilities = np.exp(logits - logits.max())
        probabilities /= probabilities.sum()
        ranked = sorted(zip(labels, probabilities, strict=True), key=lambda item: -item[1])
        return [{"label": label, "score": round(float(score), 4)} for label, score in ranked]


def _tensor(output: Any) -> Any:
    """The projected embedding, in float32 (numpy has no bfloat16)."""
    # transformers 5 returns a model output whose pooler_output is the projected embedding.
    return (output if hasattr(output, "numpy") else output.pooler_output).float()


def _normalised(vectors: np.ndarray) -> np.ndarray:
    vectors = vectors.astype(np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
