"""Per-function defaults in one place: how long a call may take and how heavy it is.

Timeouts match `exec_timeout` in stack.yml (a test checks it). Heavy functions are the ones a
GPU node may take over; light ones never leave the VPS.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FunctionPolicy:
    timeout_s: float
    heavy: bool = False


FUNCTIONS: dict[str, FunctionPolicy] = {
    "probe": FunctionPolicy(timeout_s=30),
    "thumbnail": FunctionPolicy(timeout_s=30),
    "extract": FunctionPolicy(timeout_s=300),
    "pose": FunctionPolicy(timeout_s=60),
    "nsfw": FunctionPolicy(timeout_s=60),
    "transcribe": FunctionPolicy(timeout_s=120, heavy=True),
    "clip": FunctionPolicy(timeout_s=60, heavy=True),
    "faces": FunctionPolicy(timeout_s=60, heavy=True),
    "ocr": FunctionPolicy(timeout_s=60, heavy=True),
}

FALLBACK = FunctionPolicy(timeout_s=60)


def policy(function: str) -> FunctionPolicy:
    return FUNCTIONS.get(function, FALLBACK)
