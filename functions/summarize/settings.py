"""Settings of the summarize function (environment variables prefixed MEDIALENS_SUMMARIZE_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from functions.common.chat import ChatEngineSettings
from functions.common.settings import settings as function_settings


class SummarizeSettings(ChatEngineSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIALENS_SUMMARIZE_", frozen=True)

    model_dir: Path | None = Field(
        default=None, description="Instruct model directory (transformers causal LM); default <weights>/instruct."
    )
    max_new_tokens: int = Field(default=160, description="Longest title and summary written, in tokens.")
    chapter_tokens: int = Field(default=24, description="Longest chapter title written, in tokens.")
    max_input_words: int = Field(
        default=1500, description="Most words of material one prompt holds; longer material is cut (chapters see all)."
    )
    chapters_after_s: float = Field(default=600.0, description="Recordings longer than this get chapters.")
    chapter_s: float = Field(default=300.0, description="Length of one chapter of a long recording, in seconds.")

    def directory(self) -> Path:
        return self.model_dir or function_settings().weights(Path(__file__).parent) / "instruct"


@lru_cache(maxsize=1)
def settings() -> SummarizeSettings:
    return SummarizeSettings()
