"""The analysis document: per-keyframe results nested, and documents of the previous, flat format read alike."""

from __future__ import annotations

from typing import Any

from redis import Redis

from scheduler.analysis import FORMAT, function_results, keyframe_results, nested, readable
from scheduler.steps import analysis
from scheduler.uploads import State, Step, StepState, Upload, Uploads
from ui.cli import step_results

EXTRACT = {"duration": 8.0, "keyframes": [{"index": 0, "time": 0.0}, {"index": 2, "time": 4.0}]}
OCR_0 = {"lines": [{"text": "EXIT"}], "engine": {"version": "1"}}
OCR_2 = {"lines": [{"text": "ENTRANCE"}], "engine": {"version": "2"}}
FACES_2 = {"faces": [{"box": {"x": 0.1, "y": 0.1, "width": 0.2, "height": 0.2}}]}
SPEECH = {"segments": [{"start": 5.0, "end": 6.0, "text": "hello"}]}

# As the previous version stored a video's analysis: keyframe results flat, under their step names.
OLD_DOCUMENT: dict[str, Any] = {
    "upload": {"id": "u1", "key": "film.mp4", "state": "done"},
    "media_type": "video",
    "steps": {"probe": {"name": "probe"}, "ocr@0": {"name": "ocr@0"}},
    "results": {"probe": {"media_type": "video"}, "extract": EXTRACT, "ocr@0": OCR_0, "ocr@2": OCR_2,
                "faces@2": FACES_2, "transcribe": SPEECH},
    "artefacts": {"keyframe_0.jpg": "u1/keyframe_0.jpg"},
}
NESTED_RESULTS = {
    "probe": {"media_type": "video"}, "extract": EXTRACT, "transcribe": SPEECH,
    "keyframes": {"0": {"ocr": OCR_0}, "2": {"ocr": OCR_2, "faces": FACES_2}},
}


def test_step_results_nest_per_keyframe() -> None:
    assert nested(OLD_DOCUMENT["results"]) == NESTED_RESULTS
    assert nested({"probe": {}, "faces": FACES_2}) == {"probe": {}, "faces": FACES_2}, "an image nests nothing"
    assert list(nested({"ocr@10": {}, "ocr@9": {}})["keyframes"]) == ["9", "10"], "in keyframe order"


def test_a_document_of_the_previous_format_is_read_in_the_current_shape() -> None:
    document = readable(OLD_DOCUMENT)
    assert document["format"] == FORMAT
    assert document["results"] == NESTED_RESULTS
    assert {key: document[key] for key in ("upload", "media_type", "steps", "artefacts")} == {
        key: OLD_DOCUMENT[key] for key in ("upload", "media_type", "steps", "artefacts")
    }
    assert readable(document) == document, "a current document passes unchanged"


def test_readers_take_results_by_function_and_keyframe() -> None:
    assert keyframe_results(NESTED_RESULTS) == {0: {"ocr": OCR_0}, 2: {"ocr": OCR_2, "faces": FACES_2}}
    assert keyframe_results({"probe": {}}) == {}
    assert function_results(NESTED_RESULTS, "ocr") == [OCR_0, OCR_2]
    assert function_results({"ocr": OCR_0}, "ocr") == [OCR_0]
    assert function_results(NESTED_RESULTS, "pose") == []


def test_the_finished_document_nests_keyframes_and_joins_them_into_the_timeline() -> None:
    record = Upload(id="u1", bucket="uploads", key="film.mp4", etag="e", size=3, media_type="video")
    steps = {"ocr@2": Step("ocr@2", StepState.DONE, artefacts={})}
    document = analysis(record, steps, NESTED_RESULTS, State.DONE, "")
    assert document["format"] == FORMAT and document["results"] == NESTED_RESULTS
    first, second = document["timeline"]["ranges"]
    assert (first["keyframe"], first["text"]) == (0, ["EXIT"])
    assert (second["keyframe"], second["text"], second["faces"]) == (2, ["ENTRANCE"], 1)
    assert second["transcript"][0]["text"] == "hello"


def test_results_in_redis_are_read_nested(redis_db: Redis) -> None:
    records = Uploads(redis_db)
    upload = Upload(id="u1", bucket="uploads", key="film.mp4", etag="e", size=1)
    records.create(upload)  # results are kept only for an upload that exists
    for step, result in OLD_DOCUMENT["results"].items():
        records.put_result(upload.id, step, result)
    assert records.results(upload.id) == NESTED_RESULTS


def test_the_command_line_prints_each_result_under_its_step_name() -> None:
    assert step_results(NESTED_RESULTS) == [
        ("probe", {"media_type": "video"}), ("extract", EXTRACT), ("transcribe", SPEECH),
        ("ocr@0", OCR_0), ("ocr@2", OCR_2), ("faces@2", FACES_2),
    ]
