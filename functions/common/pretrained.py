"""Models read from a local transformers directory: never from the hub, on this process's device."""

from __future__ import annotations

import warnings
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


def int8_linear(model: Any) -> Any:
    """``model``, every linear layer turned in place into one with int8 weights that quantizes its input per call
    (CPU only); in place, so the float32 copy of each layer is freed as it goes."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    with torch.no_grad():
        # Every tensor that stays float32 (biases, embeddings, norms) gets its own copy: while one still points
        # into the mapped weights file, the whole file, float32 linear layers included, stays mapped.
        for layer in model.modules():
            if isinstance(layer, torch.nn.Linear) and layer.bias is not None:
                layer.bias.data = layer.bias.data.clone()
        with warnings.catch_warnings():
            # torch points at torchao for new work; this API is the one that runs on torch's CPU wheel alone.
            warnings.filterwarnings("ignore", "torch.ao.quantization", DeprecationWarning)
            warnings.filterwarnings("ignore", "torch.quantize_per_tensor", UserWarning)
            quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
        for tensor in [*model.parameters(), *model.buffers()]:
            tensor.data = tensor.data.clone()
    return model
