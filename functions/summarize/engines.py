"""The summarize function's engines: a small instruct model through transformers, or a chat endpoint.

Qwen2.5-0.5B-Instruct is the local default: it follows a short instruction in the 29 languages it
was trained on (a summary must be in the transcript's language; SmolLM2 is English only) and runs on
one CPU thread: with random weights of its size, 44 CPU s for the summary of 5 minutes of talk,
109 s for 12 minutes with its chapters, 2.9 GB peak (`make bench`). Its quality was not measured
here (the weights cannot be fetched). Both engines answer one chat turn: an instruction and the material.
"""

from __future__ import annotations

from abc import abstractmethod
from functools import cache
from pathlib import Path
from typing import Any

from functions.common import chat
from functions.common.device import device
from functions.common.models import Model, require_dir
from functions.common.pretrained import load_pretrained, transformers_version

from .settings import SummarizeSettings, settings


class Writer(Model[str]):
    """Answers one chat turn (``system`` instruction, ``user`` material) in at most ``max_tokens`` tokens."""

    @property
    def context_tokens(self) -> int:
        return 32_768

    @abstractmethod
    def predict(self, system: str, user: str, max_tokens: int) -> str:  # type: ignore[override]
        """The answer, stripped."""


class InstructWriter(Writer):
    """transformers AutoModelForCausalLM with the tokenizer's chat template; greedy decoding, so the same
    material gets the same summary; loaded with ``local_files_only=True``."""

    engine = "transformers-instruct"

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.directory = Path(directory)
        self.model_name = self.directory.name

    @property
    def version(self) -> str:
        return transformers_version()

    @property
    def context_tokens(self) -> int:
        return int(getattr(self._model.config, "max_position_embeddings", 2048))

    def _load(self) -> None:
        require_dir(self.directory, "the summary model")
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(self.directory, local_files_only=True)
        self._model, self.model_name = load_pretrained(AutoModelForCausalLM, self.directory)

    def predict(self, system: str, user: str, max_tokens: int) -> str:  # type: ignore[override]
        import torch

        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        prompt: Any = self._tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        room = self.context_tokens - max_tokens
        ids = prompt["input_ids"][:, -room:].to(device())  # the instruction is re-read last: keep the end
        with torch.inference_mode():
            tokens = self._model.generate(
                input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_tokens, do_sample=False,
                num_beams=1, pad_token_id=self._tokenizer.pad_token_id or self._tokenizer.eos_token_id,
            )
        return str(self._tokenizer.decode(tokens[0, ids.shape[1]:], skip_special_tokens=True)).strip()


class EndpointWriter(Writer):
    """An OpenAI-compatible chat endpoint: the transcript and texts leave this machine (README)."""

    engine = "openai-chat"

    def __init__(self, config: SummarizeSettings) -> None:
        super().__init__()
        self.endpoint = config.endpoint()
        self.model_name = self.endpoint.model

    def _load(self) -> None:
        """Nothing to load: the endpoint holds the model."""

    def predict(self, system: str, user: str, max_tokens: int) -> str:  # type: ignore[override]
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return chat.complete(self.endpoint, messages, max_tokens)


def engine() -> Writer:
    """The configured engine; one instance per configuration and process."""
    return _engine(settings())


@cache
def _engine(config: SummarizeSettings) -> Writer:
    if config.engine == "endpoint":
        return EndpointWriter(config)
    return InstructWriter(config.directory())
