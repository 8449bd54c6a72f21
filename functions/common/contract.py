"""The request/response contract every medialens function follows.

A request is JSON: ``{"source": {"url": ...}, "outputs": {name: put_url}, "options": {...}}``.
Inputs travel by reference (presigned URLs), never as bytes through the gateway, and every URL
must name one of the stores in MEDIALENS_FN_ALLOWED_ORIGINS (functions/common/transfer.py).
Responses: 200 with the result; 422 when the input is bad (permanent, the reason is for a
person; a URL outside the allow-list too); 501 when the engine's model is not installed; 502
when the store refuses; 503 while the model is loading, the store cannot be reached or the engine's
service is busy (all waited for by the scheduler, not held against the file).
"""

from __future__ import annotations

import json
import logging
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import models, spool, transfer
from .settings import settings

logger = logging.getLogger(__name__)


class InputError(Exception):
    """The input cannot be analysed; the message says why, in words a person understands."""


class ModelNotInstalled(Exception):
    """The engine's weights are not present; the message names the directory to fill."""


class ModelLoading(Exception):
    """The engine is still loading its model; try again shortly."""


class EngineBusy(Exception):
    """The engine's service is down, slow or rate-limited (an endpoint's 429): no fault of the file, so
    the caller is told to come back after ``retry_after_s`` (503 with Retry-After)."""

    def __init__(self, message: str, retry_after_s: float = 5.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass
class Request:
    source_url: str | None
    outputs: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)
    spooled: list[Path] = field(default_factory=list)
    # The version of the object the upload is: a later upload of the same key is not read instead.
    source_etag: str | None = None

    @classmethod
    def from_body(cls, body: bytes) -> Request:
        try:
            data = json.loads(body or b"{}")
        except ValueError as exc:  # not JSON, or bytes that are no text at all
            raise InputError(f"request body is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise InputError("request body must be a JSON object")
        source = data.get("source") or {}
        if not isinstance(source, dict):
            raise InputError("'source' must be an object with a 'url'")
        outputs = data.get("outputs") or {}
        options = data.get("options") or {}
        if not isinstance(outputs, dict) or not isinstance(options, dict):
            raise InputError("'outputs' and 'options' must be objects")
        etag = source.get("etag")
        return cls(source_url=source.get("url"), outputs=outputs, options=options,
                   source_etag=str(etag) if etag else None)

    def fetch_source(self) -> transfer.Source:
        """The input, spooled to a local file that lives until the request ends."""
        if not self.source_url:
            raise InputError("request names no source: send {'source': {'url': <presigned GET>}}")
        named = spool.prefix()  # the first call's sweep is no part of its fetch
        with self.timed("fetch"), tempfile.NamedTemporaryFile(prefix=named, delete=False) as copy:
            self.spooled.append(Path(copy.name))
            transfer.fetch(self.source_url, settings().max_input_bytes, copy, self.source_etag)
        return Path(copy.name)

    def close(self) -> None:
        for path in self.spooled:
            path.unlink(missing_ok=True)
        self.spooled.clear()

    def put_output(self, name: str, data: bytes, content_type: str, timing: str = "") -> bool:
        """Writes an artefact through its presigned PUT URL; False when none was given.

        The time it takes adds to ``timing_ms[timing]`` (default ``put_<name>``)."""
        url = self.outputs.get(name)
        if not url:
            return False
        with self.timed(timing or f"put_{name}"):
            transfer.put(url, data, content_type)
        self.written.append(name)
        return True

    def timed(self, name: str) -> _Timer:
        return _Timer(self.timings, name)


class _Timer:
    def __init__(self, timings: dict[str, float], name: str) -> None:
        self.timings, self.name = timings, name

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = (time.perf_counter() - self.start) * 1000
        self.timings[self.name] = round(self.timings.get(self.name, 0.0) + elapsed, 3)


OUT_OF_MEMORY = ("analysing this file needed more memory than the function may use: the file is too large "
                 "or malformed for this analysis")


def response(status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "body": body, "headers": {"Content-Type": "application/json"}}


def run(event: Any, analyze: Callable[[Request], dict[str, Any]]) -> dict[str, Any]:
    """Parses the request, runs ``analyze`` and maps failures onto the contract's statuses."""
    started = time.perf_counter()
    request: Request | None = None
    try:
        request = Request.from_body(event.body)
        with models.call():
            result = analyze(request)
    except InputError as exc:
        return response(422, {"error": str(exc)})
    except ModelNotInstalled as exc:
        return response(501, {"error": str(exc)})
    except ModelLoading as exc:
        return {**response(503, {"error": str(exc)}), "headers": {"Retry-After": "1"}}
    except EngineBusy as exc:
        retry_after = str(max(1, math.ceil(exc.retry_after_s)))
        return {**response(503, {"error": str(exc)}), "headers": {"Retry-After": retry_after}}
    except transfer.TransferError as exc:
        return response(exc.status, {"error": str(exc)})
    except MemoryError:
        # The process's memory bound refused an allocation (host/memory.py; a container's limit
        # under faasd): most likely this file's doing, possibly a call beside it, so 500: tried again.
        logger.warning("out of memory", exc_info=True)
        return response(500, {"error": OUT_OF_MEMORY})
    finally:
        if request is not None:
            request.close()
    request.timings["total"] = round((time.perf_counter() - started) * 1000, 3)
    result.setdefault("timing_ms", request.timings)
    result.setdefault("outputs_written", request.written)
    return response(200, result)
