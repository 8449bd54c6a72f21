"""Settings of the ocr function (environment variables prefixed MEDIALENS_OCR_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OcrSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIALENS_OCR_")

    engine: str = Field(default="rapidocr", description="OCR engine: rapidocr (PP-OCR ONNX) or easyocr.")
    min_confidence: float = Field(
        default=0.5, description="Text lines recognised with less confidence are dropped."
    )
    detection_limit_side: int = Field(
        default=1280,
        description="rapidocr's detector shrinks images whose long side exceeds this, and never enlarges "
        "(rapidocr's own default enlarges every image to a 736 px short side: 4-5x the work, no better "
        "readings on the test images).",
    )
    easyocr_languages: list[str] = Field(
        default=["en"], description="easyocr languages; the shipped offline models cover English only."
    )


@lru_cache(maxsize=1)
def settings() -> OcrSettings:
    return OcrSettings()
