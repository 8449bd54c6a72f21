"""The shape of every analysis engine: load once per process, then predict.

Adding an engine is adding one subclass; a function picks its engine by setting.
"""

from __future__ import annotations

import logging
import os
import threading
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

from .contract import ModelNotInstalled
from .settings import settings

logger = logging.getLogger(__name__)

Output = TypeVar("Output")

# One model loads at a time in a process: transformers builds a model on the meta device by patching
# torch for the time of from_pretrained, process-wide, so a second model loading beside it in another
# thread (the functions host loads every function's model at once) was left with meta tensors.
_LOADING = threading.Lock()


def limit_threads() -> None:
    """One inference thread per worker process: more threads on shared cores run slower."""
    count = settings().threads
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(variable, str(count))
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(count)
    if torch.get_num_interop_threads() != count:
        try:
            torch.set_num_interop_threads(count)
        except RuntimeError:  # already set once in this process
            pass


def onnx_session_options() -> Any:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = settings().threads
    options.inter_op_num_threads = 1
    return options


class Model(ABC, Generic[Output]):
    """An engine: ``load()`` once (thread-safe, lazily), then ``predict()`` many times."""

    engine: str = ""
    model_name: str = ""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded = False

    @abstractmethod
    def _load(self) -> None:
        """Loads weights; raises ModelNotInstalled naming what is missing."""

    @abstractmethod
    def predict(self, *args: Any, **kwargs: Any) -> Output:
        """Runs inference on a loaded model."""

    @property
    def version(self) -> str:
        return ""

    def load(self) -> Model[Output]:
        if self._loaded:
            return self
        with self._lock:
            if not self._loaded:
                limit_threads()
                logger.info("loading engine %s (%s)", self.engine, self.model_name)
                with _LOADING:
                    self._load()
                self._loaded = True
        return self

    @property
    def loaded(self) -> bool:
        return self._loaded

    def info(self) -> dict[str, str]:
        return {"engine": self.engine, "model": self.model_name, "version": self.version}


def combined_info(*models: Model[Any]) -> dict[str, str]:
    """One ``engine`` entry for a result that several engines produced together."""
    return {key: "+".join(model.info()[key] for model in models) for key in ("engine", "model", "version")}


def require_dir(path: os.PathLike[str] | str, what: str) -> None:
    """Raises ModelNotInstalled unless ``path`` is a non-empty directory."""
    if not os.path.isdir(path) or not os.listdir(path):
        raise ModelNotInstalled(
            f"{what} is not installed: put its weights in {os.fspath(path)} (run `make models`)"
        )
