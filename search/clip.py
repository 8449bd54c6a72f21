"""CLIP embeddings for search queries, from the gateway's `clip` function (it owns the model)."""

from __future__ import annotations

import logging
from typing import Any

import httpx

from functions import catalog
from scheduler import routing
from scheduler.calls import Payload
from scheduler.gateway import Verdict
from storage.client import Store

from .wording import N_

logger = logging.getLogger(__name__)

FUNCTION = "clip"


# What a person is told wherever CLIP is needed and missing: what it is for, and how it is fixed.
NOT_INSTALLED = N_(
    "Finding pictures by what they show needs the CLIP model, which is not installed on this server. "
    "An administrator installs it with `make models` and restarts medialens."
)

UNREACHABLE = N_(
    "Finding similar pictures needs the clip function, which does not answer right now: try again in a "
    "few minutes; the System page shows an operator why."
)


class ClipUnavailable(RuntimeError):
    """No CLIP model answers: not installed, still loading, or unable to embed text."""


class ClipNotInstalled(ClipUnavailable):
    """The clip function runs but has no model: an administrator's to install (NOT_INSTALLED says how)."""

    def __init__(self) -> None:
        super().__init__(NOT_INSTALLED)


class ClipRejected(ValueError):
    """CLIP cannot use what it was given (a file that is no picture it reads): the caller's to fix."""


def _call(payload: Payload) -> dict[str, Any]:
    gateway = routing.route(FUNCTION)
    try:
        reply = gateway.invoke(FUNCTION, payload(gateway), catalog.spec(FUNCTION).timeout_s)
    except httpx.HTTPError as exc:
        logger.warning("the clip function could not be reached: %s", exc)
        raise ClipUnavailable(UNREACHABLE) from exc
    if reply.verdict == Verdict.UNAVAILABLE:
        # The function's own message names the directory on the server: logged, not shown.
        logger.info("the clip function has no model: %s", reply.error)
        raise ClipNotInstalled()
    if reply.verdict == Verdict.LOADING:
        raise ClipUnavailable("the CLIP model is still loading; try again in a minute")
    if reply.verdict == Verdict.REJECTED:
        raise ClipRejected(reply.error)
    if reply.verdict != Verdict.OK:
        raise ClipUnavailable(f"the clip function failed: {reply.error}")
    return reply.body


def image_embedding(store: Store, bucket: str, key: str, content_type: str = "") -> tuple[list[float], str]:
    """The embedding of a stored image, fetched by the clip function through a URL signed for it."""
    body = _call(lambda gateway: {
        "source": {"url": store.presigned_get(bucket, key, gateway.audience), "content_type": content_type},
        "options": {},
    })
    if not body.get("embedding"):
        raise ClipUnavailable("the clip function returned no image embedding")
    return [float(v) for v in body["embedding"]], str(body.get("embedding_model") or "clip")


def text_embedding(text: str) -> tuple[list[float], str]:
    """CLIP's text encoder, asked for with ``options.text`` (the clip function's text mode)."""
    body = _call(lambda gateway: {"text": text, "options": {"text": text}})
    vector = body.get("text_embedding")
    if not vector:
        raise ClipUnavailable("text-to-image search needs a clip function that embeds text (options.text)")
    return [float(v) for v in vector], str(body.get("embedding_model") or "clip")
