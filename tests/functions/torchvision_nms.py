"""Test-only stand-ins for torchvision's C++ NMS operators, which fail on this machine's torch build.

torchvision 0.28 has no CPU ops matching torch 2.13 here, and importing it fails while its C++
operators are missing. Product images install a working CPU torchvision; tests define the two
operators in pure torch before anything imports torchvision (easyocr, facenet-pytorch's MTCNN).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

_library: torch.library.Library | None = None


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression: indices of kept boxes, highest score first."""
    order = scores.argsort(descending=True)
    boxes = boxes.float()
    areas = (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
    keep: list[int] = []
    while order.numel() > 0:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        top_left = torch.maximum(boxes[best, :2], boxes[rest, :2])
        bottom_right = torch.minimum(boxes[best, 2:], boxes[rest, 2:])
        overlap = (bottom_right - top_left).clamp(min=0).prod(dim=1)
        iou = overlap / (areas[best] + areas[rest] - overlap)
        order = rest[iou <= iou_threshold]
    return torch.tensor(keep, dtype=torch.int64)


def install() -> None:
    """Defines torchvision::nms and torchvision::qnms unless torchvision's own operators load."""
    global _library
    if _library is not None or _real_ops_load():
        return
    _library = torch.library.Library("torchvision", "DEF")
    for name in ("nms", "qnms"):
        _library.define(f"{name}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _library.impl(name, nms, "CPU")
    import torchvision.extension

    # torchvision checks for its compiled library before calling an operator.
    torchvision.extension._has_ops = lambda: True  # type: ignore[attr-defined]


def _real_ops_load() -> bool:
    spec = importlib.util.find_spec("torchvision")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        for library in Path(folder).glob("_C*.so"):
            try:
                torch.ops.load_library(str(library))
                return True
            except (OSError, ImportError, RuntimeError):
                continue
    return False
