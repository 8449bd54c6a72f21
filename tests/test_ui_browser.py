"""The web UI in headless Chromium: sign in, upload, watch live progress, explore results, search."""

from __future__ import annotations

import io
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis

from embedded.stack import Stack
from scheduler.uploads import Uploads
from storage.client import Store
from storage.layout import result_key

playwright = pytest.importorskip("playwright.sync_api", reason="install requirements/dev.txt (playwright)")

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-output" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps",
]
SETTLE_S = 120_000  # milliseconds Playwright waits for the pipeline; generous on 2 shared cores
WORD = "MEDIALENS"
# Shapes the analyzers return (functions/<name>/handler.py); drawn when the pipeline has no analyzer yet.
OVERLAY_RESULTS: dict[str, Any] = {
    "faces": {"faces": [{"box": {"x": 0.12, "y": 0.1, "width": 0.2, "height": 0.3}, "score": 0.98,
                         "person": "Astronaut", "embedding": [0.088] * 128,
                         "embedding_model": "dlib-resnet-128"}]},
    "ocr": {"lines": [{"text": WORD, "box": [[0.55, 0.42], [0.95, 0.42], [0.95, 0.56], [0.55, 0.56]],
                       "confidence": 0.99}], "text": WORD},
    "pose": {"people": [{"landmarks": [
        {"name": "left_shoulder", "x": 0.3, "y": 0.55, "visibility": 0.9},
        {"name": "right_shoulder", "x": 0.12, "y": 0.55, "visibility": 0.9},
    ]}]},
    "nsfw": {"verdict": "safe", "score": 0.01, "regions": []},
}


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("Chromium is missing: run `python -m tests.system_packages` (Debian package `chromium`)")
    return found


def text_picture() -> bytes:
    """A photo with a word beside it: something to see, to read and to search for."""
    from PIL import Image, ImageDraw, ImageFont
    from skimage import data as samples

    canvas = Image.new("RGB", (900, 500), "white")
    canvas.paste(Image.fromarray(samples.astronaut()).resize((440, 440)), (30, 30))
    ImageDraw.Draw(canvas).text((500, 210), WORD, fill="black", font=ImageFont.load_default(size=64))
    buffer = io.BytesIO()
    canvas.save(buffer, "PNG")
    return buffer.getvalue()


def short_video(seconds: float = 2.0, fps: int = 12) -> bytes:
    """A WebM clip of a square crossing the frame, made with PyAV."""
    import av
    import numpy as np

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        frames = int(seconds * fps)
        for number in range(frames):
            pixels = np.full((240, 320, 3), (30, 60, 120), dtype=np.uint8)
            left = int(number * (320 - 60) / frames)
            pixels[90:150, left : left + 60] = (240, 200, 40)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with playwright.sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=chromium(), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()


@pytest.fixture(scope="module")
def base_url(running_stack: Stack) -> str:
    s = running_stack.settings
    return s.url(s.ui_port)


@pytest.fixture(scope="module")
def records(running_stack: Stack) -> Uploads:
    s = running_stack.settings
    return Uploads(Redis(host=s.host, port=s.redis_port))


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def row(page: Any, name: str) -> Any:
    return page.locator("li.upload", has=page.locator("a.name", has_text=name))


def eventually(check: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"not so within {timeout_s} s: {check.__doc__ or check}")


def test_a_person_signs_in_uploads_watches_and_explores(
    browser: Any, base_url: str, api_key: str, api: httpx.Client, records: Uploads, s3_client: Any,
    store: Store, tmp_path: Path,
) -> None:
    expect = playwright.expect
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # Sign in: every page sends a stranger to the sign-in form first.
    page.goto(base_url + "/uploads")
    expect(page).to_have_url(base_url + "/login?next=/uploads")
    page.fill("#api_key", "ml_not_a_key")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_contain_text("not valid")
    shot(page, "01-sign-in-refused")
    page.fill("#api_key", api_key)
    page.click("button[type=submit]")
    expect(page).to_have_url(base_url + "/uploads")

    # Upload an image and a short video by picking them; each goes straight to the store (CORS).
    picture, video = tmp_path / "astronaut-text.png", tmp_path / "square-clip.webm"
    picture.write_bytes(text_picture())
    video.write_bytes(short_video())
    page.goto(base_url + "/upload")
    page.set_input_files("#files", [str(picture), str(video)])
    expect(page.locator("#queue li.file.uploaded")).to_have_count(2, timeout=SETTLE_S)
    expect(page.locator("#queue li.file.failed")).to_have_count(0)
    for bar in page.locator("#queue progress").all():
        expect(bar).to_have_attribute("value", "100")
    shot(page, "02-upload")

    # The uploads list follows both live (server-sent events) until they are done.
    page.goto(base_url + "/uploads")
    expect(page.locator("#live")).to_have_text("live")
    for name in (picture.name, video.name):
        expect(row(page, name)).to_have_attribute("data-state", "done", timeout=SETTLE_S)
    expect(row(page, picture.name).locator(".media")).to_have_text("image")
    expect(row(page, video.name).locator(".media")).to_have_text("video")
    expect(row(page, picture.name).locator(".step[data-step=thumbnail]")).to_have_text("thumbnail: done")

    # An object put with another S3 client appears too; an empty one fails, with its reason and a retry.
    s3_client.put_object(Bucket="uploads", Key="elsewhere/empty-from-s3.jpg", Body=b"")
    broken = row(page, "empty-from-s3.jpg")
    expect(broken).to_have_attribute("data-state", "failed", timeout=SETTLE_S)
    expect(broken.locator(".reason")).to_contain_text("empty")
    broken_id = broken.get_attribute("data-id")
    first_try = records.step(broken_id, "probe").started_at
    page.select_option("select[name=state]", "failed")
    expect(row(page, picture.name)).to_be_hidden()
    expect(broken).to_be_visible()
    shot(page, "03-uploads-filtered-failed")
    broken.locator("button.retry").click()

    def retried() -> bool:
        """the retried upload ran its probe again and failed again"""
        step = records.step(broken_id, "probe")
        again = bool(step.started_at and first_try and step.started_at > first_try)
        return again and step.state.value == "failed"

    eventually(retried)
    expect(broken).to_have_attribute("data-state", "failed", timeout=SETTLE_S)
    page.select_option("select[name=state]", "")
    expect(row(page, picture.name)).to_be_visible()
    shot(page, "04-uploads")

    # The image's result view: overlays drawn over the picture, each one can be switched off.
    image_id = row(page, picture.name).get_attribute("data-id")
    searchable = api.get("/search", params={"q": WORD, "mode": "exact"}, timeout=60).status_code != 404
    found = api.get(f"/uploads/{image_id}").json()["results"]
    real = {
        "ocr": any(WORD in str(line.get("text", "")).upper()
                   for line in (found.get("ocr") or {}).get("lines", [])),
        "faces": any(face.get("embedding") for face in (found.get("faces") or {}).get("faces", [])),
        "pose": bool((found.get("pose") or {}).get("people")),
        "nsfw": bool((found.get("nsfw") or {}).get("verdict")),
    }
    stand_ins = {step: result for step, result in OVERLAY_RESULTS.items() if not real[step]}
    if stand_ins:
        # An analyzer that is not in this pipeline (yet) or found nothing: use its documented result shape,
        # in the record and in the stored analysis that the search index is built from.
        for step, result in stand_ins.items():
            records.put_result(image_id, step, result)
        stored = result_key(records.get(image_id).key)
        document = store.get_json(store.settings.results_bucket, stored)
        document["results"].update(stand_ins)
        store.put_json(store.settings.results_bucket, stored, document)
        if searchable:
            assert api.post("/index/rebuild").status_code == 202
    if searchable:

        def indexed() -> bool:
            """the search index finds the word in the picture"""
            hits = api.get("/search", params={"q": WORD, "mode": "exact"}).json()["hits"]
            return any(hit["upload_id"] == image_id for hit in hits)

        eventually(indexed, timeout_s=SETTLE_S / 1000)
    page.goto(f"{base_url}/uploads/{image_id}")
    overlay = page.locator("#overlay")
    expect(page.locator("#picture")).to_be_visible()
    for layer in ("faces", "ocr", "pose"):
        expect(overlay.locator(f"g[data-layer={layer}] > *").first).to_be_attached()
    expect(overlay.locator("g[data-layer=ocr] text").first).to_contain_text(re.compile(WORD, re.I))
    if "faces" in stand_ins:
        expect(overlay.locator("g[data-layer=faces] text")).to_contain_text(["Astronaut"])
    shot(page, "05-result-image-overlays")
    toggle = page.locator("#layers input[data-layer=ocr]")
    toggle.uncheck()
    expect(overlay.locator("g[data-layer=ocr]")).to_be_hidden()
    expect(overlay.locator("g[data-layer=faces]")).to_be_visible()
    shot(page, "06-result-image-text-off")
    toggle.check()
    expect(overlay.locator("g[data-layer=ocr]")).to_be_visible()

    # The video's result view: a player the browser can load, and its timeline.
    video_id = row_id(api, video.name)
    page.goto(f"{base_url}/uploads/{video_id}")
    player = page.locator("video#player")
    expect(player).to_be_visible()
    page.wait_for_function("document.querySelector('video#player').readyState >= 1", timeout=SETTLE_S)
    assert page.evaluate("document.querySelector('video#player').duration") > 1.5
    expect(page.locator("#timeline")).to_be_visible()
    page.locator("#timeline").click(position={"x": 200, "y": 10})
    assert page.evaluate("document.querySelector('video#player').currentTime") > 0
    page.locator("details.raw summary").click()
    expect(page.locator("#raw")).to_contain_text('"media_type": "video"')
    shot(page, "07-result-video")

    # Search for the word in the picture; without a search service the page says so plainly.
    page.goto(f"{base_url}/search?q={WORD}")
    status = page.locator("#search-status")
    expect(status).not_to_have_text("Searching…", timeout=SETTLE_S)
    if not searchable:
        expect(status).to_have_class("notice unavailable")
    else:
        expect(page.locator(f"#hits a[href^='/uploads/{image_id}']").first).to_be_visible()
        page.locator(f"#hits a[href^='/uploads/{image_id}']").first.click()
        expect(page.locator("#picture")).to_be_visible()
        page.go_back()
    shot(page, "08-search")

    # People: rename a person when the identity service is there; else the page says it is not.
    page.goto(base_url + "/people")
    status = page.locator("#people-status")
    expect(status).not_to_have_text("Loading…")
    if not searchable:
        expect(status).to_have_class("notice unavailable")
    else:
        expect(page.locator("li.person").first).to_be_visible()
        person_id = page.locator("li.person").first.get_attribute("data-id")
        person = page.locator(f"li.person[data-id='{person_id}']")
        person.locator("input[type=text]").fill("Ada Lovelace")
        person.locator("button[type=submit]").click()
        expect(person.locator(".note")).to_have_text("saved")
        page.reload()
        expect(person.locator("input[type=text]")).to_have_value("Ada Lovelace")
        assert api.get(f"/people/{person_id}").json()["name"] == "Ada Lovelace"
    shot(page, "09-people")

    page.goto(base_url + "/system")
    expect(page.locator("table.functions")).to_contain_text("probe")
    expect(page.locator("#gpu p, #gpu table").first).to_be_visible()
    shot(page, "10-system")

    # A phone-sized screen: the pages fit without sideways scrolling.
    phone = browser.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    for path, name in (("/uploads", "11-phone-uploads"), (f"/uploads/{image_id}", "12-phone-result")):
        phone.goto(base_url + path)
        expect(phone.locator("main h1")).to_be_visible()
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
        shot(phone, name)
    phone.close()

    page.locator("button", has_text="Sign out").click()
    expect(page).to_have_url(base_url + "/login")
    page.close()
    assert errors == [], f"the pages raised script errors: {errors}"


def row_id(api: httpx.Client, name: str) -> str:
    listing = api.get("/uploads", params={"limit": 200}).json()["uploads"]
    return next(item["id"] for item in listing if item["key"].endswith("/" + name))
