"""Bucket notifications: MinIO's webhook JSON and the AWS S3 event shape, as typed events."""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import quote_plus, unquote_plus


class EventError(ValueError):
    """The payload is not a bucket notification."""


# S3 allows keys up to 1024 bytes; a longer one cannot be a real object.
MAX_KEY_BYTES = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot name an upload, or None when it can.

    Keys become parts of artefact and result keys and of URLs: a ``..`` segment or a control
    character would make those ambiguous or unusable, so such an event is refused at the door
    instead of leaving an upload that can never finish.
    """
    if len(key.encode()) > MAX_KEY_BYTES:
        return f"the object key is longer than {MAX_KEY_BYTES} bytes"
    if _CONTROL.search(key):
        return "the object key holds a control character"
    if ".." in key.split("/"):
        return "the object key holds a '..' segment"
    return None


@dataclass(frozen=True)
class UploadEvent:
    """An object was created in a bucket."""

    bucket: str
    key: str
    etag: str
    size: int
    content_type: str = ""
    user_metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.bucket or not self.key:
            raise EventError("an upload event needs a bucket and a key")
        problem = key_problem(self.key)
        if problem:
            raise EventError(f"{problem}: {self.key[:200]!r}")
        object.__setattr__(self, "etag", self.etag.strip('"'))
        if self.size < 0:
            raise EventError(f"negative object size {self.size}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UploadEvent:
        return cls(**data)


def is_created(event_name: str) -> bool:
    """MinIO says ``s3:ObjectCreated:Put``; AWS says ``ObjectCreated:Put``."""
    return event_name.removeprefix("s3:").startswith("ObjectCreated:")


def parse_events(payload: Any) -> list[UploadEvent]:
    """Yields the object-created events of a notification; other event kinds are ignored."""
    if not isinstance(payload, dict) or not isinstance(payload.get("Records"), list):
        raise EventError("not a bucket notification: expected an object with 'Records'")
    events = []
    for record in payload["Records"]:
        try:
            name = str(record.get("eventName", ""))
            if not is_created(name):
                continue
            s3 = record["s3"]
            obj = s3["object"]
            events.append(
                UploadEvent(
                    bucket=str(s3["bucket"]["name"]),
                    key=unquote_plus(str(obj["key"])),
                    etag=str(obj.get("eTag") or obj.get("etag") or ""),
                    size=int(obj.get("size") or 0),
                    content_type=str(obj.get("contentType") or ""),
                    user_metadata={str(k): str(v) for k, v in (obj.get("userMetadata") or {}).items()},
                )
            )
        except EventError:
            raise
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise EventError(f"malformed record in notification: {exc!r}") from exc
    return events


def minio_notification(event: UploadEvent, event_name: str = "s3:ObjectCreated:Put") -> dict[str, Any]:
    """Builds the JSON MinIO's webhook target posts for one object."""
    quoted = quote_plus(event.key)
    return {
        "EventName": event_name,
        "Key": f"{event.bucket}/{quoted}",
        "Records": [
            {
                "eventVersion": "2.0",
                "eventSource": "minio:s3",
                "awsRegion": "",
                "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "eventName": event_name,
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "bucket": {"name": event.bucket, "arn": f"arn:aws:s3:::{event.bucket}"},
                    "object": {
                        "key": quoted,
                        "size": event.size,
                        "eTag": event.etag,
                        "contentType": event.content_type,
                        "userMetadata": dict(event.user_metadata),
                    },
                },
            }
        ],
    }
