"""Settings of the nsfw function (environment variables prefixed MEDIALENS_NSFW_).

The verdict thresholds are explained in ``functions/nsfw/engines.py``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from functions.common.settings import settings as function_settings


class NsfwSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIALENS_NSFW_")

    explicit_score: float = Field(
        default=0.8, description="open_nsfw whole-image score from which the verdict is explicit."
    )
    questionable_score: float = Field(
        default=0.4, description="open_nsfw whole-image score from which the verdict is questionable."
    )
    explicit_region: float = Field(
        default=0.5, description="nudenet score from which an exposed intimate region makes it explicit."
    )
    questionable_region: float = Field(
        default=0.5, description="nudenet score from which a covered intimate region makes it questionable."
    )
    min_region_score: float = Field(default=0.3, description="nudenet regions scored lower are not reported.")
    clip_dir: Path | None = Field(
        default=None, description="CLIP model directory for zero-shot labels; default <weights>/clip."
    )
    clip_labels: list[str] = Field(
        default=["a safe for work photo", "a suggestive photo", "an explicit nude photo"],
        description="Zero-shot labels reported when a CLIP model is installed (not used in the verdict).",
    )

    def clip_directory(self) -> Path:
        return self.clip_dir or function_settings().weights(Path(__file__).parent) / "clip"


@lru_cache(maxsize=1)
def settings() -> NsfwSettings:
    return NsfwSettings()
