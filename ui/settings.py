"""Web app settings (environment variables prefixed MEDIALENS_UI_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class UiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIALENS_UI_")

    host: str = Field("127.0.0.1", description="Address the web app binds to.")
    port: int = Field(8000, description="Port of the web app and its API.")
    secret_key: str = Field("", description="Signs session cookies; set one in production.")
    max_upload_bytes: int = Field(2 * 1024**3, description="Largest file the API hands an upload URL for.")
    search_max_query_chars: int = Field(
        500, description="Longest search query; a longer one is refused (each query is scanned and embedded)."
    )
