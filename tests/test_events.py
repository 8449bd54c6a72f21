"""Bucket notifications: MinIO webhook JSON and the AWS S3 event shape become typed upload events."""

from __future__ import annotations

import uuid

import httpx
import pytest

from embedded.stack import Stack
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


BAD_KEYS = ["a/../b.jpg", "..", "../etc/passwd", "a\nb.jpg", "a\x00.jpg", "k" * 1025]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_an_event_with_an_unusable_key_is_refused_with_a_reason(key: str) -> None:
    with pytest.raises(EventError, match="object key"):
        parse_events({"Records": [aws_record(key)]})


def test_keys_with_dots_that_are_no_segment_pass() -> None:
    [event] = parse_events({"Records": [aws_record("a..b/..c/d...jpg")]})
    assert event.key == "a..b/..c/d...jpg"


def test_the_intake_refuses_a_dot_dot_key_and_starts_nothing(running_stack: Stack, api: httpx.Client) -> None:
    s = running_stack.settings
    key = f"tests/{uuid.uuid4().hex[:8]}/../escape.jpg"
    record = aws_record(key, "s3:ObjectCreated:Put")
    reply = httpx.post(
        s.url(s.intake_port) + "/events", json={"Records": [record]},
        headers={"Authorization": f"Bearer {running_stack.secrets.intake_token}"},
    )
    assert reply.status_code == 200, "acknowledged, so the store does not send it again forever"
    assert reply.json()["accepted"] == []
    assert "'..' segment" in reply.json()["error"]
    assert api.get("/uploads", params={"key": key}).json()["total"] == 0
