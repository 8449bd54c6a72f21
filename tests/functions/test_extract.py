"""extract: keyframes at scene changes, the audio track, and every broken video."""

from __future__ import annotations

import io
import itertools
import wave
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from PIL import Image

from bench.sample_media import Scene, Speech, make_video, speech_bytes
from functions.extract.settings import settings
from scheduler.timeline import build_timeline

Call = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]

# Words on screen and sentences spoken at known times (seconds).
SCENES = [
    Scene(0.0, "APPLE", (30, 60, 160)),
    Scene(4.0, "BANANA", (200, 50, 40)),
    Scene(8.0, "CHERRY", (40, 150, 60)),
]
SPEECH = [Speech(0.4, "fox"), Speech(8.3, "report")]
DURATION = 12.0
INTERVAL = 1.0


@pytest.fixture(scope="module")
def film() -> bytes:
    return make_video(SCENES, DURATION, SPEECH, noise=3.0)


@pytest.fixture
def extract(
    call_function: Call, source_url: Callable[..., str], output_url: Callable[[], tuple[str, Any]]
) -> Callable[..., tuple[int, dict[str, Any], dict[str, Callable[[], bytes]]]]:
    """Calls extract with M keyframe outputs and an audio output; returns readers of what it wrote."""

    def run(
        data: bytes, max_keyframes: int = 6, **options: Any
    ) -> tuple[int, dict[str, Any], dict[str, Any]]:
        urls, readers = {}, {}
        for name in [f"keyframe_{index}" for index in range(max_keyframes)] + ["audio"]:
            urls[name], readers[name] = output_url()
        body = {
            "source": {"url": source_url(data, "video/mp4")},
            "outputs": urls,
            "options": {"max_keyframes": max_keyframes, **options},
        }
        status, result = call_function("extract", body)
        return status, result, readers

    return run


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    def apply(**values: Any) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"MEDIALENS_EXTRACT_{name.upper()}", str(value))
        settings.cache_clear()

    yield apply
    monkeypatch.undo()
    settings.cache_clear()


def test_keyframes_land_at_scene_changes_and_audio_is_written(extract: Any, film: bytes) -> None:
    status, result, readers = extract(film, min_interval_s=INTERVAL)
    assert status == 200, result
    times = [frame["time"] for frame in result["keyframes"]]
    assert len(times) == len(SCENES)
    for time, scene in zip(times, SCENES, strict=True):
        assert scene.start <= time <= scene.start + INTERVAL
    for frame in result["keyframes"]:
        image = Image.open(io.BytesIO(readers[frame["output"]]()))
        assert image.format == "JPEG" and image.size == (frame["width"], frame["height"]) == (320, 180)
    assert [frame["output"] for frame in result["keyframes"]] == ["keyframe_0", "keyframe_1", "keyframe_2"]
    assert result["duration"] == pytest.approx(DURATION, abs=0.2)
    assert result["audio"]["output"] == "audio"
    with wave.open(io.BytesIO(readers["audio"]())) as track:
        assert (track.getframerate(), track.getnchannels(), track.getsampwidth()) == (16_000, 1, 2)
        assert track.getnframes() / 16_000 == pytest.approx(DURATION, abs=0.2)
    assert not result["truncated"]


def test_video_timeline_end_to_end(
    extract: Any, film: bytes, call_function: Call, source_url: Callable[..., str]
) -> None:
    """extract -> ocr on each keyframe -> transcribe the audio -> one timeline."""
    status, result, readers = extract(film, min_interval_s=INTERVAL)
    assert status == 200, result
    analyses = {}
    for frame in result["keyframes"]:
        image_url = source_url(readers[frame["output"]](), "image/jpeg")
        status, ocr = call_function("ocr", {"source": {"url": image_url}})
        assert status == 200, ocr
        analyses[frame["index"]] = {"ocr": ocr}
    status, transcript = call_function(
        "transcribe", {"source": {"url": source_url(readers["audio"](), "audio/wav")}}
    )
    assert status == 200, transcript
    timeline = build_timeline(result, analyses, transcript["segments"]).to_dict()
    ranges = timeline["ranges"]
    assert [" ".join(r["text"]).upper() for r in ranges] == ["APPLE", "BANANA", "CHERRY"]
    spoken = [" ".join(s["text"].lower() for s in r["transcript"]) for r in ranges]
    assert "fox" in spoken[0] and "report" in spoken[2]
    assert spoken[1] == ""


def test_interval_and_count_limits_hold(extract: Any) -> None:
    palette = [(20, 20, 160), (200, 40, 40), (40, 160, 40), (220, 200, 40)]
    flicker = [Scene(i * 0.5, f"S{i}", palette[i % 4]) for i in range(16)]
    status, result, _ = extract(make_video(flicker, 8.0), max_keyframes=20, min_interval_s=2.0)
    assert status == 200, result
    times = [frame["time"] for frame in result["keyframes"]]
    assert times[0] == 0.0 and len(times) == 4
    assert all(b - a >= 2.0 - 1e-6 for a, b in itertools.pairwise(times))
    status, result, _ = extract(make_video(flicker, 8.0), max_keyframes=2, min_interval_s=0.5)
    assert status == 200, result
    assert [frame["output"] for frame in result["keyframes"]] == ["keyframe_0", "keyframe_1"]
    # Two keyframes for 8 s widen the interval to 4 s, so they cover the video, not its first second.
    assert result["keyframes"][1]["time"] >= 4.0


def test_a_still_noisy_scene_gives_only_the_first_frame(extract: Any) -> None:
    status, result, _ = extract(make_video([SCENES[0]], 6.0, noise=8.0), min_interval_s=0.5)
    assert status == 200, result
    assert [frame["time"] for frame in result["keyframes"]] == [0.0]


def test_video_without_audio_has_no_audio_result(extract: Any) -> None:
    status, result, _ = extract(make_video(SCENES, 9.0), min_interval_s=INTERVAL)
    assert status == 200, result
    assert result["audio"] is None
    assert len(result["keyframes"]) == 3


def test_audio_only_file_is_refused(extract: Any) -> None:
    status, result, _ = extract(speech_bytes("fox"))
    assert status == 422
    assert "no video stream" in result["error"]


def test_truncated_video_gives_the_decodable_part(extract: Any, film: bytes) -> None:
    matroska = make_video(SCENES, DURATION, SPEECH, container="matroska")
    status, result, _ = extract(matroska[: len(matroska) * 6 // 10], min_interval_s=INTERVAL)
    assert status == 200, result
    assert result["truncated"] is True
    assert 4.0 < result["duration"] < DURATION - 1.0
    assert [frame["time"] for frame in result["keyframes"]][:2] == [0.0, pytest.approx(4.0, abs=INTERVAL)]
    assert all(frame["time"] <= result["duration"] for frame in result["keyframes"])


def test_video_truncated_beyond_repair_is_refused(extract: Any, film: bytes) -> None:
    # An MP4 written without faststart keeps its index at the end: cut that off and nothing plays.
    status, result, _ = extract(film[: len(film) // 2])
    assert status == 422, result
    assert "damaged" in result["error"] or "cannot" in result["error"] or "can read" in result["error"]


def test_video_over_the_duration_limit_is_refused(extract: Any, film: bytes, configure: Any) -> None:
    configure(max_duration_s=10)
    status, result, _ = extract(film)
    assert status == 422
    assert "limit" in result["error"] and "MEDIALENS_EXTRACT_MAX_DURATION_S" in result["error"]


def test_bad_options_are_refused(
    extract: Any, film: bytes, call_function: Call, source_url: Callable[..., str]
) -> None:
    assert extract(film, min_interval_s=0)[0] == 422
    assert extract(film, max_keyframes=0)[0] == 422
    assert extract(b"\x00" * 4096)[0] == 422
    status, result = call_function(
        "extract", {"source": {"url": source_url(film)}, "outputs": {"keyframe_1": "http://unused"}}
    )
    assert status == 422 and "keyframe_0" in result["error"]
