"""Moves bytes through presigned URLs: inputs in (spooled to disk), artefacts out."""

from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path
from typing import IO, BinaryIO

import httpx

from .origins import Origin
from .settings import settings

logger = logging.getLogger(__name__)

# One client for the process: making an httpx client loads a TLS context (about 25 ms), which
# would otherwise be paid on every fetch and every artefact written. Redirects are not followed:
# only the URL checked against the allow-list is ever contacted.
_client = httpx.Client(follow_redirects=False)

# What a caller learns when an allowed store fails: the same words whatever the cause, so the
# answers cannot tell a closed port from a silent one; the detail goes to the function's log.
UNREACHABLE = "the store could not be reached"
REPLACED = ("the file was replaced by a newer upload of the same name before it was analysed; "
            "the newer one is analysed as an upload of its own")
# A store that cannot be reached is no fault of the file: 503 makes the scheduler wait for it (as for
# a model still loading) instead of spending the step's attempts.
STORE_DOWN = 503

# A fetched input: a file on local disk in a function (inputs reach 2 GiB, memory limits are far
# smaller), or bytes where a caller already holds them (tests, the bench).
Source = bytes | Path

CHUNK = 1 << 20


class TransferError(Exception):
    """A presigned URL could not be used; ``status`` is what the function answers."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def allowed_origin(url: str, what: str) -> Origin:
    """The origin of ``url`` when it is one of MEDIALENS_FN_ALLOWED_ORIGINS; refused before any
    connection otherwise, with words that do not depend on what listens there."""
    try:
        origin = Origin.of(url)
    except ValueError:
        raise TransferError(f"the {what} URL is not an http(s) URL", 422) from None
    if origin not in settings().origins():
        raise TransferError(
            f"the {what} URL is not on a store this function may use (MEDIALENS_FN_ALLOWED_ORIGINS)", 422
        )
    return origin


def fetch(url: str, max_bytes: int, target: IO[bytes], etag: str | None = None) -> int:
    """Streams an input into ``target``, refusing anything larger than ``max_bytes``; the size.

    With ``etag``, only that version of the object is read (``If-Match``)."""
    origin = allowed_origin(url, "input")
    size = 0
    headers = {"If-Match": f'"{etag.strip(chr(34))}"'} if etag else {}
    try:
        with _client.stream("GET", url, headers=headers, timeout=settings().fetch_timeout_s) as reply:
            if reply.status_code == 404:
                raise TransferError("the input object no longer exists", 422)
            if reply.status_code == 412:
                raise TransferError(REPLACED, 422)
            if reply.status_code >= 300:  # a redirect too: its target was never checked
                raise TransferError(f"fetching the input failed: HTTP {reply.status_code}", 502)
            declared = int(reply.headers.get("Content-Length") or 0)
            if declared > max_bytes:
                raise TransferError(_too_large(declared, max_bytes), 422)
            for chunk in reply.iter_bytes(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise TransferError(_too_large(size, max_bytes), 422)
                target.write(chunk)
    except httpx.HTTPError as exc:
        logger.warning("fetching an input from %s failed: %s: %s", origin, type(exc).__name__, exc)
        raise TransferError(f"fetching the input failed: {UNREACHABLE}", STORE_DOWN) from exc
    target.flush()
    return size


def put(url: str, data: bytes, content_type: str) -> None:
    origin = allowed_origin(url, "output")
    try:
        reply = _client.put(
            url, content=data, headers={"Content-Type": content_type}, timeout=settings().fetch_timeout_s
        )
    except httpx.HTTPError as exc:
        logger.warning("writing an artefact to %s failed: %s: %s", origin, type(exc).__name__, exc)
        raise TransferError(f"writing the artefact failed: {UNREACHABLE}", STORE_DOWN) from exc
    if reply.status_code >= 300:
        raise TransferError(f"writing the artefact failed: HTTP {reply.status_code}", 502)


def size_of(source: Source) -> int:
    return source.stat().st_size if isinstance(source, Path) else len(source)


def readable(source: Source) -> str | BinaryIO:
    """What Pillow and PyAV open: the file's path, so they read it in pieces, or the bytes."""
    return str(source) if isinstance(source, Path) else io.BytesIO(source)


def head(source: Source, size: int) -> bytes:
    """The first ``size`` bytes, to tell a format by how it begins."""
    if isinstance(source, Path):
        with source.open("rb") as handle:
            return handle.read(size)
    return source[:size]


def sha256_of(source: Source) -> str:
    digest = hashlib.sha256()
    if isinstance(source, Path):
        with source.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    else:
        digest.update(source)
    return digest.hexdigest()


def _too_large(size: int, limit: int) -> str:
    return f"the file is {size / 1e6:.1f} MB, more than the limit of {limit / 1e6:.1f} MB"
