"""Settings of the pose function (environment variables prefixed MEDIALENS_POSE_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PoseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIALENS_POSE_")

    engine: str = Field(default="mediapipe", description="Pose engine: mediapipe (legacy solutions.pose).")
    min_detection_confidence: float = Field(
        default=0.5, description="Lowest person-detection score for which landmarks are reported."
    )
    visible_threshold: float = Field(
        default=0.5, description="A landmark counts as visible when its visibility is at least this."
    )


@lru_cache(maxsize=1)
def settings() -> PoseSettings:
    return PoseSettings()
