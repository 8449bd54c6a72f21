"""How an upload's results are read for the result view: timelines, transcripts and labels, tolerant of gaps."""

from __future__ import annotations

from scheduler.analysis import timeline as timeline_of
from ui import results


def test_a_video_timeline_is_built_from_extract_transcript_and_keyframe_steps() -> None:
    found = {
        "extract": {"duration": 6.0, "keyframes": [{"index": 0, "time": 0.0}, {"index": 1, "time": 3.0}]},
        "transcribe": {"segments": [{"start": 0.5, "end": 2.0, "text": " hello there "}]},
        "keyframes": {
            "0": {"ocr": {"lines": [{"text": "EXIT", "box": [[0, 0], [1, 0], [1, 1], [0, 1]]}]}},
            "1": {"faces": {"faces": [{"box": {"x": 0.1, "y": 0.1, "width": 0.2, "height": 0.2}, "person": "Ada"}]}},
        },
    }
    timeline = timeline_of(found)
    assert timeline is not None
    assert timeline["duration"] == 6.0
    first, second = timeline["ranges"]
    assert (first["start"], first["end"], second["start"], second["end"]) == (0.0, 3.0, 3.0, 6.0)
    assert first["text"] == ["EXIT"] and first["transcript"][0]["text"] == "hello there"
    assert second["faces"] == 1 and second["face_refs"][0]["person"] == "Ada"


def test_nothing_to_build_a_timeline_from_gives_none() -> None:
    assert timeline_of({"probe": {"media_type": "image"}}) is None
    assert timeline_of({}) is None


def test_segments_tolerate_missing_keys() -> None:
    assert results.segments({"transcribe": {"segments": [{"start": 1, "text": "hi"}, "junk", {}]}}) == [
        {"start": 1.0, "end": 1.0, "text": "hi"},
        {"start": 0.0, "end": 0.0, "text": ""},
    ]
    assert results.segments({"transcribe": {"error": "no model"}}) == []


def test_labels_merge_clip_labels_its_safety_labels_and_older_nsfw_ones_most_likely_first() -> None:
    found = {
        "clip": {"labels": [{"label": "a cat", "score": 0.7}, {"label": "a dog", "score": 0.2}],
                 "safety": [{"label": "a safe for work photo", "score": 0.9}]},
        "nsfw": {"clip_labels": [{"label": "a dog", "score": 0.4}, {"score": 1.0}]},
    }
    assert results.labels(found) == [{"label": "a safe for work photo", "score": 0.9},
                                     {"label": "a cat", "score": 0.7}, {"label": "a dog", "score": 0.4}]
    assert results.labels({"clip": None}) == []


def test_captions_are_read_for_an_image_and_for_each_keyframe_at_its_time() -> None:
    assert results.captions({"caption": {"caption": "A dog on a beach.", "tags": ["dog", "beach"]}}) == [
        {"time": None, "text": "A dog on a beach.", "tags": ["dog", "beach"]}
    ]
    video = {
        "extract": {"keyframes": [{"index": 0, "time": 0.0}, {"index": 10, "time": 31.5}, {"index": 2, "time": 4.0}]},
        "keyframes": {"10": {"caption": {"caption": "A red car."}}, "2": {"caption": {"caption": "A man."}},
                      "0": {"ocr": {}}},
    }
    assert [(item["time"], item["text"]) for item in results.captions(video)] == [(4.0, "A man."), (31.5, "A red car.")]


def test_a_summary_is_read_with_its_chapters_and_an_absent_one_is_empty() -> None:
    found = {"summarize": {"title": "Beach day", "summary": "A dog runs.", "language": "en",
                           "chapters": [{"start": 0, "end": 300.0, "title": "Arrival"}, "junk"]}}
    assert results.summary(found) == {"title": "Beach day", "summary": "A dog runs.",
                                      "chapters": [{"start": 0.0, "end": 300.0, "title": "Arrival"}]}
    assert results.summary({}) == {} and results.summary({"summarize": {"title": ""}}) == {}
