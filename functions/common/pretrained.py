"""Models read from a local transformers directory: never from the hub, on this process's device, in the
float type this machine computes best."""

from __future__ import annotations

import warnings
from functools import cache
from pathlib import Path
from typing import Any, Literal

from .device import device

FloatType = Literal["float32", "bfloat16"]
FloatPrecision = Literal["auto", FloatType]
PRECISION_HELP = (
    "The model's float type. auto: bfloat16 on a CPU that computes it in hardware (AVX512-BF16 or AMX), half "
    "the memory and faster (`make bench`), else float32; a GPU keeps float32. Embeddings and words can differ "
    "slightly between the two; the result names the one that made it."
)
# x86 CPU flags (/proc/cpuinfo) of a bfloat16 dot product in hardware; without one, torch emulates it, slowly.
# An ARM CPU lists "Features" instead: it keeps float32, the safe choice.
BFLOAT16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def transformers_version() -> str:
    import transformers

    return str(transformers.__version__)


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The flags of the first processor in a /proc/cpuinfo text."""
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


@cache
def native_bfloat16() -> bool:
    """True where this machine's CPU multiplies bfloat16 in hardware."""
    try:
        return bool(cpu_flags(Path("/proc/cpuinfo").read_text()) & BFLOAT16_FLAGS)
    except OSError:  # not Linux: float32, the safe choice
        return False


def float_precision(requested: FloatPrecision, on: str) -> FloatType:
    """The float type a model runs in on device ``on``: ``requested``, with "auto" made a choice."""
    if requested != "auto":
        return requested
    return "bfloat16" if on == "cpu" and native_bfloat16() else "float32"


def torch_dtype(precision: FloatType) -> Any:
    import torch

    return getattr(torch, precision)


def load_pretrained(model_class: Any, directory: Path, precision: FloatType | None = None) -> tuple[Any, str]:
    """``model_class`` from ``directory`` (local files only), on the device, in eval mode, and its name; in
    ``precision``, or in the checkpoint's own where None."""
    dtype = torch_dtype(precision) if precision else "auto"
    model: Any = model_class.from_pretrained(directory, local_files_only=True, dtype=dtype)
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
