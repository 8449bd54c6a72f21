"""Settings every function reads (environment variables prefixed MEDIALENS_FN_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .origins import Origin, allow_list


class FunctionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIALENS_FN_", env_nested_delimiter="__")

    model_dir: Path | None = Field(
        None,
        description="Directory with weights that no package ships, for every function; by default each "
        "function reads the `weights/` folder beside its handler, where `make models` puts them.",
    )
    max_pixels: int = Field(
        40_000_000, description="Largest image (width x height) decoded; guards against bombs."
    )
    max_input_bytes: int = Field(
        2 * 1024**3, description="Largest input object a function fetches, in bytes."
    )
    allowed_origins: str = Field(
        "",
        description="Comma-separated origins (scheme://host:port) of the S3 endpoints a function may fetch "
        "inputs from and write artefacts to; empty allows none.",
    )
    fetch_timeout_s: float = Field(30.0, description="Timeout for fetching an input URL.")
    threads: int = Field(1, description="Inference threads per process (torch, onnxruntime).")
    min_side_px: int = Field(8, description="Images with a side shorter than this are refused as too thin.")
    max_aspect_ratio: float = Field(
        25.0, description="Images longer than this many times their width (or wider than tall) are refused."
    )
    analysis_long_side: int = Field(
        1280, description="Images are resized to at most this long side before analysis."
    )
    model_idle_s: float = Field(
        300.0,
        description="A model no call has used for this many seconds is unloaded, its memory returned, and "
        "loaded again by the next call that needs it; 0 keeps every model loaded.",
    )

    @field_validator("allowed_origins")
    @classmethod
    def _origins_parse(cls, value: str) -> str:
        allow_list(value)  # a typo fails where the settings are read, not as every input refused
        return value

    def origins(self) -> frozenset[Origin]:
        return allow_list(self.allowed_origins)

    def weights(self, function_folder: Path) -> Path:
        """Where a function finds its weights: the configured directory, else its own weights/ folder
        (inside an image built by faas-cli that is /home/app/function/weights)."""
        return self.model_dir or function_folder / WEIGHTS


# The folder beside a handler that `make models` fills; faas-cli copies it into the image.
WEIGHTS = "weights"


@lru_cache(maxsize=1)
def settings() -> FunctionSettings:
    return FunctionSettings()
