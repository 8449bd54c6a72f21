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
    easyocr_languages: list[str] = Field(
        default=["en"], description="easyocr languages; the shipped offline models cover English only."
    )


@lru_cache(maxsize=1)
def settings() -> OcrSettings:
    return OcrSettings()
