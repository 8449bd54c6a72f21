"""The closing step: a recording's summary is planned from what every other step found, and only then."""

from __future__ import annotations

from scheduler import plans
from scheduler.analysis import nested

VIDEO = nested({
    "probe": {"media_type": "video", "duration": 20.0},
    "extract": {"duration": 20.0, "keyframes": [{"index": 0, "time": 0.0}, {"index": 1, "time": 9.5}]},
    "transcribe": {"language": "de", "segments": [{"start": 1.0, "end": 2.5, "text": " Guten  Tag "},
                                                  {"start": 3.0, "end": 3.5, "text": "  "}]},
    "caption@0": {"caption": "A dog on a beach.", "tags": ["dog"]},
    "ocr@1": {"text": "SALE\n50 %"},
    "caption@1": {"caption": ""},
})


def test_a_video_is_summarized_from_its_transcript_captions_and_screen_text() -> None:
    (step,) = plans.closing("video", VIDEO)
    assert (step.name, step.function, step.source) == ("summarize", "summarize", "upload")
    assert step.options == {
        "transcript": [{"start": 1.0, "end": 2.5, "text": "Guten Tag"}],
        "captions": [{"time": 0.0, "text": "A dog on a beach."}],
        "screen_text": [{"time": 9.5, "text": "SALE 50 %"}],
        "language": "de",
        "duration": 20.0,
    }


def test_audio_is_summarized_and_images_are_not() -> None:
    audio = {"probe": {"media_type": "audio", "duration": 5.0},
             "transcribe": {"language": "en", "segments": [{"start": 0.0, "end": 1.0, "text": "hello"}]}}
    assert [step.name for step in plans.closing("audio", audio)] == ["summarize"]
    assert plans.closing("image", {"caption": {"caption": "A dog."}}) == []


def test_a_recording_with_nothing_said_written_or_seen_gets_no_summary_step() -> None:
    silent = nested({"probe": {"media_type": "video"}, "extract": {"keyframes": [{"index": 0, "time": 0.0}]},
                     "caption@0": {"caption": ""}, "ocr@0": {"text": ""}})
    assert plans.closing("video", silent) == []
