"""CLIP embeddings for search queries, from the gateway's `clip` function (it owns the model)."""

from __future__ import annotations

from storage.client import Store

from .remote import FunctionUnavailable, RemoteFunction
from .wording import N_

# What a person is told wherever CLIP is needed and missing: what it is for, and how it is fixed.
NOT_INSTALLED = N_(
    "Finding pictures by what they show needs the CLIP model, which is not installed on this server. "
    "An administrator installs it with `make models` and restarts medialens."
)

UNREACHABLE = N_(
    "Finding similar pictures needs the clip function, which does not answer right now: try again in a "
    "few minutes; the System page shows an operator why."
)

CLIP = RemoteFunction("clip", unreachable=UNREACHABLE, not_installed=NOT_INSTALLED,
                      loading="the CLIP model is still loading; try again in a minute")


def image_embedding(store: Store, bucket: str, key: str, content_type: str = "") -> tuple[list[float], str]:
    """The embedding of a stored image, fetched by the clip function through a URL signed for it."""
    body = CLIP.call(lambda gateway: {
        "source": {"url": store.presigned_get(bucket, key, gateway.audience), "content_type": content_type},
        "options": {},
    })
    if not body.get("embedding"):
        raise FunctionUnavailable("the clip function returned no image embedding")
    return [float(v) for v in body["embedding"]], str(body.get("embedding_model") or "clip")


def text_embedding(text: str) -> tuple[list[float], str]:
    """CLIP's text encoder, asked for with ``options.text`` (the clip function's text mode)."""
    body = CLIP.call(lambda gateway: {"text": text, "options": {"text": text}})
    vector = body.get("text_embedding")
    if not vector:
        raise FunctionUnavailable("text-to-image search needs a clip function that embeds text (options.text)")
    return [float(v) for v in vector], str(body.get("embedding_model") or "clip")
