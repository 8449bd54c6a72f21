"""probe reads when, where and with what a file was captured: EXIF of pictures, container tags of clips."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from PIL import Image

from tests.conftest import dated_mp4, exif_jpeg, jpeg

Call = Callable[[str, Any], tuple[int, dict[str, Any]]]


def probe(call_function: Call, source_url: Callable[..., str], data: bytes) -> dict[str, Any]:
    status, body = call_function("probe", {"source": {"url": source_url(data)}})
    assert status == 200, body
    return body


def test_a_photo_tells_its_date_camera_lens_place_and_orientation(
    call_function: Call, source_url: Callable[..., str]
) -> None:
    found = probe(call_function, source_url, exif_jpeg())
    assert found["media_type"] == "image"
    assert found["metadata"] == {
        "taken_at": "2019-07-14T09:30:00+02:00",
        "camera": "Canon EOS 5D Mark IV",  # the make is not said twice
        "lens": "EF50mm f/1.8 STM",
        "gps": {"latitude": 48.8582, "longitude": -2.2945},  # degrees, minutes, seconds; west is negative
        "orientation": 1,
    }


def test_a_picture_that_says_nothing_of_itself_has_no_metadata(
    call_function: Call, source_url: Callable[..., str]
) -> None:
    assert probe(call_function, source_url, jpeg())["metadata"] == {}
    # A camera that wrote "unknown" as zeros, and a PNG (no EXIF at all).
    assert "taken_at" not in probe(call_function, source_url, exif_jpeg(taken="0000:00:00 00:00:00"))["metadata"]
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), "white").save(buffer, "PNG")
    assert probe(call_function, source_url, buffer.getvalue())["metadata"] == {}


def test_a_clip_tells_when_and_where_it_was_recorded_and_its_codec(
    call_function: Call, source_url: Callable[..., str]
) -> None:
    found = probe(call_function, source_url, dated_mp4())
    assert found["media_type"] == "video"
    assert found["duration"] > 1.5
    assert found["metadata"] == {
        "taken_at": "2020-05-01T10:00:00+00:00",
        "gps": {"latitude": 48.8577, "longitude": 2.295},
        "video_codec": "mpeg4",
    }
