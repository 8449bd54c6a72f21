"""The timeline: keyframe analyses and transcript segments joined into time ranges."""

from __future__ import annotations

import json
from typing import Any

import pytest

from scheduler.timeline import Timeline, TimeRange, build_timeline

# Shaped like extract's result for a 12 s video with scene changes at 4 s and 8 s.
EXTRACT: dict[str, Any] = {
    "keyframes": [
        {"index": 0, "time": 0.0, "output": "keyframe_0", "width": 320, "height": 180},
        {"index": 1, "time": 4.1, "output": "keyframe_1", "width": 320, "height": 180},
        {"index": 2, "time": 8.0, "output": "keyframe_2", "width": 320, "height": 180},
    ],
    "audio": {"output": "audio", "duration": 12.0},
    "duration": 12.0,
}

# Shaped like the image functions' results (issue 3).
ANALYSES: dict[int, dict[str, Any]] = {
    0: {
        "ocr": {"lines": [{"text": "APPLE", "box": [10, 10, 90, 40], "confidence": 0.99}]},
        "faces": {"faces": [{"box": [1, 2, 30, 40], "embedding": [0.1] * 128}]},
        "pose": {"people": [{"landmarks": []}]},
        "nsfw": {"verdict": "safe", "score": 0.01},
    },
    1: {
        "ocr": {"lines": [{"text": "BANANA", "box": [10, 10, 90, 40], "confidence": 0.97}]},
        "faces": {"faces": []},
        "pose": {"people": []},
        "nsfw": {"verdict": "questionable"},
    },
    2: {"ocr": {"lines": [{"text": "CHERRY", "box": [0, 0, 5, 5], "confidence": 0.9}, {"text": "PIE"}]}},
}

TRANSCRIPT = [
    {"start": 0.4, "end": 4.3, "text": "The quick brown fox jumps over the lazy dog."},
    {"start": 8.3, "end": 11.4, "text": "Please send the report to the team before Friday."},
]


def test_words_and_speech_land_in_their_ranges() -> None:
    ranges = build_timeline(EXTRACT, ANALYSES, TRANSCRIPT).ranges
    assert [(r.start, r.end) for r in ranges] == [(0.0, 4.1), (4.1, 8.0), (8.0, 12.0)]
    assert [r.text for r in ranges] == [["APPLE"], ["BANANA"], ["CHERRY", "PIE"]]
    # The fox sentence runs 0.2 s into the second range: Whisper's end times are that loose.
    assert [[s["text"][:10] for s in r.transcript] for r in ranges] == [["The quick "], [], ["Please sen"]]
    assert [r.keyframe for r in ranges] == [0, 1, 2]


def test_face_pose_and_nsfw_fields() -> None:
    first, second, third = build_timeline(EXTRACT, ANALYSES, TRANSCRIPT).ranges
    assert (first.faces, first.pose, first.nsfw) == (1, 1, "safe")
    assert first.face_refs == [{"keyframe": 0, "face": 0, "box": [1, 2, 30, 40]}]
    assert (second.faces, second.pose, second.nsfw) == (0, 0, "questionable")
    assert (third.faces, third.pose, third.nsfw) == (0, 0, None)


def test_a_long_segment_belongs_to_every_range_it_spans() -> None:
    speech = [{"start": 3.0, "end": 9.0, "text": "a long monologue"}]
    ranges = build_timeline(EXTRACT, {}, speech).ranges
    assert [len(r.transcript) for r in ranges] == [1, 1, 1]


def test_short_segment_on_a_boundary_goes_to_one_range() -> None:
    speech = [{"start": 3.9, "end": 4.3, "text": "hi"}, {"start": 6.0, "end": 6.0, "text": "instant"}]
    ranges = build_timeline(EXTRACT, {}, speech).ranges
    assert sum(len(r.transcript) for r in ranges) == 2
    assert ranges[1].transcript[-1]["text"] == "instant"


def test_missing_steps_keys_and_string_indices_are_tolerated() -> None:
    analyses: dict[Any, Any] = {
        "0": {"faces": None, "ocr": {}},
        "1": None,
        2: {"nsfw": {}, "pose": {"people": None}},
    }
    extract = {
        "keyframes": [{"index": 0, "time": 0.5}, {"index": 1, "time": 5}, {"index": 2}],
        "duration": None,
    }
    timeline = build_timeline(extract, analyses, [{"start": 1, "end": 2}])
    assert [(r.start, r.end) for r in timeline.ranges] == [(0.0, 5.0), (5.0, 5.0)]
    assert timeline.duration == 5.0
    assert all(r.faces == 0 and r.text == [] and r.nsfw is None for r in timeline.ranges)
    assert timeline.ranges[0].transcript == [{"start": 1.0, "end": 2.0, "text": ""}]


def test_without_keyframes_one_range_holds_the_transcript() -> None:
    timeline = build_timeline(None, None, TRANSCRIPT)
    assert len(timeline.ranges) == 1
    only = timeline.ranges[0]
    assert (only.start, only.end, only.keyframe) == (0.0, 11.4, None)
    assert len(only.transcript) == 2
    assert build_timeline({}, {}, []).to_dict() == {
        "duration": 0.0,
        "ranges": [TimeRange(0.0, 0.0).to_dict()],
    }


def test_round_trips_through_json() -> None:
    timeline = build_timeline(EXTRACT, ANALYSES, TRANSCRIPT)
    data = json.loads(json.dumps(timeline.to_dict()))
    assert Timeline.from_dict(data) == timeline
    assert "embedding" not in json.dumps(data)


def test_a_range_cannot_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        TimeRange(start=5.0, end=4.0)
