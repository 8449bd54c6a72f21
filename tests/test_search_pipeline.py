"""Search through the whole stack: CLIP embeddings made by the pipeline, indexed, then queried."""

from __future__ import annotations

import io
import time
import uuid
from typing import Any

import httpx
import numpy as np
from PIL import Image
from skimage import data as samples

from embedded.stack import Stack
from scheduler.names import IMAGE_PICTURE, Keyframe
from tests.conftest import wait_for_upload


def put(s3: Any, data: bytes) -> str:
    key = f"search/{uuid.uuid4().hex[:8]}/rocket.png"
    s3.put_object(Bucket="uploads", Key=key, Body=data, ContentType="image/png")
    return key


def indexed(api: httpx.Client, upload_id: str) -> None:
    """Indexing runs just after an upload is done: wait until its image can be searched for."""
    for _ in range(300):
        reply = api.post("/search/image", json={"upload_id": upload_id})
        if reply.status_code == 200:
            return
        time.sleep(0.1)
    raise AssertionError(f"upload {upload_id} was not indexed: {reply.status_code} {reply.text}")


def test_the_same_picture_uploaded_twice_is_found_as_an_identical_near_duplicate(
    running_stack: Stack, s3_client: Any, api: httpx.Client
) -> None:
    buffer = io.BytesIO()
    Image.fromarray(samples.rocket()).save(buffer, "PNG")
    first, second = (wait_for_upload(api, put(s3_client, buffer.getvalue())) for _ in range(2))
    indexed(api, first["id"])
    indexed(api, second["id"])
    hits = api.post("/search/image", json={"upload_id": first["id"]}).json()["hits"]
    assert hits[0]["upload_id"] == second["id"], "its own upload is left out; the copy comes first"
    assert hits[0]["near_duplicate"] and hits[0].get("identical")


def test_a_description_finds_pictures_by_clip_text_embedding(running_stack: Stack, api: httpx.Client) -> None:
    s = running_stack.settings
    description = "a photo of a rocket on its launch pad"
    text = httpx.post(s.url(s.gateway_port) + "/function/clip", json={"options": {"text": description}},
                      headers={"Authorization": f"Bearer {running_stack.gateway_token}"}).json()
    hits = api.get("/search", params={"q": description, "kind": "image", "limit": 5}).json()["hits"]
    assert hits, "the session's uploads hold pictures with CLIP embeddings"
    top = api.get(f"/uploads/{hits[0]['upload_id']}").json()
    # A hit is a whole image, or a video keyframe, whose results nest under its key.
    frame = hits[0].get("frame", IMAGE_PICTURE)
    found = top["results"]
    analyses = found if frame == IMAGE_PICTURE else found["keyframes"][Keyframe.from_picture(frame).key]
    picture = analyses["clip"]["embedding"]
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)
    expected = float(np.dot(text["text_embedding"], picture))
    assert abs(hits[0]["score"] - expected) < 1e-3, "the score is the cosine of text and picture"
