"""Pose engines: body landmarks per person, normalised to the upright image."""

from __future__ import annotations

import threading
from functools import cache
from typing import Any

import numpy as np

from functions.common.contract import ModelNotInstalled
from functions.common.models import Model

from .settings import settings

Person = dict[str, Any]


class MediapipePose(Model[list[Person]]):
    """mediapipe 0.10.21 legacy ``solutions.pose``: one person per image, 33 landmarks.

    Only model_complexity=1 ships in the wheel (0 and 2 would download), and the legacy
    graph finds at most one person, so ``people`` has zero or one entry.
    """

    engine = "mediapipe"
    model_name = "pose_landmark_full (solutions.pose, model_complexity=1)"

    def __init__(self) -> None:
        super().__init__()
        # A mediapipe graph is not safe to feed from two threads at once.
        self._graph_lock = threading.Lock()

    @property
    def version(self) -> str:
        import mediapipe

        return str(mediapipe.__version__)

    def _load(self) -> None:
        import mediapipe as mp

        self._names = [landmark.name.lower() for landmark in mp.solutions.pose.PoseLandmark]
        self._pose = mp.solutions.pose.Pose(
            static_image_mode=True,
            model_complexity=1,
            min_detection_confidence=settings().min_detection_confidence,
        )

    def predict(self, image: np.ndarray) -> list[Person]:
        with self._graph_lock:
            result = self._pose.process(image)
        if result.pose_landmarks is None:
            return []
        threshold = settings().visible_threshold
        landmarks = [
            {
                "name": name,
                # Out-of-frame landmarks are clamped to the edge; their visibility is low.
                "x": _unit(point.x),
                "y": _unit(point.y),
                "z": round(float(point.z), 4),
                "visibility": round(float(point.visibility), 4),
            }
            for name, point in zip(self._names, result.pose_landmarks.landmark, strict=True)
        ]
        visible = [mark for mark in landmarks if mark["visibility"] >= threshold]
        return [
            {
                "landmarks": landmarks,
                "visible_landmarks": len(visible),
                "box": _box_around(visible or landmarks),
                "score": round(float(np.mean([mark["visibility"] for mark in landmarks])), 4),
            }
        ]


ENGINES: dict[str, type[Model[list[Person]]]] = {"mediapipe": MediapipePose}


def engine() -> Model[list[Person]]:
    """The pose engine named by settings; one instance per engine and process."""
    return _engine(settings().engine)


@cache
def _engine(name: str) -> Model[list[Person]]:
    if name not in ENGINES:
        raise ModelNotInstalled(f"there is no pose engine {name!r}: choose one of {sorted(ENGINES)}")
    return ENGINES[name]()


def _unit(value: float) -> float:
    return round(min(1.0, max(0.0, float(value))), 4)


def _box_around(points: list[dict[str, Any]]) -> dict[str, float]:
    xs = [point["x"] for point in points]
    ys = [point["y"] for point in points]
    return {
        "x": min(xs),
        "y": min(ys),
        "width": round(max(xs) - min(xs), 4),
        "height": round(max(ys) - min(ys), 4),
    }
