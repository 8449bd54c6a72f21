"""A small client over the minio SDK: buckets, objects and presigned URLs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from minio import Minio
from minio.datatypes import PostPolicy
from minio.error import S3Error

from .media_types import OPAQUE, download_headers
from .settings import StorageSettings

logger = logging.getLogger(__name__)

MISSING_CODES = {"NoSuchKey", "NoSuchBucket", "NoSuchObject", "ResourceNotFound"}


class ObjectMissing(Exception):
    """The object (or its bucket) does not exist."""


class Audience(StrEnum):
    """Who fetches a presigned URL, and so which address of the store it names (the host is signed)."""

    PUBLIC = "public"  # browsers, API clients and rented GPU nodes: the public HTTPS name
    FUNCTIONS = "functions"  # functions on the CPU gateway: an address inside the VPS


@dataclass(frozen=True)
class PresignedPost:
    """A browser form upload: POST ``fields`` and then the file (as field ``file``) to ``url``."""

    url: str
    fields: dict[str, str]


def endpoint_address(endpoint: str) -> tuple[str, bool]:
    """The host:port of an endpoint URL (a bare host:port is plain HTTP), and whether it is HTTPS."""
    parts = urlsplit(endpoint if "://" in endpoint else f"http://{endpoint}")
    return parts.netloc, parts.scheme == "https"


def minio_client(endpoint: str, settings: StorageSettings) -> Minio:
    address, secure = endpoint_address(endpoint)
    return Minio(
        address,
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        secure=secure,
        region=settings.region,
    )


def public_endpoint(settings: StorageSettings) -> str:
    return settings.public_endpoint or settings.endpoint


def function_endpoint(settings: StorageSettings) -> str:
    return settings.function_endpoint or settings.endpoint


class Store:
    """The platform's view of the object store."""

    def __init__(self, settings: StorageSettings | None = None) -> None:
        self.settings = settings or StorageSettings()
        self.client = minio_client(self.settings.endpoint, self.settings)
        s = self.settings
        # Signing needs no network call when the region is known, so one more client per audience
        # signs for the address that audience reaches.
        self.signers = {
            Audience.PUBLIC: minio_client(public_endpoint(s), s),
            Audience.FUNCTIONS: minio_client(function_endpoint(s), s),
        }

    @property
    def buckets(self) -> tuple[str, str, str]:
        s = self.settings
        return (s.uploads_bucket, s.results_bucket, s.artefacts_bucket)

    def ensure_buckets(self) -> None:
        for bucket in self.buckets:
            if not self.client.bucket_exists(bucket):
                self.client.make_bucket(bucket)
                logger.info("created bucket %s", bucket)

    def put_bytes(
        self,
        bucket: str,
        key: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> str:
        headers: dict[str, Any] = dict(metadata or {})
        result = self.client.put_object(
            bucket, key, io.BytesIO(data), len(data), content_type=content_type, metadata=headers or None
        )
        return str(result.etag)

    def get_bytes(self, bucket: str, key: str) -> bytes:
        try:
            reply = self.client.get_object(bucket, key)
        except S3Error as exc:
            if exc.code in MISSING_CODES:
                raise ObjectMissing(f"{bucket}/{key}") from exc
            raise
        try:
            return reply.read()
        finally:
            reply.close()
            reply.release_conn()

    def put_json(self, bucket: str, key: str, value: Any) -> None:
        data = json.dumps(value, indent=2, sort_keys=True).encode()
        self.put_bytes(bucket, key, data, content_type="application/json")

    def get_json(self, bucket: str, key: str) -> Any:
        return json.loads(self.get_bytes(bucket, key))

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self.client.stat_object(bucket, key)
        except S3Error as exc:
            if exc.code in MISSING_CODES:
                return False
            raise
        return True

    def size(self, bucket: str, key: str) -> int:
        return int(self.client.stat_object(bucket, key).size or 0)

    def stream(self, bucket: str, key: str, chunk: int = 1 << 20) -> Iterator[bytes]:
        """An object's bytes a chunk at a time, so no caller holds a large object whole."""
        response = self.client.get_object(bucket, key)
        try:
            yield from response.stream(chunk)
        finally:
            response.close()
            response.release_conn()

    def keys(self, bucket: str, prefix: str = "") -> Iterator[str]:
        for item in self.client.list_objects(bucket, prefix=prefix, recursive=True):
            if item.object_name is not None:
                yield item.object_name

    def delete(self, bucket: str, key: str) -> None:
        self.client.remove_object(bucket, key)

    def delete_prefix(self, bucket: str, prefix: str) -> int:
        count = 0
        for key in list(self.keys(bucket, prefix)):
            self.client.remove_object(bucket, key)
            count += 1
        return count

    def presigned_get(self, bucket: str, key: str, audience: Audience = Audience.PUBLIC) -> str:
        expiry = timedelta(seconds=self.settings.url_expiry_s)
        return self.signers[audience].presigned_get_object(bucket, key, expires=expiry)

    def browser_url(self, bucket: str, key: str) -> str:
        """A presigned GET for browsers and API clients: shown inline only when its type is a safe
        medium (storage/media_types.py), so no user object runs as a page on the store's origin."""
        expiry = timedelta(seconds=self.settings.url_expiry_s)
        return self.signers[Audience.PUBLIC].presigned_get_object(
            bucket, key, expires=expiry, response_headers=download_headers(key)
        )

    def download_url(self, bucket: str, key: str) -> str:
        """A presigned GET that a browser saves as a file (named as the key's last part), never shows."""
        expiry = timedelta(seconds=self.settings.url_expiry_s)
        name = key.rsplit("/", 1)[-1].replace('"', "")
        headers: dict[str, str | list[str] | tuple[str]] = {
            "response-content-type": OPAQUE, "response-content-disposition": f'attachment; filename="{name}"'}
        return self.signers[Audience.PUBLIC].presigned_get_object(bucket, key, expires=expiry, response_headers=headers)

    def presigned_post(self, bucket: str, key: str, content_type: str, max_bytes: int) -> PresignedPost:
        """An upload the store itself holds to this key, content type and at most ``max_bytes``
        (a presigned PUT binds none of them)."""
        policy = PostPolicy(bucket, datetime.now(UTC) + timedelta(seconds=self.settings.url_expiry_s))
        policy.add_equals_condition("key", key)
        policy.add_equals_condition("Content-Type", content_type)
        policy.add_content_length_range_condition(0, max_bytes)
        fields = self.signers[Audience.PUBLIC].presigned_post_policy(policy)
        endpoint = public_endpoint(self.settings)
        url = f"{endpoint if '://' in endpoint else 'http://' + endpoint}".rstrip("/") + f"/{bucket}"
        return PresignedPost(url, {**fields, "key": key, "Content-Type": content_type})

    def presigned_put(self, bucket: str, key: str, audience: Audience = Audience.PUBLIC) -> str:
        expiry = timedelta(seconds=self.settings.url_expiry_s)
        return self.signers[audience].presigned_put_object(bucket, key, expires=expiry)
