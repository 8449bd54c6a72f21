"""Settings of the nsfw function (environment variables prefixed MEDIALENS_NSFW_).

The verdict thresholds are explained in ``functions/nsfw/engines.py``.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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


@lru_cache(maxsize=1)
def settings() -> NsfwSettings:
    return NsfwSettings()
