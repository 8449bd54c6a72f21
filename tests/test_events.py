"""Bucket notifications: MinIO webhook JSON and the AWS S3 event shape become typed upload events."""

from __future__ import annotations

import pytest

from storage.events import EventError, UploadEvent, minio_notification, parse_events


def aws_record(key: str, event: str = "ObjectCreated:Put") -> dict:
    return {
        "eventName": event,
        "s3": {"bucket": {"name": "uploads"}, "object": {"key": key, "size": 12, "eTag": "abc"}},
    }


def test_minio_webhook_json_round_trips() -> None:
    event = UploadEvent("uploads", "holiday pics/Émile & me+1.jpg", '"0123abcd"', 5120, "image/jpeg", {"owner": "ann"})
    payload = minio_notification(event)
    assert payload["EventName"] == "s3:ObjectCreated:Put"
    assert "%" in payload["Key"] and " " not in payload["Key"]
    assert parse_events(payload) == [event]
    assert parse_events(payload)[0].etag == "0123abcd"


def test_aws_shape_without_prefix_and_plus_escaped_keys() -> None:
    [event] = parse_events({"Records": [aws_record("a+b/c%26d.png")]})
    assert event.key == "a b/c&d.png"
    assert event.bucket == "uploads" and event.size == 12


def test_other_event_kinds_are_ignored() -> None:
    removed, copied = aws_record("x.jpg", "s3:ObjectRemoved:Delete"), aws_record("y.jpg", "s3:ObjectCreated:Copy")
    payload = {"Records": [removed, copied]}
    assert [e.key for e in parse_events(payload)] == ["y.jpg"]


@pytest.mark.parametrize("payload", [None, [], {"Records": "x"}, {"Records": [{"eventName": "s3:ObjectCreated:Put"}]}])
def test_malformed_notifications_are_refused_with_a_reason(payload: object) -> None:
    with pytest.raises(EventError):
        parse_events(payload)
