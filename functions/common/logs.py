"""Structured logs for every medialens process: one JSON object per line, with the upload id and step.

Every entry point (intake, worker, web app, functions host, GPU manager, the embedded bridge) calls
`configure_logging`. It lives with the code every function image and the GPU node already carry
(configuration.copy), so no process logs another way. The upload and step of the work in hand are
bound once (`bound`) and appear on every line logged meanwhile; they travel to the functions host
as request headers, so its lines name the upload and step too.

No line carries a credential: presigned URLs are valid for an hour and an error message or a
traceback often quotes one, so every handler redacts signatures, tokens and passwords (`Redact`).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from werkzeug.datastructures import Headers

CONTEXT_FIELDS = ("upload_id", "step", "function", "gateway", "job_id", "service", "exit_code", "wait_s")
# The context that crosses to a function call, by the header that carries it.
HEADERS = {"upload_id": "X-Medialens-Upload-Id", "step": "X-Medialens-Step"}

REDACTED = "REDACTED"
# What would let a reader of the log act as its writer, each with the part that stays readable.
SECRETS = re.compile(
    r"(?P<keep>"
    r"X-Amz-(?:Signature|Credential|Security-Token)="  # a presigned URL's query
    r"|\b(?:Bearer|Basic)\s+"  # an Authorization header's value
    r"|\b[a-z][a-z0-9+.-]*://[^/\s:@]*:(?=[^/\s@]+@)"  # a password in a URL (redis://:password@host)
    r")[^&\s\"'#<>@,;]+"
    r"|\bml_[A-Za-z0-9_-]{20,}",  # an API key of ours
    re.IGNORECASE,
)

_context: ContextVar[dict[str, Any] | None] = ContextVar("medialens_log_context", default=None)


def redact(text: str) -> str:
    """The text with every signature, token and password in it replaced by REDACTED."""

    return SECRETS.sub(lambda match: (match.group("keep") or "") + REDACTED, text)


class Redact(logging.Filter):
    """Renders a record's message and traceback redacted, before any formatter sees them."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "component": self.component,
            "logger": record.name,
            "message": record.getMessage(),
        }
        bound = _context.get() or {}
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value is None:
                value = bound.get(field)
            if value is not None:
                entry[field] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["error"] = record.exc_text
        return json.dumps(entry)


def configure_logging(component: str, level: int = logging.INFO, stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(component))
    handler.addFilter(Redact())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # No line says which file, function or line logged it, so no record needs the frame walk that
    # finds them: a third of each line's cost, paid on every call the functions host answers (issue
    # 17). The logging HOWTO's "Optimization" names this switch.
    logging._srcfile = None


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Adds these fields (upload_id, step, ...) to every line logged inside the block."""
    token = _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def headers() -> dict[str, str]:
    """The bound upload and step as request headers, for the function a call goes to."""
    bound_now = _context.get() or {}
    return {header: str(bound_now[field]) for field, header in HEADERS.items() if field in bound_now}


def from_headers(received: Headers) -> dict[str, str]:
    """What `headers` sent, back as log fields (header names in any case, as HTTP allows)."""
    # Looking up the two names costs a seventh of copying every header first, on every call the host serves
    # (issue 17).
    return {field: value for field, header in HEADERS.items() if (value := received.get(header))}
