"""Names that travel: a step, a keyframe, its artefact and its picture, written and read in one grammar."""

from __future__ import annotations

import pytest

from scheduler import plans
from scheduler.names import Keyframe, MalformedName, StepName
from scheduler.settings import SchedulerSettings


@pytest.mark.parametrize("text", ["probe", "ocr", "ocr@0", "faces@3", "clip@127", "face-embed@2"])
def test_a_step_name_reads_back_as_it_was_written(text: str) -> None:
    assert StepName.parse(text).to_str() == text
    name = StepName.parse(text)
    assert StepName.parse(str(name)) == name


def test_a_step_name_holds_its_function_and_keyframe() -> None:
    assert StepName.parse("ocr@3") == StepName("ocr", Keyframe(3))
    assert StepName.parse("transcribe") == StepName("transcribe")
    assert StepName("faces", Keyframe(0)).to_str() == "faces@0"
    assert StepName.parse("transcribe").keyframe is None


@pytest.mark.parametrize(
    "text", ["", "@3", "ocr@", "ocr@-1", "ocr@03", "ocr@3@4", "ocr@x", "ocr@³", "OCR", "3ocr", "faces_kf3",
             "keyframe_3_faces", "ocr 3", "my_fn"],
)
def test_a_malformed_step_name_is_refused_saying_what_a_name_looks_like(text: str) -> None:
    with pytest.raises(MalformedName) as refused:
        StepName.parse(text)
    assert repr(text) in str(refused.value) and "'ocr@3'" in str(refused.value)


def test_a_keyframe_names_its_artefact_its_picture_and_its_document_key() -> None:
    keyframe = Keyframe(3)
    assert (keyframe.output, keyframe.artefact, keyframe.picture, keyframe.key) == (
        "keyframe_3", "keyframe_3.jpg", "kf3", "3"
    )
    assert Keyframe.from_picture("kf3") == keyframe == Keyframe.from_key("3")
    assert sorted([Keyframe(10), Keyframe(2)]) == [Keyframe(2), Keyframe(10)]


@pytest.mark.parametrize("picture", ["image", "kf", "kf03", "kfx", "kf-1", "keyframe_3", "3"])
def test_a_picture_that_is_no_keyframe_is_refused(picture: str) -> None:
    with pytest.raises(MalformedName, match="names no keyframe"):
        Keyframe.from_picture(picture)


@pytest.mark.parametrize("index", [-1, True, 1.0, "3"])
def test_a_keyframe_index_is_a_whole_number_from_zero(index: object) -> None:
    with pytest.raises(MalformedName, match="whole number"):
        Keyframe(index)  # type: ignore[arg-type]


def test_steps_planned_on_keyframes_are_named_and_fed_through_the_name_object() -> None:
    extract = plans.StepSpec("extract", "extract")
    result = {"keyframes": [{"index": 0, "time": 0.0, "output": "keyframe_0"},
                            {"index": 4, "time": 9.5, "output": "keyframe_4"}]}
    planned = plans.after(extract, result, SchedulerSettings().plan_settings())
    assert {(StepName.parse(spec.name), spec.source) for spec in planned} == {
        (StepName(function, Keyframe(index)), Keyframe(index).artefact)
        for index in (0, 4)
        for function in plans.IMAGE_ANALYZERS
    }
    assert all(spec.function == StepName.parse(spec.name).function for spec in planned)
    probe = plans.after(plans.PROBE, {"media_type": "video"}, SchedulerSettings(max_keyframes=2).plan_settings())
    assert [spec.outputs for spec in probe if spec.function == "extract"] == [
        ("keyframe_0.jpg", "keyframe_1.jpg", "audio.wav")
    ]
