"""pose: the cameraman's body landmarks, none where there is no person, bad input refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from analyzer_media import blank, encode, photo

from functions.pose import engines

Call = Callable[[str, dict[str, Any] | bytes], tuple[int, dict[str, Any]]]

# The cameraman and the camera he holds fill the left two thirds of skimage's camera photo;
# the tripod and the skyline to his right are not him.
PERSON_REGION = {"left": 0.0, "right": 0.7, "top": 0.1, "bottom": 1.0}
BODY = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "right_elbow",
    "left_hip",
    "right_hip",
)


def inside(mark: dict[str, Any]) -> bool:
    region = PERSON_REGION
    return region["left"] <= mark["x"] <= region["right"] and region["top"] <= mark["y"] <= region["bottom"]


def test_cameraman_through_the_handler(call_function: Call, source_url: Callable[..., str]) -> None:
    url = source_url(encode(photo("camera", long_side=640)), "image/png")
    status, result = call_function("pose", {"source": {"url": url}})
    assert status == 200, result
    assert result["engine"]["engine"] == "mediapipe" and result["engine"]["version"] == "0.10.21"
    assert result["max_people"] == 1 and len(result["people"]) == 1
    person = result["people"][0]
    assert len(person["landmarks"]) == 33
    visible = [mark for mark in person["landmarks"] if mark["visibility"] >= 0.5]
    assert len(visible) >= 25
    assert all(inside(mark) for mark in visible), [m["name"] for m in visible if not inside(m)]
    assert all(0 <= mark[axis] <= 1 for mark in person["landmarks"] for axis in ("x", "y"))
    assert "inference" in result["timing_ms"]


def test_cameraman_at_native_size_keeps_his_body_in_place() -> None:
    people = engines.engine().load().predict(np.asarray(photo("camera")))
    assert len(people) == 1
    marks = {mark["name"]: mark for mark in people[0]["landmarks"]}
    assert people[0]["visible_landmarks"] >= 25
    assert all(marks[name]["visibility"] >= 0.5 and inside(marks[name]) for name in BODY)


def test_no_person_gives_no_landmarks() -> None:
    model = engines.engine().load()
    assert model.predict(np.asarray(photo("coffee"))) == []
    assert model.predict(blank()) == []


def test_a_text_file_is_refused_with_a_reason(call_function: Call, source_url: Callable[..., str]) -> None:
    status, result = call_function(
        "pose", {"source": {"url": source_url(b"hello, not a photo", "text/plain")}}
    )
    assert status == 422
    assert "not an image" in result["error"]
