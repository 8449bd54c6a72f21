"""Face detectors: a box, named landmarks and a score per face, in pixels of the analysed image."""

from __future__ import annotations

import importlib.metadata
import threading
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from functions.common.contract import ModelNotInstalled
from functions.common.models import Model

from .settings import settings


@dataclass
class Detection:
    """One face: box as (left, top, right, bottom) pixels, landmarks by name, detector score."""

    box: tuple[float, float, float, float]
    score: float
    landmarks: dict[str, tuple[float, float]] = field(default_factory=dict)


class MediapipeFaces(Model[list[Detection]]):
    """mediapipe 0.10.21 legacy FaceDetection (BlazeFace; both range models ship): 6 keypoints."""

    engine = "mediapipe"
    keypoints = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear", "left_ear")

    def __init__(self) -> None:
        super().__init__()
        self.model_name = f"face_detection_{settings().mediapipe_range}_range"
        # A mediapipe graph is not safe to feed from two threads at once.
        self._graph_lock = threading.Lock()

    @property
    def version(self) -> str:
        return importlib.metadata.version("mediapipe")

    def _load(self) -> None:
        import mediapipe as mp

        self._detector = mp.solutions.face_detection.FaceDetection(
            model_selection=1 if settings().mediapipe_range == "full" else 0,
            min_detection_confidence=settings().min_detection_confidence,
        )

    def predict(self, image: np.ndarray) -> list[Detection]:
        height, width = image.shape[:2]
        with self._graph_lock:
            result = self._detector.process(image)
        faces = []
        for found in result.detections or []:
            box = found.location_data.relative_bounding_box
            left, top = max(0.0, box.xmin) * width, max(0.0, box.ymin) * height
            right = min(1.0, box.xmin + box.width) * width
            bottom = min(1.0, box.ymin + box.height) * height
            points = {
                name: (point.x * width, point.y * height)
                for name, point in zip(self.keypoints, found.location_data.relative_keypoints, strict=False)
            }
            faces.append(Detection((left, top, right, bottom), float(found.score[0]), points))
        return faces


class MtcnnFaces(Model[list[Detection]]):
    """facenet-pytorch MTCNN (P/R/O-net weights ship in the wheel): 5 landmarks.

    facenet-pytorch pins torch<2.3, so it is installed with --no-deps; it needs torchvision's nms.
    """

    engine = "facenet-pytorch-mtcnn"
    model_name = "mtcnn"
    keypoints = ("right_eye", "left_eye", "nose_tip", "mouth_right", "mouth_left")

    @property
    def version(self) -> str:
        return importlib.metadata.version("facenet-pytorch")

    def _load(self) -> None:
        try:
            from facenet_pytorch import MTCNN
        except ImportError as exc:
            raise ModelNotInstalled(
                f"MTCNN needs facenet-pytorch and torchvision, which this image lacks ({exc})"
            ) from exc
        self._mtcnn = MTCNN(keep_all=True, device="cpu", min_face_size=settings().min_face_pixels)

    def predict(self, image: np.ndarray) -> list[Detection]:
        boxes, scores, points = self._mtcnn.detect(image, landmarks=True)
        if boxes is None:
            return []
        height, width = image.shape[:2]
        minimum = settings().mtcnn_min_confidence
        faces = []
        for box, score, marks in zip(boxes, scores, points, strict=True):
            if score < minimum:
                continue
            left, top = max(0.0, float(box[0])), max(0.0, float(box[1]))
            right, bottom = min(float(width), float(box[2])), min(float(height), float(box[3]))
            named = {name: (float(x), float(y)) for name, (x, y) in zip(self.keypoints, marks, strict=True)}
            faces.append(Detection((left, top, right, bottom), float(score), named))
        return faces


DETECTORS: dict[str, type[Model[list[Detection]]]] = {"mediapipe": MediapipeFaces, "mtcnn": MtcnnFaces}


def detector() -> Model[list[Detection]]:
    """The face detector named by settings; one instance per engine and process."""
    return _detector(settings().detector)


@cache
def _detector(name: str) -> Model[list[Detection]]:
    if name not in DETECTORS:
        raise ModelNotInstalled(f"there is no face detector {name!r}: choose one of {sorted(DETECTORS)}")
    return DETECTORS[name]()
