"""End to end on the real stack: an S3 put starts the analysis; nothing else is called."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from PIL import Image
from skimage import data as samples

from embedded.stack import Stack
from storage.events import UploadEvent, minio_notification
from tests.conftest import jpeg, wait_for_upload


def photo() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(samples.coffee()).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def unique(name: str) -> str:
    return f"tests/{uuid.uuid4().hex[:8]}/{name}"


def result_document(s3: Any, key: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            body = s3.get_object(Bucket="results", Key=f"{key}.json")["Body"].read()
            document: dict[str, Any] = json.loads(body)
            if document["upload"]["state"] in ("done", "failed"):
                return document
        except s3.exceptions.NoSuchKey:
            pass
        time.sleep(0.1)
    raise AssertionError(f"no result for {key} within {timeout} s")


def portrait() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(samples.astronaut()).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


IMAGE_STEPS = {"probe", "thumbnail", "pose", "ocr", "nsfw", "faces", "clip", "caption"}


def test_an_s3_put_alone_produces_the_merged_analysis(
    running_stack: Stack, s3_client: Any, api: httpx.Client
) -> None:
    key = unique("astronaut.jpg")
    s3_client.put_object(Bucket="uploads", Key=key, Body=portrait(), ContentType="image/jpeg")
    document = result_document(s3_client, key, timeout=240)
    assert document["upload"]["state"] == "done", document["upload"]["reason"]
    assert document["media_type"] == "image"
    assert {name: step["state"] for name, step in document["steps"].items()} == dict.fromkeys(IMAGE_STEPS, "done")
    results = document["results"]
    assert set(results) == IMAGE_STEPS
    assert (results["probe"]["width"], results["probe"]["height"]) == (512, 512)
    assert len(results["faces"]["faces"]) == 1
    assert results["nsfw"]["verdict"] == "safe"
    assert len(results["pose"]["people"]) == 1
    assert len(results["clip"]["embedding"]) == 16, "the tiny test CLIP has 16-d embeddings"
    for result in results.values():
        assert result["engine"]["engine"], "every result names its engine"
    thumbnail_key = document["artefacts"]["thumbnail.jpg"]
    thumbnail = s3_client.get_object(Bucket="artefacts", Key=thumbnail_key)["Body"].read()
    assert Image.open(io.BytesIO(thumbnail)).size == (320, 320)
    record = wait_for_upload(api, key)
    assert record["state"] == "done" and record["progress"] == 1.0
    assert record["results"]["probe"]["sha256"] == results["probe"]["sha256"]


def intake_post(stack: Stack, payload: dict[str, Any], token: str | None = None) -> httpx.Response:
    s = stack.settings
    return httpx.post(
        s.url(s.intake_port) + "/events", json=payload,
        headers={"Authorization": f"Bearer {token or stack.secrets.intake_token}"},
    )


def test_the_same_event_twice_is_processed_once(running_stack: Stack, s3_client: Any, api: httpx.Client) -> None:
    key = unique("twice.jpg")
    reply = s3_client.put_object(Bucket="uploads", Key=key, Body=jpeg(), ContentType="image/jpeg")
    record = wait_for_upload(api, key)
    event = UploadEvent("uploads", key, reply["ETag"], len(jpeg()), "image/jpeg")
    again = intake_post(running_stack, minio_notification(event))
    assert again.status_code == 200
    assert again.json() == {"accepted": [record["id"]], "started": []}
    assert api.get("/uploads", params={"key": key}).json()["total"] == 1
    assert wait_for_upload(api, key)["steps"]["probe"]["attempts"] == 1


def test_intake_refuses_a_wrong_token(running_stack: Stack) -> None:
    event = UploadEvent("uploads", "x.jpg", "e", 1)
    assert intake_post(running_stack, minio_notification(event), token="wrong").status_code == 401


def test_an_upload_made_while_the_scheduler_is_down_is_processed_after(
    running_stack: Stack, s3_client: Any, api: httpx.Client
) -> None:
    running_stack.stop("intake")
    running_stack.stop("bridge")
    key = unique("while-down.jpg")
    try:
        s3_client.put_object(Bucket="uploads", Key=key, Body=jpeg(color=(1, 2, 3)), ContentType="image/jpeg")
        time.sleep(0.5)
        assert api.get("/uploads", params={"key": key}).json()["total"] == 0
    finally:
        running_stack.start("intake")
        running_stack.start("bridge")
    assert wait_for_upload(api, key)["state"] == "done"


def test_uploads_carry_on_after_seaweedfs_restarts(running_stack: Stack, s3_client: Any, api: httpx.Client) -> None:
    running_stack.stop("seaweedfs")
    running_stack.start("seaweedfs")
    key = unique("after-restart.jpg")
    s3_client.put_object(Bucket="uploads", Key=key, Body=jpeg(color=(9, 9, 9)), ContentType="image/jpeg")
    assert wait_for_upload(api, key)["state"] == "done"


def truncated_jpeg() -> bytes:
    whole = photo()
    return whole[: len(whole) // 3]


def bomb_png() -> bytes:
    """A 50,000 x 50,000 PNG that is tiny on disk: a decompression bomb."""
    import struct
    import zlib

    width = height = 50_000
    row = b"\x00" + b"\x00" * width
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(64)) + compressor.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def encoded(size: tuple[int, int], format: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (20, 120, 200)).save(buffer, format)
    return buffer.getvalue()


SVG_DRAWING = (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="300" height="200">'
               b'<rect width="300" height="200" fill="red"/><text x="20" y="100">SVG</text></svg>')

# name -> (the file, what its reason says); every one is uploaded beside a good picture.
BAD_INPUTS: dict[str, tuple[Callable[[], bytes], str]] = {
    "notes.jpg": (lambda: b"these are my shopping notes, not a picture\n" * 20, "not a media file"),
    "empty.jpg": (lambda: b"", "empty"),
    "truncated.jpg": (truncated_jpeg, "damaged"),
    "bomb.png": (bomb_png, "more than the limit"),
    "drawing.png": (lambda: SVG_DRAWING, "SVG drawings are not analysed"),
    "strip.png": (lambda: encoded((20_000, 1), "PNG"), "too thin to analyse"),
    "cut.png": (lambda: encoded((64, 64), "PNG")[:30], "PNG image is damaged or cut short"),
    "cut.tiff": (lambda: encoded((64, 64), "TIFF")[:20], "TIFF image is damaged or cut short"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_fails_with_a_reason_and_the_upload_beside_it_succeeds(
    name: str, running_stack: Stack, s3_client: Any, api: httpx.Client
) -> None:
    make, expected = BAD_INPUTS[name]
    content = make()
    bad, good = unique(name), unique("good.jpg")
    s3_client.put_object(Bucket="uploads", Key=bad, Body=content, ContentType="image/jpeg")
    s3_client.put_object(Bucket="uploads", Key=good, Body=photo(), ContentType="image/jpeg")
    failed = wait_for_upload(api, bad)
    assert failed["state"] == "failed"
    assert expected in failed["reason"], failed["reason"]
    assert failed["reason"].startswith("probe: ")
    assert failed["steps"]["probe"]["attempts"] == 1, "bad input is not retried"
    assert wait_for_upload(api, good, timeout=240)["state"] == "done"
    assert result_document(s3_client, bad)["upload"]["state"] == "failed"


def test_an_event_for_an_object_that_no_longer_exists_ends_failed(running_stack: Stack, api: httpx.Client) -> None:
    key = unique("gone.jpg")
    reply = intake_post(running_stack, minio_notification(UploadEvent("uploads", key, "deadbeef", 100, "image/jpeg")))
    assert reply.status_code == 200
    record = wait_for_upload(api, key)
    assert record["state"] == "failed"
    assert "no longer exists" in record["reason"]
