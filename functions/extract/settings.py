"""Settings of the extract function (environment variables prefixed MEDIALENS_EXTRACT_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ExtractSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIALENS_EXTRACT_")

    max_duration_s: float = Field(
        default=3 * 3600.0, description="Longest video accepted, in seconds; longer files are refused (422)."
    )
    max_keyframes: int = Field(
        default=40, description="Keyframes per video when the request's options.max_keyframes does not say."
    )
    max_keyframes_limit: int = Field(
        default=500, description="Most keyframes a request may ask for (options.max_keyframes)."
    )
    min_interval_s: float = Field(
        default=2.0,
        description="At most one keyframe per this many seconds, unless options.min_interval_s says.",
    )
    scene_threshold: float = Field(
        default=12.0,
        description=(
            "A frame starts a new scene when its mean absolute difference from the last keyframe "
            "(64 x 36 RGB thumbnail, 0-255) is at least this."
        ),
    )
    sample_fps: float = Field(
        default=5.0,
        description="Frames compared per second of video; the others are decoded but not compared.",
    )
    keyframe_long_side: int = Field(
        default=1280, description="Keyframe JPEGs are shrunk to at most this long side."
    )
    jpeg_quality: int = Field(default=88, description="JPEG quality of the keyframes (1-95).")


@lru_cache(maxsize=1)
def settings() -> ExtractSettings:
    return ExtractSettings()
