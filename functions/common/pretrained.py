"""Models read from a local transformers directory: never from the hub, on this process's device."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .device import device


def transformers_version() -> str:
    import transformers

    return str(transformers.__version__)


def load_pretrained(model_class: Any, directory: Path) -> tuple[Any, str]:
    """``model_class`` from ``directory`` (local files only), on the device, in eval mode, and its name."""
    model: Any = model_class.from_pretrained(directory, local_files_only=True)
    model = model.to(device()).eval()
    return model, Path(str(getattr(model.config, "_name_or_path", "") or directory)).name
