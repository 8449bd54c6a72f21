"""How usable a detected face is for recognition, as one number in 0..1.

quality = detector score x size x sharpness, where size = min(1, short side / 80 px) and
sharpness = min(1, variance of the Laplacian of the face resized to 112 x 112 grey / 100).
Faces under about 80 px or blurred faces give less reliable embeddings; the parts are reported
too, so a consumer can apply its own rule.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from .detectors import Detection

FULL_SIZE_PIXELS = 80.0
FULL_SHARPNESS = 100.0


def quality(image: np.ndarray, face: Detection) -> dict[str, Any]:
    left, top, right, bottom = (round(value) for value in face.box)
    short_side = max(0, min(right - left, bottom - top))
    crop = image[max(0, top) : max(0, bottom), max(0, left) : max(0, right)]
    sharpness = 0.0
    if crop.size:
        grey = cv2.cvtColor(cv2.resize(crop, (112, 112), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        sharpness = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    size_part = min(1.0, short_side / FULL_SIZE_PIXELS)
    sharp_part = min(1.0, sharpness / FULL_SHARPNESS)
    return {
        "quality": round(face.score * size_part * sharp_part, 4),
        "face_pixels": short_side,
        "sharpness": round(sharpness, 1),
    }
