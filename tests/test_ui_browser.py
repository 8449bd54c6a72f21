"""The web UI in headless Chromium: sign in, upload, watch live progress, explore results, search, people."""

from __future__ import annotations

import io
import re
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from embedded.stack import Stack
from scheduler.uploads import Uploads
from storage.client import Store
from storage.layout import result_key
from tests.conftest import DATA, Account, wait_for_upload
from tests.ui_support import post_upload
from tests.waiting import wait_until

playwright = pytest.importorskip("playwright.sync_api", reason="install requirements/dev.txt (playwright)")

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-output" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps",
]
# The sign-in form's own button: a signed-in page's header has a submit button too (sign out), met first.
SIGN_IN = "form:has(#password) button[type=submit]"
SETTLE_S = 240_000  # milliseconds Playwright waits for the pipeline; generous on 2 shared cores
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


@pytest.fixture(autouse=True)
def pages_closed_after(browser: Any) -> Iterator[None]:
    """A test's pages close when it ends, failed or not: one left open would keep its event stream, and its
    scripts' requests, running beside the next test in the shared context."""
    before = set(browser.pages)
    yield
    for page in browser.pages:
        if page not in before:
            page.close()


@pytest.fixture(scope="module")
def base_url(running_stack: Stack) -> str:
    s = running_stack.settings
    return s.url(s.ui_port)


@pytest.fixture(scope="module")
def records(running_stack: Stack) -> Uploads:
    return Uploads(running_stack.redis())


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def row(page: Any, name: str) -> Any:
    return page.locator("li.upload", has=page.locator("a.name", has_text=name))


def signed_in_page(browser: Any, base_url: str, account: Account, target: str) -> tuple[Any, list[str]]:
    """A new page signed in through the form on its way to ``target``, and the script errors it raises."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base_url}/login?next={target}")
    page.fill("#user", account.user)
    page.fill("#password", account.password)
    page.click(SIGN_IN)
    playwright.expect(page).to_have_url(base_url + target)
    return page, errors


def test_a_person_signs_in_uploads_watches_and_explores(
    browser: Any, base_url: str, account: Account, api: httpx.Client, records: Uploads, s3_client: Any,
    store: Store, tmp_path: Path,
) -> None:
    expect = playwright.expect
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # Sign in: every page sends a stranger to the sign-in form first.
    page.goto(base_url + "/uploads")
    expect(page).to_have_url(base_url + "/login?next=/uploads")
    page.fill("#user", account.user)
    page.fill("#password", "not-the-password")
    page.click(SIGN_IN)
    expect(page.locator(".error")).to_contain_text("do not match")
    shot(page, "01-sign-in-refused")
    page.fill("#user", account.user)
    page.fill("#password", account.password)
    page.click(SIGN_IN)
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
    row(page, picture.name).locator("details.step-details summary").click()
    expect(row(page, picture.name).locator(".step[data-step=thumbnail]")).to_have_text("thumbnail: done")

    # An object put with another S3 client appears too; an empty one fails with its reason, and no retry
    # is offered, since running it again cannot help.
    s3_client.put_object(Bucket="uploads", Key="elsewhere/empty-from-s3.jpg", Body=b"")
    broken = row(page, "empty-from-s3.jpg")
    expect(broken).to_have_attribute("data-state", "failed", timeout=SETTLE_S)
    expect(broken.locator(".reason")).to_contain_text("empty")
    expect(broken.locator("button.retry")).to_be_hidden()
    expect(broken.locator(".retry-note")).to_contain_text("cannot help")
    page.select_option("select[name=state]", "failed")
    expect(row(page, picture.name)).to_be_hidden()
    expect(broken).to_be_visible()
    shot(page, "03-uploads-filtered-failed")
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

        wait_until(indexed, SETTLE_S / 1000)
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
        expect(page.locator(f"#hits a[href^='/uploads/{image_id}']").first).to_be_visible(timeout=SETTLE_S)
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


# Every change the page's event stream delivers, kept for the test to wait on.
RECORD_CHANGES = """
window.changesSeen = [];
const NativeEventSource = window.EventSource;
window.EventSource = class extends NativeEventSource {
  constructor(...args) {
    super(...args);
    this.addEventListener("message", (event) => window.changesSeen.push(JSON.parse(event.data)));
  }
};
"""


# The listings the uploads page makes, each held by the test while a change is streamed: the catch-up once
# its stream is ready (the only one that asks for no offset), and the list again after a filter is chosen.
LISTINGS = {
    "catch-up": lambda url: "offset=" not in url,
    "filter": lambda url: "media_type=image" in url,
}


@dataclass
class HeldListing:
    """An uploads page whose listing of one kind the test holds, and an upload of it whose steps are done."""

    page: Any
    errors: list[str]
    upload: str
    steps: dict[str, Any]
    held: list[Any] = field(default_factory=list)

    def wait_held(self, listing: str) -> Any:
        for _ in range(600):
            if self.held:
                return self.held[0]
            self.page.wait_for_timeout(50)
        raise AssertionError(f"the page made no {listing} listing")

    def publish(self, records: Uploads, step: str) -> None:
        """Streams the step's real change and waits until the page has it."""
        records.publish(self.upload, "step", self.steps[step])
        self.page.wait_for_function(
            "([id, step]) => window.changesSeen.some((c) => c.upload_id === id && c.data.name === step)",
            arg=[self.upload, step],
        )

    def step(self, name: str) -> Any:
        return self.page.locator(f"#upload-{self.upload} .steps .step[data-step={name}]")


def uploads_page_holding(
    browser: Any, base_url: str, account: Account, api: httpx.Client, listing: str,
    first_page: Callable[[dict[str, Any], HeldListing], None] = lambda reply, watched: None,
) -> HeldListing:
    """Opens the uploads page with the first ``listing`` it makes held; ``first_page`` may edit the list's
    first page on its way."""
    found = wait_for_upload(api, post_upload(api, f"{listing}.png", text_picture(), "image/png"))
    assert found["steps"]["thumbnail"]["state"] == "done"
    page, errors = signed_in_page(browser, base_url, account, "/search")
    page.add_init_script(RECORD_CHANGES)
    watched = HeldListing(page, errors, found["id"], found["steps"])
    holding = LISTINGS.get(listing, LISTINGS["catch-up"])

    def hold(route: Any) -> None:
        if holding(route.request.url) and not watched.held:
            watched.held.append(route)
        elif "offset=0" in route.request.url:
            reply = route.fetch()
            listed = reply.json()
            first_page(listed, watched)
            route.fulfill(response=reply, json=listed)
        else:
            route.continue_()

    if listing == "filter":
        page.goto(f"{base_url}/uploads")
        playwright.expect(page.locator("#live")).to_have_class(re.compile(r"\bon\b"))
    page.route(re.compile(r"/api/v1/uploads\?"), hold)
    if listing == "filter":
        page.select_option("#filters select[name=media_type]", "image")
    else:
        page.goto(f"{base_url}/uploads")
    return watched


def marked(reply: dict[str, Any], upload: str, steps: dict[str, Any], state: str, *names: str) -> None:
    for listed in reply["uploads"]:
        if listed["id"] == upload:
            for name in names:
                listed["steps"][name] = {**steps[name], "state": state}


@pytest.mark.parametrize("listing", sorted(LISTINGS))
def test_a_change_streamed_during_a_listing_is_not_undone_by_it(
    browser: Any, base_url: str, account: Account, api: httpx.Client, records: Uploads, listing: str,
) -> None:
    """A step that finishes while a listing of the uploads page is on its way arrives first as a change; the
    listing, read before it, must not undo it."""
    watched = uploads_page_holding(browser, base_url, account, api, listing)
    held = watched.wait_held(listing)
    # The listing as it was read before the thumbnail finished (its probe marked too: no change follows for
    # it, so the page showing it running says the listing has been applied) ...
    reply = held.fetch()
    before = reply.json()
    marked(before, watched.upload, watched.steps, "running", "thumbnail", "probe")
    # ... and the thumbnail's change, streamed while that listing is still on its way.
    watched.publish(records, "thumbnail")
    held.fulfill(response=reply, json=before)
    playwright.expect(watched.step("probe")).to_have_attribute("data-state", "running")
    playwright.expect(watched.step("thumbnail")).to_have_attribute("data-state", "done")
    assert watched.errors == []


def test_a_listing_that_never_answers_is_given_up_and_changes_flow_again(
    browser: Any, base_url: str, account: Account, api: httpx.Client, records: Uploads,
) -> None:
    """Changes wait for a listing on its way, but not for good: one that never answers is given up (after
    20 s) and the changes streamed meanwhile show."""
    watched = uploads_page_holding(
        browser, base_url, account, api, "unanswered",
        first_page=lambda reply, watched: marked(reply, watched.upload, watched.steps, "running", "thumbnail"),
    )
    watched.wait_held("catch-up")
    playwright.expect(watched.step("thumbnail")).to_have_attribute("data-state", "running")
    watched.publish(records, "thumbnail")
    playwright.expect(watched.step("thumbnail")).to_have_attribute("data-state", "done", timeout=40_000)
    assert watched.errors == []


def row_id(api: httpx.Client, name: str) -> str:
    listing = api.get("/uploads", params={"limit": 200}).json()["uploads"]
    return next(item["id"] for item in listing if item["key"].endswith("/" + name))


def near_copy(picture: Path) -> bytes:
    """The same photo made a little smaller and saved again: a near-duplicate, not the same bytes."""
    from PIL import Image

    with Image.open(picture) as image:
        smaller = image.convert("RGB").resize((image.width * 9 // 10, image.height * 9 // 10))
    buffer = io.BytesIO()
    smaller.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def side_by_side(*pictures: Path, height: int = 900) -> bytes:
    """One picture with the faces of several photos: two faces in it are never one person."""
    from PIL import Image

    parts = []
    for picture in pictures:
        with Image.open(picture) as image:
            parts.append(image.convert("RGB").resize((image.width * height // image.height, height)))
    canvas = Image.new("RGB", (sum(part.width for part in parts), height), "white")
    left = 0
    for part in parts:
        canvas.paste(part, (left, 0))
        left += part.width
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def face_owners(api: httpx.Client) -> dict[str, str]:
    """The person each placed face belongs to now, read through the people API."""
    owners = {}
    for person in api.get("/people").json()["people"]:
        for face in api.get(f"/people/{person['id']}").json()["members"]:
            owners[face["id"]] = person["id"]
    return owners


def ids_of(api: httpx.Client, person: str) -> set[str]:
    return {face["id"] for face in api.get(f"/people/{person}").json()["members"]}


def test_a_person_searches_by_image_and_person_then_merges_and_splits_people(
    browser: Any, base_url: str, account: Account, api: httpx.Client, tmp_path: Path
) -> None:
    expect = playwright.expect
    faces = DATA / "faces"
    sent = {
        "obama.jpg": (faces / "obama.jpg").read_bytes(),
        "obama2.jpg": (faces / "obama2.jpg").read_bytes(),
        "biden.jpg": (faces / "biden.jpg").read_bytes(),
        "obama-and-biden.jpg": side_by_side(faces / "obama.jpg", faces / "biden.jpg"),
    }
    keys = {}
    for name, data in sent.items():  # all at once: the pipeline analyses them side by side
        keys[name] = post_upload(api, name, data, "image/jpeg")
    done = {name: wait_for_upload(api, key) for name, key in keys.items()}
    assert {name: found["state"] for name, found in done.items()} == dict.fromkeys(sent, "done")
    ids = {name: found["id"] for name, found in done.items()}
    pair = [f"{ids['obama-and-biden.jpg']}:image:{number}" for number in (0, 1)]

    def indexed() -> dict[str, str]:
        """every face of the four photos is placed into a person (indexing follows the upload)"""
        owners = face_owners(api)
        wanted = [f"{ids[name]}:image:0" for name in ("obama.jpg", "obama2.jpg", "biden.jpg")] + pair
        return owners if all(face in owners for face in wanted) else {}

    owners = wait_until(indexed, SETTLE_S / 1000)
    obama = owners[f"{ids['obama.jpg']}:image:0"]
    assert owners[f"{ids['obama2.jpg']}:image:0"] == obama
    assert owners[f"{ids['biden.jpg']}:image:0"] != obama

    page, errors = signed_in_page(browser, base_url, account, "/search")

    # An image picked (as a drop would) finds the photo it is a smaller copy of, marked as a near-duplicate.
    copy = tmp_path / "obama-smaller.jpg"
    copy.write_bytes(near_copy(faces / "obama.jpg"))
    page.set_input_files("#image-file", str(copy))
    status = page.locator("#search-status")
    expect(status).to_contain_text("images like obama-smaller.jpg", timeout=SETTLE_S)
    # Nearest first; the tiny test CLIP puts every photo within the near-duplicate distance, a real one would not.
    # (Other tests of the session may have uploaded the same photo under another name: any copy of it leads.)
    expect(page.locator("#hits li.hit .hit-name").first).to_have_text(re.compile(r"(^|-)obama\.jpg$"))
    duplicate = page.locator(f"#hits li.hit[data-upload-id='{ids['obama.jpg']}']")
    expect(duplicate.locator(".badge")).to_have_text("near-duplicate")
    expect(duplicate.locator("img")).to_be_visible()
    # Loaded, not merely placed: the thumbnail's presigned URL works from the browser.
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=duplicate.locator("img").element_handle(),
                           timeout=SETTLE_S)
    expect(page.locator("#image-preview")).to_be_visible()
    shot(page, "13-search-by-image")

    # The person picker lists the uploads that person is in; a hit opens its result view.
    page.select_option("#person", obama)
    expect(status).to_contain_text("found for", timeout=SETTLE_S)
    for name in ("obama.jpg", "obama2.jpg"):
        expect(page.locator(f"#hits li.hit[data-upload-id='{ids[name]}'] img")).to_be_visible()
    expect(page.locator(f"#hits li.hit[data-upload-id='{ids['biden.jpg']}']")).to_have_count(0)
    shot(page, "14-search-by-person")
    page.locator(f"#hits li.hit[data-upload-id='{ids['obama2.jpg']}'] a").click()
    expect(page).to_have_url(f"{base_url}/uploads/{ids['obama2.jpg']}")
    expect(page.locator("#picture")).to_be_visible()

    # People: the two people of the side-by-side photo cannot be merged, and the page says why.
    page.goto(base_url + "/people")
    first, second = owners[pair[0]], owners[pair[1]]
    assert first != second
    row_of = lambda person: page.locator(f"li.person[data-id='{person}']")  # noqa: E731
    for person in (first, second):
        expect(row_of(person).locator(".face a").first).to_be_visible()
        assert "url(" in row_of(person).locator(".face a").first.evaluate("a => a.style.backgroundImage")
        row_of(person).locator("input.pick").check()
    shot(page, "15-people-faces")
    page.click("#merge")
    expect(page.locator("#people-action")).to_contain_text("both appear in one picture")
    expect(page.locator("#people-action")).to_have_class("error")
    shot(page, "16-people-merge-refused")

    # Move the face of the side-by-side photo out of a person who has another, then merge the two.
    holder = first if api.get(f"/people/{first}").json()["faces"] > 1 else second
    moved = pair[0] if holder == first else pair[1]
    row_of(holder).locator(f".face[data-face='{moved}'] button.split").click()
    expect(page.locator("#people-action")).to_contain_text("Moved the face out")
    split_to = face_owners(api)[moved]
    assert split_to not in (first, second)
    assert ids_of(api, split_to) == {moved}
    expect(row_of(split_to)).to_be_visible()

    members = {person: ids_of(api, person) for person in (first, second)}
    for person in (first, second):
        row_of(person).locator("input.pick").check()
    page.click("#merge")
    expect(page.locator("#people-action")).to_contain_text("Merged 2 people")
    into = api.get(f"/people/{first}").json()["id"]
    gone = second if into == first else first
    assert into in (first, second)
    assert api.get(f"/people/{gone}").json()["id"] == into  # the merged id points to the person it went into
    assert ids_of(api, into) == members[first] | members[second]
    expect(row_of(gone)).to_have_count(0)
    expect(row_of(into).locator(".face")).to_have_count(len(members[first] | members[second]))
    shot(page, "17-people-merged")

    # One face split back out of the merged person: a person of its own again.
    back = sorted(members[gone])[0]
    row_of(into).locator(f".face[data-face='{back}'] button.split").click()
    expect(page.locator("#people-action")).to_contain_text("Moved the face out")
    own = face_owners(api)[back]
    assert own not in (first, second)
    assert ids_of(api, own) == {back}
    assert back not in ids_of(api, into)
    expect(row_of(own).locator(f".face[data-face='{back}']")).to_be_visible()
    shot(page, "18-people-split")

    phone = browser.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    for path, name in (("/search", "19-phone-search"), ("/people", "20-phone-people")):
        phone.goto(base_url + path)
        expect(phone.locator("main h1")).to_be_visible()
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), path
        shot(phone, name)
    phone.close()
    page.close()
    assert errors == [], f"the pages raised script errors: {errors}"


def test_an_owner_runs_the_workspace_from_its_page(browser: Any, base_url: str, running_stack: Stack) -> None:
    """Sign in with a password, make a key (shown once), revoke it, add a member; nothing breaks."""
    from tests.conftest import make_account

    redis = running_stack.redis()
    owner = make_account(redis, f"wp-{time.time_ns() % 10**8}", "owner")
    newcomer = make_account(redis, f"wq-{time.time_ns() % 10**8}", "viewer")
    browser.clear_cookies()  # a browser nobody signed in with before
    page, errors = signed_in_page(browser, base_url, owner, "/workspace")
    expect = playwright.expect
    expect(page.locator("#members")).to_contain_text(owner.user)
    expect(page.locator("#usage")).to_contain_text("files")

    page.fill("#key-name", "camera upload")
    page.select_option("#key-role", "editor")
    page.click("#key-form button[type=submit]")
    expect(page.locator("#new-key")).to_contain_text("ml_")
    secret = page.locator("#new-key code").inner_text()
    row_of_key = page.locator("#keys tr", has_text="camera upload")
    expect(row_of_key).to_contain_text("editor")
    assert httpx.get(base_url + "/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).json()["role"] == "editor"
    row_of_key.locator("button", has_text="Revoke").click()
    expect(page.locator("#keys")).not_to_contain_text("camera upload")
    assert httpx.get(base_url + "/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401

    page.fill("#member-user", newcomer.user)
    page.select_option("#member-role", "editor")
    page.click("#member-form button[type=submit]")
    expect(page.locator("#members")).to_contain_text(newcomer.user)
    expect(page.locator("#audit")).to_contain_text("key-revoked")
    shot(page, "20-workspace")
    assert errors == []
    page.close()
