"""faces: one face per portrait, Obama's embeddings match each other and not Biden's."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import analyzer_fixtures
import numpy as np
import pytest
from analyzer_media import blank, encode, face_photo, photo

from functions.common import images
from functions.faces import detectors, embedders
from functions.faces.same_person import SAME_PERSON_DISTANCE

# Fixtures shared by the analyzer tests (tests/functions/analyzer_fixtures.py).
configure = analyzer_fixtures.configure
torchvision_ops = analyzer_fixtures.torchvision_ops

Call = Callable[[str, dict[str, Any] | bytes], tuple[int, dict[str, Any]]]
PEOPLE = ["obama", "obama2", "obama3", "biden"]
THRESHOLD = SAME_PERSON_DISTANCE["dlib-resnet-128"]


def pixels(name: str) -> np.ndarray:
    return images.to_array(images.fit_long_side(images.decode_rgb(face_photo(name))))


@pytest.fixture(scope="module")
def embeddings() -> dict[str, np.ndarray]:
    detector, embedder = detectors._detector("mediapipe").load(), embedders._embedder("dlib").load()
    found = {}
    for name in PEOPLE:
        image = pixels(name)
        faces = detector.predict(image)
        assert len(faces) == 1, name
        (found[name],) = embedder.predict(image, faces)
    return found


def test_obama_matches_obama_and_not_biden(embeddings: dict[str, np.ndarray]) -> None:
    obamas = ["obama", "obama2", "obama3"]
    for first, second in itertools.combinations(obamas, 2):
        assert embedders.distance(embeddings[first], embeddings[second]) < THRESHOLD, (first, second)
    for obama in obamas:
        assert embedders.distance(embeddings[obama], embeddings["biden"]) > THRESHOLD, obama
    assert all(vector.shape == (128,) for vector in embeddings.values())


def test_one_face_through_the_handler(call_function: Call, source_url: Callable[..., str]) -> None:
    status, result = call_function(
        "faces", {"source": {"url": source_url(face_photo("obama2"), "image/jpeg")}}
    )
    assert status == 200, result
    assert result["engine"]["engine"] == "mediapipe+dlib"
    assert result["same_person_distance"] == THRESHOLD
    (face,) = result["faces"]
    assert face["embedding_model"] == "dlib-resnet-128" and len(face["embedding"]) == 128
    box = face["box"]
    assert all(0 <= box[key] <= 1 for key in box) and box["width"] > 0.2
    assert set(face["landmarks"]) == set(detectors.MediapipeFaces.keypoints)
    for point in face["landmarks"].values():
        assert box["x"] <= point["x"] <= box["x"] + box["width"]
    assert 0.5 < face["quality"] <= 1 and face["score"] > 0.5


def test_no_faces_where_there_are_none() -> None:
    detector = detectors._detector("mediapipe").load()
    assert detector.predict(np.asarray(photo("coffee"))) == []
    assert detector.predict(blank()) == []


def test_mtcnn_finds_each_face_with_five_landmarks(torchvision_ops: None) -> None:
    detector = detectors._detector("mtcnn").load()
    for name in PEOPLE:
        (face,) = detector.predict(pixels(name))
        assert set(face.landmarks) == set(detectors.MtcnnFaces.keypoints) and face.score > 0.9
    assert detector.predict(blank()) == []


def test_mtcnn_and_dlib_through_the_handler(
    call_function: Call,
    source_url: Callable[..., str],
    configure: Callable[..., None],
    torchvision_ops: None,
) -> None:
    configure(MEDIALENS_FACES_DETECTOR="mtcnn")
    status, result = call_function(
        "faces", {"source": {"url": source_url(face_photo("biden"), "image/jpeg")}}
    )
    assert status == 200, result
    assert result["engines"]["detector"]["engine"] == "facenet-pytorch-mtcnn"
    assert len(result["faces"]) == 1 and len(result["faces"][0]["embedding"]) == 128


def test_facenet_without_weights_is_not_installed(
    call_function: Call,
    source_url: Callable[..., str],
    configure: Callable[..., None],
    tmp_path: Path,
) -> None:
    configure(MEDIALENS_FACES_EMBEDDER="facenet", MEDIALENS_FACES_FACENET_DIR=str(tmp_path))
    status, result = call_function(
        "faces", {"source": {"url": source_url(face_photo("obama"), "image/jpeg")}}
    )
    assert status == 501
    assert "20180402-114759-vggface2.pt" in result["error"] and str(tmp_path) in result["error"]


def test_a_request_without_source_is_refused(call_function: Call) -> None:
    status, result = call_function("faces", {"options": {}})
    assert status == 422 and "source" in result["error"]


def test_a_png_with_alpha_is_analysed(call_function: Call, source_url: Callable[..., str]) -> None:
    rgba = images.decode_rgb(face_photo("obama")).convert("RGBA")
    status, result = call_function("faces", {"source": {"url": source_url(encode(rgba), "image/png")}})
    assert status == 200 and len(result["faces"]) == 1
