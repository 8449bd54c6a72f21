"""Each function's handle(event, context) called as the python3-http template calls it."""

from __future__ import annotations

import io
from collections.abc import Callable
from email.message import Message
from typing import Any

import numpy as np
from PIL import Image
from skimage import data as samples

from tests.conftest import jpeg

Call = Callable[[str, Any], tuple[int, dict[str, Any]]]


def png_of(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def test_probe_tells_an_image_by_its_content(call_function: Call, source_url: Callable[..., str]) -> None:
    picture = png_of(samples.astronaut())
    status, body = call_function("probe", {"source": {"url": source_url(picture, "text/plain")}})
    assert status == 200
    assert body["media_type"] == "image"
    assert (body["width"], body["height"]) == (512, 512)
    assert body["size"] == len(picture)
    assert len(body["sha256"]) == 64
    assert body["engine"]["engine"] == "probe"


def test_probe_rejects_a_request_without_a_source(call_function: Call) -> None:
    status, body = call_function("probe", b"not json")
    assert status == 422
    assert "JSON" in body["error"]
    status, body = call_function("probe", {"options": {}})
    assert status == 422
    assert "source" in body["error"]


def test_thumbnail_writes_a_small_jpeg(
    call_function: Call, source_url: Callable[..., str], output_url: Callable[[], Any]
) -> None:
    put_url, read = output_url()
    status, body = call_function(
        "thumbnail",
        {"source": {"url": source_url(jpeg((1600, 900)))}, "outputs": {"thumbnail": put_url},
         "options": {"size": 200}},
    )
    assert status == 200, body
    assert body["outputs_written"] == ["thumbnail"]
    written = Image.open(io.BytesIO(read()))
    assert written.format == "JPEG"
    assert written.width == 200 and abs(written.height - 112.5) <= 1


def test_thumbnail_of_an_image_with_exif_rotation_is_upright(
    call_function: Call, source_url: Callable[..., str], output_url: Callable[[], Any]
) -> None:
    image = Image.new("RGB", (400, 200), (10, 200, 10))
    exif = image.getexif()
    exif[0x0112] = 6  # rotated 90 degrees clockwise: the upright picture is 200 wide, 400 high
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif)
    put_url, read = output_url()
    status, body = call_function(
        "thumbnail", {"source": {"url": source_url(buffer.getvalue())}, "outputs": {"thumbnail": put_url}}
    )
    assert status == 200, body
    assert Image.open(io.BytesIO(read())).size == (160, 320)


def test_a_handler_that_raises_answers_json_without_its_internals() -> None:
    # The template is what faasd runs; the functions host answers through the same code.
    from types import SimpleNamespace

    from host.server import template

    def handle(event: Any, context: Any) -> dict[str, Any]:
        raise RuntimeError("secret internal detail at 10.0.0.5")

    app = template.create_app(SimpleNamespace(handle=handle), "the-token")  # type: ignore[arg-type]
    reply = app.test_client().post("/", data=b"{}", headers={"Authorization": "Bearer the-token"})
    assert reply.status_code == 500 and reply.is_json
    assert reply.get_json() == {"error": "the function failed unexpectedly"}


def test_an_error_page_from_a_gateway_reaches_the_user_as_one_sentence() -> None:
    from scheduler.gateway import plain_error
    from scheduler.transport import Answer

    def answer(content_type: str, text: str) -> Answer:
        headers = Message()
        headers["Content-Type"] = content_type
        return Answer(502, headers, text.encode())

    html = answer("text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>")
    assert plain_error("ocr", html) == "ocr answered HTTP 502 without saying why"
    faasd = answer("text/plain; charset=utf-8", "Can't reach service for: ocr.\n")
    assert plain_error("ocr", faasd) == "Can't reach service for: ocr."


def test_an_analyzer_refuses_a_one_pixel_strip_before_analysing_it(
    call_function: Call, source_url: Callable[..., str]
) -> None:
    strip = png_of(np.zeros((1, 20_000, 3), dtype=np.uint8))
    status, body = call_function("ocr", {"source": {"url": source_url(strip)}})
    assert status == 422 and "20000 x 1 pixels: too thin to analyse" in body["error"]


def test_a_function_reads_the_version_its_upload_is_not_a_later_one(
    call_function: Call, store: Any, function_store: str
) -> None:
    key = f"test-inputs/reuploaded-{np.random.default_rng().integers(1 << 30)}.png"
    bucket = store.settings.artefacts_bucket
    first = store.put_bytes(bucket, key, png_of(samples.astronaut()), "image/png")
    store.put_bytes(bucket, key, png_of(samples.camera()), "image/png")  # the same name, uploaded again
    url = store.presigned_get(bucket, key)
    status, body = call_function("probe", {"source": {"url": url, "etag": first}})
    assert status == 422 and "replaced by a newer upload" in body["error"]
    status, body = call_function("probe", {"source": {"url": url}})
    assert status == 200 and body["image"]["mode"] == "L", "without a version, the newest (grey camera) is read"
