"""Settings of the caption function (environment variables prefixed MEDIALENS_CAPTION_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from functions.common.chat import ChatEngineSettings
from functions.common.pretrained import PRECISION_HELP, FloatPrecision
from functions.common.settings import settings as function_settings

PROMPT = (
    "Describe this picture in one or two plain sentences. Then write a last line that starts with "
    "'Tags:' followed by up to eight short comma-separated tags."
)


Precision = Literal[FloatPrecision, "int8"]


class CaptionSettings(ChatEngineSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIALENS_CAPTION_", frozen=True)

    model_dir: Path | None = Field(
        default=None, description="Vision-language model directory (transformers BLIP format); default <weights>/blip."
    )
    max_new_tokens: int = Field(default=30, description="Longest caption the local model writes, in tokens.")
    precision: Precision = Field(
        default="auto", description=f"{PRECISION_HELP} int8: the local model's linear layers are quantized to int8 "
        "as it loads (CPU only; a GPU keeps float32), less CPU time per caption than float32 (`make bench`); its "
        "captions can differ from float32's and were not yet compared on the real weights.",
    )
    batch: int = Field(
        default=4, description="Most pictures the local model captions together, from calls that overlap "
        "(functions/common/batching.py): a third less CPU per picture in twos, half in fours (`make bench`). 1: one at "
        "a time.",
    )
    batches: int = Field(
        default=0, description="Most batches the local model runs at once; a second starts beside the first only "
        "once two calls wait. 0: one per core this process may use, divided by MEDIALENS_FN_THREADS.",
    )
    endpoint_prompt: str = Field(default=PROMPT, description="What the endpoint engine asks of each picture.")
    endpoint_max_tokens: int = Field(default=120, description="Longest answer the endpoint may give, in tokens.")
    endpoint_long_side: int = Field(
        default=768, description="Pictures sent to the endpoint are shrunk to at most this long side, in pixels."
    )

    def directory(self) -> Path:
        return self.model_dir or function_settings().weights(Path(__file__).parent) / "blip"


@lru_cache(maxsize=1)
def settings() -> CaptionSettings:
    return CaptionSettings()
