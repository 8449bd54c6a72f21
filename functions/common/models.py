"""The shape of every analysis engine: load once per process, then predict; unload when idle.

Adding an engine is adding one subclass; a function picks its engine by setting. A model that no
call has used for `model_idle_s` is unloaded and loaded again on the next call that needs it (as
Immich's machine-learning service does), so a process serving many functions holds only the
models its current work uses.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

from . import contract
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
    # Without its own arena a session's buffers go back to malloc after each run, and so to the system with
    # the host's heap trims: nsfw's two sessions held 25 MiB less after 32 pictures, at the same speed
    # (measured, issue 17). rapidocr turns its arena off by default too.
    options.enable_cpu_mem_arena = False
    return options


# Every model of the process, and the models each call in flight has loaded: a model in use by a
# call is never unloaded, and `_activity` orders "a call takes a model" against "the model is unloaded".
_models: weakref.WeakSet[Model[Any]] = weakref.WeakSet()
_call_models: ContextVar[set[Model[Any]] | None] = ContextVar("medialens_call_models", default=None)
_activity = threading.Lock()
_in_flight = 0  # calls running in this process, counted under `_activity`
_last_call = 0.0  # when a call last started or ended (time.monotonic)
_ended = threading.Event()  # a call ended since the heap was last trimmed
_watching = threading.Event()
# The heap is trimmed once no call has run for QUIET_S, and at most every BUSY_TRIM_S while calls keep coming:
# each trim hands back pages the next calls fault in again (OCR took 15 % more CPU per image in the pipeline
# with a trim every second, issue 17).
QUIET_S = 1.0
BUSY_TRIM_S = 10.0


class Model(ABC, Generic[Output]):
    """An engine: ``load()`` once (thread-safe, lazily), then ``predict()`` many times."""

    engine: str = ""
    model_name: str = ""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded = False
        self._users = 0
        self._used = time.monotonic()
        self._held: list[str] = []  # what `_load` set: dropped by `unload`
        _models.add(self)

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
        """Loads the model unless it is loaded; inside a call, the call holds it until it ends."""
        with _activity:
            using = _call_models.get()
            if using is not None and self not in using:
                using.add(self)
                self._users += 1
            self._used = time.monotonic()
        if self._loaded:
            return self
        with self._lock:
            if not self._loaded:
                limit_threads()
                logger.info("loading engine %s (%s)", self.engine, self.model_name)
                before = set(vars(self))
                with _LOADING:
                    self._load()
                self._held = sorted(set(vars(self)) - before)
                self._loaded = True
        return self

    def unload(self) -> bool:
        """Drops what `_load` made (closing what can be closed); False when nothing was loaded."""
        with self._lock:
            if not self._loaded:
                return False
            for name in self._held:
                close = getattr(vars(self).pop(name, None), "close", None)
                if callable(close):
                    try:
                        close()
                    except Exception:  # an engine that cannot close cleanly is still dropped
                        logger.warning("closing %s of engine %s failed", name, self.engine, exc_info=True)
            self._held, self._loaded = [], False
        logger.info("unloaded engine %s (%s)", self.engine, self.model_name)
        return True

    @property
    def loaded(self) -> bool:
        return self._loaded

    def info(self) -> dict[str, str]:
        return {"engine": self.engine, "model": self.model_name, "version": self.version}


@contextmanager
def call() -> Iterator[None]:
    """One call of a function: the models it loads stay loaded until it ends."""
    global _in_flight, _last_call
    watch_idle()
    token = _call_models.set(set())
    with _activity:
        _in_flight += 1
        _last_call = time.monotonic()
    try:
        yield
    finally:
        used = _call_models.get() or set()
        _call_models.reset(token)
        with _activity:
            _in_flight -= 1
            now = _last_call = time.monotonic()
            for model in used:
                model._users -= 1
                model._used = now
        _ended.set()


def unload_idle(idle_s: float) -> list[Model[Any]]:
    """Unloads every loaded model that no call in flight holds and none has used for ``idle_s``."""
    unloaded: list[Model[Any]] = []
    with _activity:
        now = time.monotonic()
        for model in list(_models):
            if model.loaded and model._users == 0 and now - model._used >= idle_s and model.unload():
                unloaded.append(model)
    if unloaded:
        _return_memory()
    return unloaded


def watch_idle() -> None:
    """Starts, once per process, the thread that unloads idle models (none when `model_idle_s` is 0) and gives
    back to the system the heap that ended calls freed: once no call has run for `QUIET_S`, or every
    `BUSY_TRIM_S` while calls keep coming."""
    if _watching.is_set():
        return
    _watching.set()

    def watch() -> None:
        trimmed = time.monotonic()
        while True:
            idle = settings().model_idle_s  # read each time: a changed setting applies without a restart
            time.sleep(min(max(idle / 4, 0.05), 1.0) if idle > 0 else 1.0)
            try:
                if idle > 0:
                    unload_idle(idle)
                if _ended.is_set() and (quiet() or time.monotonic() - trimmed >= BUSY_TRIM_S):
                    _ended.clear()
                    trim_heap()
                    trimmed = time.monotonic()
            except Exception:  # the watcher must outlive one engine that fails to unload
                logger.exception("unloading idle models failed")

    threading.Thread(target=watch, name="unload-idle-models", daemon=True).start()


def quiet() -> bool:
    """No call runs, and none started or ended for `QUIET_S`: the gaps between one worker's calls are not quiet."""
    with _activity:
        return _in_flight == 0 and time.monotonic() - _last_call >= QUIET_S


def trim_heap() -> None:
    """Gives back to the system the pages that freed memory left whole inside glibc's heap, wherever they
    lie (glibc itself returns only what is free at the heap's top). A call's tensors and buffers leave such
    pages behind: in the functions host after 24 pictures of six analyzers, 1,915 MiB held without trimming
    and 1,602 with it (measured, issue 17)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the pools stay with the process
        pass


def _return_memory() -> None:
    """Frees the dropped models' memory back to the system, not only to Python's and glibc's pools."""
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
    trim_heap()


def combined_info(*models: Model[Any]) -> dict[str, str]:
    """One ``engine`` entry for a result that several engines produced together."""
    return {key: "+".join(model.info()[key] for model in models) for key in ("engine", "model", "version")}


def require_dir(path: os.PathLike[str] | str, what: str) -> None:
    """Raises ModelNotInstalled unless ``path`` is a non-empty directory."""
    if not os.path.isdir(path) or not os.listdir(path):
        raise contract.ModelNotInstalled(
            f"{what} is not installed: put its weights in {os.fspath(path)} (run `make models`)"
        )
