"""Video and audio through the whole stack: extract, per-keyframe analysis, chunked speech, one timeline."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from bench.sample_media import Scene, Speech, make_video, speech_bytes
from embedded.stack import Stack
from scheduler.analysis import FORMAT
from scheduler.names import Keyframe, StepName
from scheduler.plans import IMAGE_ANALYZERS
from tests.conftest import wait_for_upload

SCENES = [Scene(0.0, "APPLE", (30, 60, 160)), Scene(4.0, "BANANA", (200, 50, 40)), Scene(8.0, "CHERRY", (40, 150, 60))]


def document(s3: Any, key: str) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket="results", Key=f"{key}.json")["Body"].read())


def upload(s3: Any, name: str, data: bytes, content_type: str) -> str:
    key = f"media/{uuid.uuid4().hex[:8]}/{name}"
    s3.put_object(Bucket="uploads", Key=key, Body=data, ContentType=content_type)
    return key


def test_a_video_becomes_one_timeline_of_what_is_seen_and_heard(
    running_stack: Stack, s3_client: Any, api: httpx.Client
) -> None:
    film = make_video(SCENES, 12.0, [Speech(0.4, "fox"), Speech(8.3, "report")], noise=3.0)
    key = upload(s3_client, "film.mp4", film, "video/mp4")
    record = wait_for_upload(api, key)
    assert record["state"] == "done", record["reason"]
    result = document(s3_client, key)
    assert result["media_type"] == "video"
    assert result["format"] == FORMAT
    keyframes = [Keyframe(frame["index"]) for frame in result["results"]["extract"]["keyframes"]]
    assert len(keyframes) == 3
    expected = {"probe", "thumbnail", "extract", "transcribe", "summarize"} | {
        StepName(name, keyframe).to_str() for keyframe in keyframes for name in IMAGE_ANALYZERS
    }
    assert set(result["steps"]) == expected
    assert set(result["results"]) == {"probe", "thumbnail", "extract", "transcribe", "summarize", "keyframes"}
    nested = {key: set(by_function) for key, by_function in result["results"]["keyframes"].items()}
    assert nested == {keyframe.key: set(IMAGE_ANALYZERS) for keyframe in keyframes}
    assert {keyframe.artefact for keyframe in keyframes} <= set(result["artefacts"])
    assert "audio.wav" in result["artefacts"]
    ranges = result["timeline"]["ranges"]
    assert [" ".join(r["text"]).upper() for r in ranges] == ["APPLE", "BANANA", "CHERRY"]
    spoken = [" ".join(segment["text"].lower() for segment in r["transcript"]) for r in ranges]
    assert "fox" in spoken[0] and spoken[1] == "" and "report" in spoken[2]
    assert all(r["nsfw"] == "safe" for r in ranges)


def test_a_video_without_sound_is_analysed_without_a_transcript(
    running_stack: Stack, s3_client: Any, api: httpx.Client
) -> None:
    key = upload(s3_client, "silent.mp4", make_video(SCENES[:2], 6.0), "video/mp4")
    record = wait_for_upload(api, key)
    assert record["state"] == "done", record["reason"]
    result = document(s3_client, key)
    assert "transcribe" not in result["steps"]
    assert result["results"]["extract"]["audio"] is None
    assert [" ".join(r["text"]).upper() for r in result["timeline"]["ranges"]] == ["APPLE", "BANANA"]


def test_audio_is_transcribed_with_times(running_stack: Stack, s3_client: Any, api: httpx.Client) -> None:
    key = upload(s3_client, "weather.ogg", speech_bytes("weather"), "audio/ogg")
    record = wait_for_upload(api, key)
    assert record["state"] == "done", record["reason"]
    assert set(record["steps"]) == {"probe", "transcribe", "summarize"}
    result = document(s3_client, key)
    assert result["media_type"] == "audio"
    words = " ".join(segment["text"] for segment in result["transcript"]).lower()
    assert "weather" in words and "park" in words
    starts = [segment["start"] for segment in result["transcript"]]
    assert starts == sorted(starts) and all(s["end"] > s["start"] for s in result["transcript"])
