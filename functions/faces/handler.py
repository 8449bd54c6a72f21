"""OpenFaaS handler for faces: boxes, landmarks, quality and an embedding per face."""

from __future__ import annotations

from typing import Any

from functions.common import contract, images, models

from . import detectors, embedders
from .quality import quality
from .same_person import SAME_PERSON_DISTANCE
from .settings import settings


def load() -> None:
    detectors.detector().load()
    embedders.embedder().load()


def analyze(request: contract.Request) -> dict[str, Any]:
    image = images.analysis_image(request)
    pixels = images.to_array(image)
    detector, embedder = detectors.detector().load(), embedders.embedder().load()
    height, width = pixels.shape[:2]
    with request.timed("detection"):
        found = detector.predict(pixels)
    large = [
        face
        for face in found
        if min(face.box[2] - face.box[0], face.box[3] - face.box[1]) >= settings().min_face_pixels
    ]
    with request.timed("embedding"):
        vectors = dict(zip(map(id, large), embedder.predict(pixels, large), strict=True))
    faces = []
    for face in found:
        left, top, right, bottom = face.box
        vector = vectors.get(id(face))
        faces.append(
            {
                "box": {
                    "x": round(left / width, 4),
                    "y": round(top / height, 4),
                    "width": round((right - left) / width, 4),
                    "height": round((bottom - top) / height, 4),
                },
                "score": round(face.score, 4),
                "landmarks": {
                    name: {
                        "x": round(min(1.0, max(0.0, x / width)), 4),
                        "y": round(min(1.0, max(0.0, y / height)), 4),
                    }
                    for name, (x, y) in face.landmarks.items()
                },
                **quality(pixels, face),
                "embedding": None if vector is None else [round(float(value), 6) for value in vector],
                "embedding_model": embedder.model_name,
            }
        )
    return {
        "engine": models.combined_info(detector, embedder),
        "engines": {"detector": detector.info(), "embedder": embedder.info()},
        "faces": faces,
        "same_person_distance": SAME_PERSON_DISTANCE[embedder.model_name],
    }


def handle(event: Any, context: Any) -> dict[str, Any]:
    return contract.run(event, analyze)
