"""Which device the models of this process run on: "cuda" on a GPU node, else "cpu"."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def device() -> str:
    try:
        import torch
    except ImportError:  # functions without torch (onnxruntime, mediapipe) run on the CPU here
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"
