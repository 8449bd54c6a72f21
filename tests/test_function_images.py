"""Every function runs from its faas-cli build context, as its image runs it, and answers real requests."""

from __future__ import annotations

import contextlib
import io
import pkgutil
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest
from PIL import Image

from bench.function_images import FunctionImage, run_in_context, site_packages
from bench.sample_media import Scene, Speech, make_video
from functions.build import build_context
from functions.catalog import FunctionSpec, functions
from functions.weights import LABEL, place
from tests.conftest import DATA, jpeg
from tests.functions.analyzer_media import encode, face_photo, photo, render_text
from tests.waiting import wait_until

CATALOG = functions()
Sources = Callable[..., str]
Outputs = Callable[[], tuple[str, Callable[[], bytes]]]


@pytest.fixture(scope="module")
def installed_modules() -> set[str]:
    """Top-level modules and packages that the installed distributions put in site-packages."""
    return {module.name for module in pkgutil.iter_modules([site_packages()])}


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_no_handler_module_shadows_the_standard_library_or_a_package(name: str, installed_modules: set[str]) -> None:
    # In the image every module of the handler folder is also a top-level module (PYTHONPATH
    # holds /home/app/function), so `inspect.py` there replaces the standard library's inspect.
    clashes = []
    for entry in CATALOG[name].handler_dir.iterdir():
        module = entry.name.removesuffix(".py")
        if entry.name.startswith(("_", ".")) or not (entry.is_dir() or entry.suffix == ".py"):
            continue
        if module in sys.stdlib_module_names:
            clashes.append(f"{entry.name} shadows the standard library's {module}")
        elif module in installed_modules:
            clashes.append(f"{entry.name} shadows the installed package {module}")
    assert not clashes, clashes


def test_a_context_cannot_import_the_project(tmp_path: Path) -> None:
    context = build_context(CATALOG["probe"], tmp_path / "probe")
    assert run_in_context(context, "import function.handler").returncode == 0
    leaked = run_in_context(context, "import scheduler")
    assert leaked.returncode != 0 and "No module named 'scheduler'" in leaked.stderr


def _video(seconds: float = 3.0) -> bytes:
    return make_video([Scene(0.0, "APPLE", (30, 60, 160))], seconds, [Speech(0.3, "fox")], noise=3.0)


def _expect_probe(sources: Sources, outputs: Outputs) -> tuple[dict[str, Any], Callable[..., None]]:
    picture = encode(photo("astronaut"))
    put_url, read = outputs()

    def check(body: dict[str, Any]) -> None:
        assert body["media_type"] == "image" and (body["width"], body["height"]) == (512, 512)
        assert body["size"] == len(picture)
        assert len(body["phash"]) == 16  # imagehash, installed from the function's own requirements
        assert body["outputs_written"] == ["analysis"], "a PNG becomes the analysis image, a JPEG"
        assert Image.open(io.BytesIO(read())).format == "JPEG"

    return {"source": {"url": sources(picture)}, "outputs": {"analysis": put_url}}, check


def _expect_thumbnail(sources: Sources, outputs: Outputs) -> tuple[dict[str, Any], Callable[..., None]]:
    put_url, read = outputs()

    def check(body: dict[str, Any]) -> None:
        assert body["outputs_written"] == ["thumbnail"]
        width, height = Image.open(io.BytesIO(read())).size
        assert width == 200 and abs(height - 112.5) <= 1

    return {"source": {"url": sources(jpeg((1600, 900)))}, "outputs": {"thumbnail": put_url},
            "options": {"size": 200}}, check


def _expect_extract(sources: Sources, outputs: Outputs) -> tuple[dict[str, Any], Callable[..., None]]:
    keyframe_url, read_keyframe = outputs()
    audio_url, read_audio = outputs()

    def check(body: dict[str, Any]) -> None:
        assert body["keyframes"] and body["audio"]["duration"] == pytest.approx(3.0, abs=0.2)
        assert Image.open(io.BytesIO(read_keyframe())).format == "JPEG"
        assert read_audio()[:4] == b"RIFF"

    return {"source": {"url": sources(_video())}, "outputs": {"keyframe_0": keyframe_url, "audio": audio_url},
            "options": {"max_keyframes": 1}}, check


def _expect_pose(sources: Sources, outputs: Outputs) -> tuple[dict[str, Any], Callable[..., None]]:
    def check(body: dict[str, Any]) -> None:
        assert len(body["people"]) == 1
        visible = [point for point in body["people"][0]["landmarks"] if point["visibility"] > 0.5]
        assert len(visible) >= 15

    return {"source": {"url": sources(encode(photo("camera", 640)))}}, check


def _expect_ocr(sources: Sources, outputs: Outputs) -> tuple[dict[str, Any], Callable[..., None]]:
    def check(body: dict[str, Any]) -> None:
        assert "Harbour Lights" in body["text"]

    return {"source": {"url": sources(encode(render_text(32)))}}, check


def _expect_nsfw(sources: Sources, outputs: Outputs) -> tuple[dict[str, Any], Callable[..., None]]:
    def check(body: dict[str, Any]) -> None:
        assert body["verdict"] == "safe"

    return {"source": {"url": sources(encode(photo("coffee")))}}, check


def _expect_faces(sources: Sources, outputs: Outputs) -> tuple[dict[str, Any], Callable[..., None]]:
    def check(body: dict[str, Any]) -> None:
        assert len(body["faces"]) == 1 and len(body["faces"][0]["embedding"]) == 128

    return {"source": {"url": sources(face_photo("obama"))}}, check


def _expect_clip(sources: Sources, outputs: Outputs) -> tuple[dict[str, Any], Callable[..., None]]:
    def check(body: dict[str, Any]) -> None:
        vector = np.asarray(body["embedding"])
        assert vector.size > 0 and abs(np.linalg.norm(vector) - 1.0) < 1e-3
        assert body["labels"] and body["safety"], "CLIP labels come from the weights placed in the context"

    return {"source": {"url": sources(encode(photo("astronaut")))}}, check


def _expect_transcribe(sources: Sources, outputs: Outputs) -> tuple[dict[str, Any], Callable[..., None]]:
    def check(body: dict[str, Any]) -> None:
        assert "fox" in " ".join(segment["text"] for segment in body["segments"]).lower()

    return {"source": {"url": sources((DATA / "speech" / "fox.ogg").read_bytes())}}, check


def _expect_caption(sources: Sources, outputs: Outputs) -> tuple[dict[str, Any], Callable[..., None]]:
    def check(body: dict[str, Any]) -> None:
        assert body["caption"] and body["engine"]["engine"] == "transformers-blip"

    return {"source": {"url": sources(encode(photo("astronaut")))}}, check


def _expect_summarize(sources: Sources, outputs: Outputs) -> tuple[dict[str, Any], Callable[..., None]]:
    def check(body: dict[str, Any]) -> None:
        assert body["title"] and body["summary"] and body["engine"]["engine"] == "transformers-instruct"

    transcript = [{"start": 0.0, "end": 2.0, "text": "a dog on the beach"}]
    return {"options": {"transcript": transcript, "language": "en", "duration": 2.0}}, check


def _expect_embed(sources: Sources, outputs: Outputs) -> tuple[dict[str, Any], Callable[..., None]]:
    texts = ["a dog runs on the beach", "a puppy plays by the sea", "the quarterly tax report"]

    def check(body: dict[str, Any]) -> None:
        vectors = np.asarray(body["embeddings"])
        assert vectors.shape == (3, 384) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
        assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]  # close in meaning, close in space

    return {"options": {"texts": texts}}, check


REQUESTS = {
    "probe": _expect_probe, "thumbnail": _expect_thumbnail, "extract": _expect_extract, "pose": _expect_pose,
    "ocr": _expect_ocr, "nsfw": _expect_nsfw, "faces": _expect_faces, "clip": _expect_clip,
    "transcribe": _expect_transcribe, "caption": _expect_caption, "summarize": _expect_summarize,
    "embed": _expect_embed,
}


def test_every_function_has_a_request() -> None:
    assert sorted(REQUESTS) == sorted(CATALOG)


@pytest.fixture
def image_of(
    tmp_path: Path, tiny_models: Path, function_store: str
) -> Iterator[Callable[[FunctionSpec], FunctionImage]]:
    """Starts a function from its context, allowed the test store as faas-cli's stack.yml
    environment allows the deployed store; weights its label names are placed as `make models` does."""
    started: list[FunctionImage] = []

    def start(spec: FunctionSpec) -> FunctionImage:
        image = FunctionImage(spec, tmp_path / spec.name, {"MEDIALENS_FN_ALLOWED_ORIGINS": function_store})
        for model in filter(None, spec.labels.get(LABEL, "").split(",")):
            if model.strip() in TINY_MODELS:
                place(tiny_models / model.strip(), image.context / "function", model.strip())
        started.append(image.__enter__())
        return image

    yield start
    for image in started:
        image.__exit__(None, None, None)


# The models the test stack builds (tests/conftest.py), by the name stack.yml's label gives them.
TINY_MODELS = ("clip", "blip", "instruct")


@pytest.fixture(scope="session")
def tiny_models(stack_settings: Any) -> Path:
    return Path(stack_settings.model_dir)


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_each_function_answers_from_its_build_context(
    name: str, image_of: Callable[[FunctionSpec], FunctionImage], source_url: Sources, output_url: Outputs
) -> None:
    image = image_of(CATALOG[name])
    body, check = REQUESTS[name](source_url, output_url)
    status, answer = image.call(body)
    assert status == 200, (answer, image.output())
    check(answer)
    status, answer = image.call(b"\x00\x01 not json")
    assert status == 422 and "JSON" in answer["error"]


def large_video(path: Path, megabytes: int) -> None:
    """An AVI of about ``megabytes`` MB (random frames, stored uncompressed)."""
    rng = np.random.default_rng(7)
    noise = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(8)]
    with av.open(str(path), "w", format="avi") as container:
        stream = container.add_stream("rawvideo", rate=25)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "rgb24"
        frame_bytes = 640 * 480 * 3
        for number in range(megabytes * 1024 * 1024 // frame_bytes + 1):
            frame = av.VideoFrame.from_ndarray(noise[number % len(noise)], format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope="module")
def video_300mb_url(store: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("large") / "large.avi"
    large_video(path, 300)
    assert path.stat().st_size > 300 * 1024 * 1024
    key = "test-inputs/large.avi"
    store.client.fput_object(store.settings.artefacts_bucket, key, str(path), content_type="video/x-msvideo")
    path.unlink()
    return str(store.presigned_get(store.settings.artefacts_bucket, key))


@pytest.mark.parametrize("name", ["probe", "thumbnail"])
def test_a_300_mb_video_stays_within_the_memory_limit(
    name: str, image_of: Callable[[FunctionSpec], FunctionImage], video_300mb_url: str, output_url: Outputs
) -> None:
    spec = CATALOG[name]
    image = image_of(spec)
    put_url, read = output_url()
    status, answer = image.call({"source": {"url": video_300mb_url}, "outputs": {"thumbnail": put_url},
                                 "options": {"media_type": "video"}})
    assert status == 200, (answer, image.output())
    if name == "probe":
        assert answer["media_type"] == "video" and answer["size"] > 300 * 1024 * 1024
    else:
        assert Image.open(io.BytesIO(read())).format == "JPEG"
    peak = image.peak_rss_bytes()
    assert peak < spec.memory_limit, f"{name} peaked at {peak / 2**20:.0f} MiB, limit {spec.limits['memory']}"
    assert not list(image.spool.iterdir()), "the spooled input is removed after the request"


@pytest.fixture
def stalled_source() -> Iterator[str]:
    """A URL whose answer sends its first 64 KiB and then stalls, as a large upload being fetched."""
    release = threading.Event()

    class Stalls(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(2**20))
            self.end_headers()
            self.wfile.write(bytes(65536))
            self.wfile.flush()
            release.wait(60)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Stalls)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/film.mkv"
    release.set()
    server.shutdown()
    server.server_close()


def test_a_function_killed_mid_call_leaves_no_copy_of_its_input(
    tmp_path: Path, function_store: str, stalled_source: str, source_url: Sources
) -> None:
    # A call removes its input as it ends, but a process killed mid-call cannot: its next process does.
    origin = stalled_source.rsplit("/", 1)[0]
    image = FunctionImage(CATALOG["probe"], tmp_path / "probe",
                          {"MEDIALENS_FN_ALLOWED_ORIGINS": f"{function_store},{origin}"})
    with image:
        def call() -> None:
            with contextlib.suppress(httpx.HTTPError):  # the process dies under it
                image.call({"source": {"url": stalled_source}}, 30.0)

        threading.Thread(target=call, daemon=True).start()
        wait_until(lambda: any(image.spool.iterdir()), 30, "the input is being spooled")
        assert image.process is not None
        image.process.kill()
        image.process.wait()
        left = set(image.spool.iterdir())
        assert left, "the killed process left its input"
    with image:  # the function's next process, as faasd starts one when the last died
        status, answer = image.call({"source": {"url": source_url(encode(photo("astronaut")))}})
        assert status == 200, (answer, image.output())
        assert not left & set(image.spool.iterdir()), "the input of the killed process is gone"
        assert not any(image.spool.iterdir()), "and the call's own too, as it ended"
