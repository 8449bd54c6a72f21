"""Settings of the faces function (environment variables prefixed MEDIALENS_FACES_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from functions.common.settings import settings as function_settings


class FacesSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIALENS_FACES_")

    detector: str = Field(
        default="mediapipe", description="Face detector: mediapipe or mtcnn (facenet-pytorch)."
    )
    embedder: str = Field(
        default="dlib", description="Face embedding: dlib (ResNet 128-d) or facenet (vggface2)."
    )
    min_detection_confidence: float = Field(
        default=0.5, description="mediapipe faces detected with a lower score are dropped."
    )
    mtcnn_min_confidence: float = Field(
        default=0.95,
        description="MTCNN faces scored lower are dropped (its scores run high: 0.8 can be a false face).",
    )
    mediapipe_range: str = Field(
        default="full", description="mediapipe model: short (faces within 2 m) or full (within 5 m)."
    )
    facenet_dir: Path | None = Field(
        default=None, description="Directory with 20180402-114759-vggface2.pt; default <weights>/facenet."
    )
    min_face_pixels: int = Field(
        default=20, description="Faces whose short side is smaller than this many pixels get no embedding."
    )

    def facenet_directory(self) -> Path:
        return self.facenet_dir or function_settings().weights(Path(__file__).parent) / "facenet"


@lru_cache(maxsize=1)
def settings() -> FacesSettings:
    return FacesSettings()
