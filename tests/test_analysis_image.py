"""A picture is decoded once: probe writes the analysis image, and every image analyzer reads that, not the
original, with the answers reading the original gave."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from embedded.stack import Stack
from functions.common import images
from scheduler import plans
from scheduler.settings import SchedulerSettings
from scheduler.uploads import Uploads
from storage.client import ObjectMissing
from tests.conftest import wait_for_upload
from tests.functions.analyzer_media import TEXT_LINES, character_error_rate, face_photo, photo, render_text
from tests.test_pipeline import result_document, unique

Call = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]
Outputs = Callable[[], tuple[str, Callable[[], bytes]]]
ORIENTATION = 0x0112


def upright_scene() -> Image.Image:
    """A 3000 x 4000 portrait: the cameraman above, a printed label and a face below."""
    scene = Image.new("RGB", (3000, 4000), "white")
    scene.paste(photo("camera", 3000), (0, 0))
    scene.paste(render_text(90), (0, 3050))
    face = Image.open(io.BytesIO(face_photo("obama"))).convert("RGB")
    scene.paste(face.resize((900, round(900 * face.height / face.width))), (2050, 3050))
    return scene


def phone_jpeg(scene: Image.Image) -> bytes:
    """The scene as a phone stores it: 4000 x 3000 sensor pixels, EXIF orientation 6 to show it upright."""
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    buffer = io.BytesIO()
    scene.transpose(Image.Transpose.ROTATE_90).save(buffer, "JPEG", quality=92, exif=exif)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def scene() -> Image.Image:
    return upright_scene()


@pytest.fixture(scope="module")
def original(scene: Image.Image) -> bytes:
    return phone_jpeg(scene)


def probe_with_output(call_function: Call, source_url: Callable[..., str], output_url: Outputs,
                      data: bytes) -> tuple[int, dict[str, Any], Callable[[], bytes], str]:
    put, read = output_url()
    status, body = call_function("probe", {"source": {"url": source_url(data)}, "outputs": {"analysis": put}})
    return status, body, read, put


def test_probe_writes_an_upright_bounded_analysis_image_of_a_rotated_phone_photo(
    call_function: Call, source_url: Callable[..., str], output_url: Outputs, original: bytes, scene: Image.Image
) -> None:
    status, body, read, _ = probe_with_output(call_function, source_url, output_url, original)
    assert status == 200, body
    assert (body["width"], body["height"]) == (3000, 4000), "probe still describes the original"
    assert body["outputs_written"] == ["analysis"]
    assert body["analysis_image"] == {"written": True, "width": 960, "height": 1280, "bytes": len(read())}
    written = Image.open(io.BytesIO(read()))
    assert (written.format, written.mode, written.size) == ("JPEG", "RGB", (960, 1280))
    assert ORIENTATION not in written.getexif(), "the pixels are upright: nothing left to turn"
    expected = np.asarray(images.fit_long_side(scene), dtype=np.int16)
    assert np.abs(np.asarray(written, dtype=np.int16) - expected).mean() < 3, "upright, not turned or mirrored"


def test_an_upright_jpeg_within_the_analysis_size_is_read_as_it_is(
    call_function: Call, source_url: Callable[..., str], output_url: Outputs
) -> None:
    buffer = io.BytesIO()
    photo("astronaut").save(buffer, "JPEG", quality=90)
    status, body, read, _ = probe_with_output(call_function, source_url, output_url, buffer.getvalue())
    assert status == 200 and body["outputs_written"] == []
    assert body["analysis_image"]["written"] is False
    assert "analyzers read it as it is" in body["analysis_image"]["reason"]
    with pytest.raises(ObjectMissing):
        read()


def test_a_too_thin_picture_is_refused_by_probe_and_nothing_is_written(
    call_function: Call, source_url: Callable[..., str], output_url: Outputs
) -> None:
    strip = io.BytesIO()
    Image.new("RGB", (20_000, 1), (20, 120, 200)).save(strip, "PNG")
    status, body, read, _ = probe_with_output(call_function, source_url, output_url, strip.getvalue())
    assert status == 422 and "20000 x 1 pixels: too thin to analyse" in body["error"]
    with pytest.raises(ObjectMissing):
        read()


def test_a_panorama_at_the_shape_limit_stays_within_it_in_its_analysis_image(
    call_function: Call, source_url: Callable[..., str], output_url: Outputs
) -> None:
    panorama = io.BytesIO()
    Image.new("RGB", (2500, 100), (20, 120, 200)).save(panorama, "PNG")  # 25:1, the longest shape analysed
    status, body, read, _ = probe_with_output(call_function, source_url, output_url, panorama.getvalue())
    assert status == 200 and body["analysis_image"]["height"] == 52, "51.2 px rounded up, not down to 51"
    status, body = call_function("ocr", {"source": {"url": source_url(read())}})
    assert status == 200, body


def test_analyzers_answer_from_the_analysis_image_as_from_the_original(
    call_function: Call, source_url: Callable[..., str], output_url: Outputs, original: bytes
) -> None:
    status, _, read, _ = probe_with_output(call_function, source_url, output_url, original)
    assert status == 200
    sources = {"original": source_url(original), "analysis": source_url(read())}
    answers = {}
    for name, url in sources.items():
        answers[name] = {function: call_function(function, {"source": {"url": url}})
                         for function in ("ocr", "faces", "pose")}
        assert all(status == 200 for status, _ in answers[name].values()), answers[name]
    ocr = {name: found["ocr"][1]["text"] for name, found in answers.items()}
    expected = "\n".join(TEXT_LINES)
    assert character_error_rate(ocr["analysis"], expected) == character_error_rate(ocr["original"], expected)
    assert character_error_rate(ocr["analysis"], expected) <= 0.02
    faces = {name: found["faces"][1]["faces"] for name, found in answers.items()}
    assert len(faces["analysis"]) == len(faces["original"]) >= 1
    for one, other in zip(faces["analysis"], faces["original"], strict=True):
        assert np.linalg.norm(np.subtract(one["embedding"], other["embedding"])) < 0.1  # same person: < 0.6
    people = {name: found["pose"][1]["people"] for name, found in answers.items()}
    assert len(people["analysis"]) == len(people["original"]) >= 1


def probe_result(**analysis: Any) -> dict[str, Any]:
    written = ["analysis"] if analysis.get("written") else []
    return {"media_type": "image", "width": 4000, "height": 3000, "outputs_written": written,
            **({"analysis_image": analysis} if analysis else {})}


def planned(result: dict[str, Any], spec: plans.StepSpec = plans.PROBE) -> dict[str, str]:
    return {step.name: step.source for step in plans.after(spec, result, SchedulerSettings().plan_settings())}


def test_the_image_steps_read_the_analysis_image_probe_wrote() -> None:
    assert plans.ANALYSIS_IMAGE in plans.PROBE.outputs
    sources = planned(probe_result(written=True, width=1280, height=960))
    assert sources == {name: plans.ANALYSIS_IMAGE for name in ("thumbnail", *plans.IMAGE_ANALYZERS)}


def test_they_read_the_upload_when_probe_wrote_none_or_probed_before_analysis_images() -> None:
    every = {name: "upload" for name in ("thumbnail", *plans.IMAGE_ANALYZERS)}
    assert planned(probe_result(written=False, width=640, height=480, reason="read as it is")) == every
    old_spec = plans.StepSpec.from_dict({"name": "probe", "function": "probe", "source": "upload", "options": {},
                                         "chunked": False, "expected_calls": 1})
    assert planned({"media_type": "image", "width": 640, "height": 480}, old_spec) == every


def test_a_thumbnail_larger_than_the_analysis_image_is_made_from_the_upload() -> None:
    config = SchedulerSettings(thumbnail_size=2048).plan_settings()
    steps = plans.after(plans.PROBE, probe_result(written=True, width=1280, height=960), config)
    sources = {step.name: step.source for step in steps}
    assert sources["thumbnail"] == "upload" and sources["ocr"] == plans.ANALYSIS_IMAGE


def test_an_uploaded_phone_photo_is_decoded_once_for_every_analyzer(
    running_stack: Stack, s3_client: Any, api: httpx.Client, original: bytes
) -> None:
    key = unique("phone.jpg")
    s3_client.put_object(Bucket="uploads", Key=key, Body=original, ContentType="image/jpeg")
    record = wait_for_upload(api, key)
    assert record["state"] == "done", record
    document = result_document(s3_client, key)
    made = document["artefacts"]
    assert sorted(made) == ["analysis.jpg", "thumbnail.jpg"]
    def picture(name: str) -> Image.Image:
        return Image.open(io.BytesIO(s3_client.get_object(Bucket="artefacts", Key=made[name])["Body"].read()))

    assert picture("analysis.jpg").size == (960, 1280), "upright (portrait) and at most the analysis size"
    assert picture("thumbnail.jpg").size == (240, 320)
    records = Uploads(running_stack.redis())
    specs = {name: records.spec(record["id"], name) or {} for name in ("probe", "thumbnail", *plans.IMAGE_ANALYZERS)}
    assert specs["probe"]["source"] == "upload", "probe alone reads the original"
    assert {name: spec["source"] for name, spec in specs.items() if name != "probe"} == {
        name: "analysis.jpg" for name in ("thumbnail", *plans.IMAGE_ANALYZERS)
    }
    assert document["results"]["ocr"]["text"]
