"""The caption function's engines: BLIP through transformers from the model directory, or a chat endpoint.

BLIP base (Salesforce/blip-image-captioning-base, 224 M parameters as built here) is the local
default: the captioner LibrePhotos ships, native to transformers (no remote code, no chat template),
one plain sentence per picture. Its quality against Florence-2 base or SmolVLM was not measured
(their weights cannot be fetched here); its cost was, with random weights of its size, in each precision
(`make bench`, BENCHMARKS.md).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from PIL import Image

from functions.common import chat, turns
from functions.common.batching import Batches
from functions.common.device import device
from functions.common.images import fit_long_side
from functions.common.models import Model, require_dir
from functions.common.pretrained import (
    FloatType,
    float_precision,
    int8_linear,
    load_pretrained,
    transformers_version,
)
from functions.common.settings import settings as function_settings

from .settings import CaptionSettings, Precision, settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Caption:
    text: str
    tags: list[str] = field(default_factory=list)


class BlipCaptioner(Model[Caption]):
    """transformers BlipForConditionalGeneration + BlipProcessor, greedy decoding (the same picture gets
    the same caption), loaded with ``local_files_only=True``."""

    engine = "transformers-blip"

    def __init__(
        self, directory: Path, max_new_tokens: int, precision: Precision = "auto", batch: int = 1, parallel: int = 1
    ) -> None:
        super().__init__()
        self.directory = Path(directory)
        self.max_new_tokens = max_new_tokens
        if precision == "int8" and device() != "cpu":
            logger.info("caption: int8 runs on the CPU only; %s keeps float32", device())
            precision = "float32"
        self.precision: FloatType | Literal["int8"] = (
            precision if precision == "int8" else float_precision(precision, device())
        )
        self.model_name = self.directory.name
        if self.precision == "int8":
            # Dynamic int8 quantizes each layer's input with one scale over the whole batch: a picture's words
            # would depend on the pictures captioned beside it.
            batch = 1
        # Pictures of calls that overlap are captioned together (functions/common/batching.py).
        self.batches = Batches(self.predict_batch, batch, parallel)

    @property
    def version(self) -> str:
        return transformers_version()

    def info(self) -> dict[str, str]:
        # Another precision writes other words: the result says which one wrote these.
        return {**super().info(), "precision": self.precision}

    def _load(self) -> None:
        require_dir(self.directory, "the caption model")
        from transformers import BlipForConditionalGeneration, BlipProcessor

        processor = BlipProcessor.from_pretrained(self.directory, local_files_only=True)
        # int8 quantizes float32 layers.
        floats = "float32" if self.precision == "int8" else self.precision
        model, name = load_pretrained(BlipForConditionalGeneration, self.directory, floats)
        if self.precision == "int8":
            model = int8_linear(model)
        # Set last: what `_load` sets is dropped by `unload`, and a load that failed midway set nothing.
        self._processor, self._model, self.model_name = processor, model, name

    def predict(self, image: Image.Image) -> Caption:
        return self.batches(image)

    def predict_batch(self, images: Sequence[Image.Image]) -> list[Caption]:
        """One caption per picture, every picture decoded in the same steps."""
        import torch

        pixels = self._processor(images=list(images), return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            tokens = self._model.generate(
                pixel_values=pixels.to(device(), self._model.dtype), max_new_tokens=self.max_new_tokens,
                do_sample=False, num_beams=1,
            )
        return [Caption(sentence(text)) for text in self._processor.batch_decode(tokens, skip_special_tokens=True)]


class EndpointCaptioner(Model[Caption]):
    """An OpenAI-compatible chat endpoint with images: the picture leaves this machine (README)."""

    engine = "openai-chat"

    def __init__(self, config: CaptionSettings) -> None:
        super().__init__()
        self.config = config
        self.endpoint = config.endpoint()
        self.model_name = self.endpoint.model

    def _load(self) -> None:
        """Nothing to load: the endpoint holds the model."""

    def predict(self, image: Image.Image) -> Caption:
        picture = io.BytesIO()
        fit_long_side(image, self.config.endpoint_long_side).save(picture, "JPEG", quality=85)
        messages = [{"role": "user", "content": [
            {"type": "text", "text": self.config.endpoint_prompt}, chat.image_part(picture.getvalue()),
        ]}]
        return parse(chat.complete(self.endpoint, messages, self.config.endpoint_max_tokens))


def parse(answer: str) -> Caption:
    """An endpoint's answer as a caption: its sentences, and the tags of a last 'Tags:' line."""
    lines = [line.strip() for line in answer.strip().splitlines() if line.strip()]
    tags: list[str] = []
    if lines and lines[-1].lower().startswith("tags:"):
        listed = lines.pop()[len("tags:"):]
        tags = list(dict.fromkeys(tag.strip(" .#*").lower() for tag in listed.split(",") if tag.strip(" .#*")))
    return Caption(sentence(" ".join(lines)), tags[:8])


def sentence(text: str) -> str:
    """One clean sentence or two: whitespace folded, first letter capitalised, a full stop at the end."""
    text = " ".join(text.split()).strip(" *")
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def engine() -> Model[Caption]:
    """The configured engine; one instance per configuration and process."""
    return _engine(settings())


@cache
def _engine(config: CaptionSettings) -> Model[Caption]:
    if config.engine == "endpoint":
        return EndpointCaptioner(config)
    batches = config.batches or turns.per_core(function_settings().threads)
    return BlipCaptioner(config.directory(), config.max_new_tokens, config.precision, config.batch, batches)
