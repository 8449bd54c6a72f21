"""Settings of the clip function (environment variables prefixed MEDIALENS_CLIP_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from functions.common.pretrained import PRECISION_HELP, FloatPrecision
from functions.common.settings import settings as function_settings

DEFAULT_LABELS = [
    "people",
    "a portrait",
    "a group of people",
    "animals",
    "a pet",
    "a document",
    "a screenshot",
    "food",
    "a vehicle",
    "outdoors",
    "a landscape",
    "a building",
    "indoors",
    "text",
    "art",
]

SAFETY_LABELS = ["a safe for work photo", "a suggestive photo", "an explicit nude photo"]


class ClipSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIALENS_CLIP_")

    model_dir: Path | None = Field(
        default=None, description="CLIP model directory (transformers format); default <weights>/clip."
    )
    labels: list[str] = Field(
        default=DEFAULT_LABELS, description="Zero-shot label set (JSON list); a request may send its own."
    )
    safety_labels: list[str] = Field(
        default=SAFETY_LABELS,
        description="A second zero-shot set, over the same embedding, always ranked whole (not the NSFW verdict, "
                    "which is the nsfw function's).",
    )
    prompt: str = Field(default="a photo of {}", description="Prompt each label is put into.")
    top_k: int = Field(default=5, description="How many labels a result lists, most likely first.")
    precision: FloatPrecision = Field(default="auto", description=PRECISION_HELP)

    def directory(self) -> Path:
        return self.model_dir or function_settings().weights(Path(__file__).parent) / "clip"


@lru_cache(maxsize=1)
def settings() -> ClipSettings:
    return ClipSettings()
