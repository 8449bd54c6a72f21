"""Object-store settings (environment variables prefixed MEDIALENS_S3_)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StorageSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MEDIALENS_S3_")

    endpoint: str = Field("http://127.0.0.1:8333", description="S3 endpoint the services use.")
    public_endpoint: str = Field(
        "",
        description="Endpoint put into presigned URLs handed to browsers and GPU nodes "
        "(defaults to `endpoint`).",
    )
    function_endpoint: str = Field(
        "",
        description="Endpoint put into presigned URLs handed to functions on the CPU gateway; on faasd "
        "the address its bridge publishes MinIO on (defaults to `endpoint`).",
    )
    access_key: str = Field("medialens", description="S3 access key.")
    secret_key: str = Field("medialens-secret", description="S3 secret key.")
    region: str = Field("us-east-1", description="S3 region (signing only).")
    uploads_bucket: str = Field("uploads", description="Where users put media; events start work.")
    results_bucket: str = Field("results", description="Analysis JSON, one object per upload key.")
    artefacts_bucket: str = Field("artefacts", description="Thumbnails, keyframes, audio tracks.")
    url_expiry_s: int = Field(3600, description="Lifetime of presigned URLs, in seconds.")
    seaweed_master: str = Field(
        "",
        description="host:port of the embedded SeaweedFS master, set by the embedded stack; empty means "
        "the store is MinIO and workspace credentials go through its admin API.",
    )
    seaweed_config_dir: Path = Field(
        Path("."), description="Directory of the embedded SeaweedFS's security.toml (signs its admin calls)."
    )
