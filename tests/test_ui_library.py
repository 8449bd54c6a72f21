"""The library in headless Chromium: the grid by day, paging, filters, live progress, bulk actions, and the
viewer with previous/next, zoom, download, delete with undo, retry only where it helps, and its details."""
# ruff: noqa: F811 - the fixtures imported from tests.test_ui_browser come back as test parameters

from __future__ import annotations

import tarfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from embedded.stack import Stack
from scheduler.uploads import State, StepState, Uploads
from tests.conftest import Account, dated_mp4, exif_jpeg, jpeg, make_account, wait_for_upload
from tests.test_ui_browser import SETTLE_S, base_url, browser, shot, signed_in_page  # noqa: F401
from tests.ui_support import post_upload, upload_bytes
from tests.waiting import wait_until

playwright = pytest.importorskip("playwright.sync_api", reason="install requirements/dev.txt (playwright)")
expect = playwright.expect

IMAGE_STEPS = ["probe", "thumbnail", "pose", "ocr", "nsfw", "faces", "clip", "caption"]
PHONE = {"width": 390, "height": 844}


class Library:
    """A workspace of its own, its owner, the API as that owner, and what was uploaded into it."""

    def __init__(self, account: Account, api: httpx.Client, uploads: dict[str, dict[str, Any]]) -> None:
        self.account, self.api, self.uploads = account, api, uploads

    def id(self, name: str) -> str:
        return str(self.uploads[name]["id"])


@pytest.fixture(scope="module")
def library(running_stack: Stack, base_url: str) -> Iterator[Library]:
    account = make_account(running_stack.redis(), f"grid-{uuid.uuid4().hex[:8]}", "owner")
    with httpx.Client(base_url=base_url + "/api/v1", headers={"Authorization": f"Bearer {account.key}"},
                      timeout=60) as api:
        keys = {  # sent at once: the pipeline works on them side by side
            "camera": post_upload(api, "00.jpg", exif_jpeg(), "image/jpeg"),
            "clip": post_upload(api, "clip.mp4", dated_mp4(), "video/mp4"),
        }
        uploads = {name: wait_for_upload(api, key) for name, key in keys.items()}
        # Uploaded today, after the two above: a second 00.jpg and an empty file.
        uploads["plain"] = upload_bytes(api, "00.jpg", jpeg((360, 240), (220, 60, 40)), "image/jpeg")
        uploads["empty"] = upload_bytes(api, "empty.jpg", b"", "image/jpeg")
        yield Library(account, api, uploads)


def card(page: Any, upload_id: str) -> Any:
    return page.locator(f"li.upload[data-id='{upload_id}']")


def days(page: Any) -> list[str]:
    return [str(day) for day in page.locator("section.day").evaluate_all("all => all.map(s => s.dataset.day)")]


def test_the_library_is_a_grid_by_day_that_pages_filters_and_follows_progress(
    browser: Any, base_url: str, library: Library, running_stack: Stack
) -> None:
    assert library.uploads["camera"]["state"] == library.uploads["clip"]["state"] == "done"
    today = datetime.now(UTC).date().isoformat()
    asked: list[str] = []
    browser.on("request", lambda request: asked.append(request.url) if "/api/v1/uploads?" in request.url else None)
    page, errors = signed_in_page(browser, base_url, library.account, "/uploads?limit=2")

    # Two cards a page: the next page comes while the end of the list is in view, until all are shown.
    expect(page.locator("li.upload")).to_have_count(4)
    expect(page.locator("#more")).to_be_hidden()
    expect(page.locator("#shown")).to_have_text("4 of 4")
    pages = sorted(url for url in asked if "limit=2" in url and "offset=" in url)
    assert [url.split("offset=")[1].split("&")[0] for url in pages] == ["0", "2"], pages

    # Grouped by the day taken (else uploaded), newest first: today, the clip's day, the photo's day.
    assert days(page) == [today, "2020-05-01", "2019-07-14"]
    camera, plain = card(page, library.id("camera")), card(page, library.id("plain"))
    expect(page.locator("section.day[data-day='2019-07-14'] li.upload")).to_have_count(1)
    for each in (camera, plain):  # two files named 00.jpg, told apart by picture, day and size
        expect(each.locator("a.name")).to_have_text("00.jpg")
        expect(each.locator(".thumb img")).to_be_visible()
        assert each.locator(".thumb img").evaluate("img => img.complete && img.naturalWidth > 0")
    assert camera.locator(".size").inner_text() != plain.locator(".size").inner_text()
    expect(plain.locator(".summary")).to_have_text("nothing found")
    expect(plain.locator("progress")).to_be_hidden()
    clip = card(page, library.id("clip"))
    expect(clip.locator(".media")).to_have_text("video")
    expect(clip.locator(".duration")).to_have_text("0:02")

    # The steps hide behind one toggle, in the order a person reads them.
    expect(plain.locator(".steps")).to_be_hidden()
    plain.locator("details.step-details summary").click()
    expect(plain.locator(".steps")).to_be_visible()
    assert plain.locator(".steps .step").evaluate_all("all => all.map(c => c.dataset.step)") == IMAGE_STEPS
    expect(plain.locator("details.step-details summary")).to_have_text(f"Steps ({len(IMAGE_STEPS)})")

    # A file refused for itself offers no retry, and says why.
    empty = card(page, library.id("empty"))
    expect(empty.locator(".media")).to_have_text("not media")
    expect(empty.locator(".reason")).to_contain_text("empty")
    expect(empty.locator("button.retry")).to_be_hidden()
    expect(empty.locator(".retry-note")).to_contain_text("cannot help")
    shot(page, "21-library-grid")

    # Filters combine on the server; one that matches nothing says so, and clears in one click.
    page.select_option("select[name=media_type]", "video")
    expect(page.locator("li.upload")).to_have_count(1)
    expect(clip).to_be_visible()
    page.select_option("select[name=media_type]", "")
    page.fill("input[name=since]", "2019-01-01")
    page.fill("input[name=until]", "2019-12-31")
    page.locator("input[name=until]").dispatch_event("change")
    expect(page.locator("li.upload")).to_have_count(1)
    expect(camera).to_be_visible()
    assert "since=2019-01-01" in page.url and "until=2019-12-31" in page.url
    page.select_option("select[name=state]", "failed")
    expect(page.locator("li.upload")).to_have_count(0)
    expect(page.locator("#no-match")).to_be_visible()
    expect(page.locator("#empty")).to_be_hidden()
    shot(page, "22-library-no-match")
    page.click("#clear-filters")
    expect(page.locator("li.upload")).to_have_count(4)
    expect(page.locator("#no-match")).to_be_hidden()

    # A new upload joins live at the top, with one progress bar while it runs and its steps in order.
    page.evaluate("""() => {
      window.seenRunning = [];
      new MutationObserver(() => {
        for (const row of document.querySelectorAll("li.upload[data-state=running]")) {
          const bars = row.querySelectorAll("progress");
          window.seenRunning.push(bars.length === 1 && !bars[0].hidden && bars[0].value <= 1);
        }
      }).observe(document.getElementById("library"), {subtree: true, childList: true, attributes: true});
    }""")
    key = post_upload(library.api, "live.jpg", jpeg((200, 200), (30, 160, 90)), "image/jpeg")
    live = page.locator("li.upload", has=page.locator("a.name", has_text="live.jpg"))
    expect(live).to_have_attribute("data-state", "done", timeout=SETTLE_S)
    library.uploads["live"] = wait_for_upload(library.api, key)
    seen = page.evaluate("window.seenRunning")
    assert seen and all(seen), "while running, each card had one visible progress bar"
    expect(live.locator("progress")).to_be_hidden()
    first_today = page.locator(f"section.day[data-day='{today}'] li.upload").first
    assert first_today.get_attribute("data-id") == library.id("live")
    assert live.locator(".steps .step").evaluate_all("all => all.map(c => c.dataset.step)") == IMAGE_STEPS
    expect(page.locator("#shown")).to_have_text("5 of 5")

    phone = browser.new_page()
    phone.set_viewport_size(PHONE)
    phone.goto(base_url + "/uploads")
    expect(phone.locator("li.upload")).to_have_count(5)
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(phone, "23-phone-library-grid")
    phone.close()
    page.close()
    assert errors == [], f"the page raised script errors: {errors}"

    # A workspace with nothing in it says so, and where to upload, not that a filter matched nothing.
    newcomer = make_account(running_stack.redis(), f"bare-{uuid.uuid4().hex[:8]}", "editor")
    browser.clear_cookies()
    bare, errors = signed_in_page(browser, base_url, newcomer, "/uploads")
    expect(bare.locator("#empty")).to_be_visible()
    expect(bare.locator("#empty a")).to_have_attribute("href", "/upload")
    expect(bare.locator("#no-match")).to_be_hidden()
    bare.close()
    assert errors == []


def test_bulk_select_downloads_one_archive_reprocesses_and_deletes_with_undo(
    browser: Any, base_url: str, library: Library, tmp_path: Path
) -> None:
    browser.clear_cookies()  # each test signs in afresh
    page, errors = signed_in_page(browser, base_url, library.account, "/uploads")
    camera, plain = card(page, library.id("camera")), card(page, library.id("plain"))
    expect(page.locator("#bulk")).to_be_hidden()
    for each in (camera, plain):
        each.locator("input.pick").check()
    expect(page.locator("#bulk-count")).to_have_text("2 selected")
    shot(page, "24-library-bulk")

    with page.expect_download() as waiting:
        page.click("#bulk-download")
    saved = tmp_path / "selection.tar"
    waiting.value.save_as(saved)
    with tarfile.open(saved) as archive:
        sizes = sorted(member.size for member in archive.getmembers())
    assert sizes == sorted([library.uploads["camera"]["size"], library.uploads["plain"]["size"]])

    # Analyse one again: it runs anew, and the card follows it to the end.
    page.click("#bulk-clear")
    expect(page.locator("#bulk")).to_be_hidden()
    camera.locator("input.pick").check()
    before = library.api.get(f"/uploads/{library.id('camera')}").json()["steps"]["probe"]["started_at"]
    page.click("#bulk-reprocess")
    expect(page.locator("#notice")).to_contain_text("Analysing 1 upload again")

    def ran_again() -> bool:
        """the upload was analysed again to the end"""
        found = library.api.get(f"/uploads/{library.id('camera')}").json()
        return found["state"] == "done" and found["steps"].get("probe", {}).get("started_at", 0) > before

    wait_until(ran_again, SETTLE_S / 1000)
    expect(camera).to_have_attribute("data-state", "done", timeout=SETTLE_S)

    # Delete asks first, then waits a moment in which it can be undone.
    page.click("#bulk-clear")
    plain.locator("input.pick").check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#bulk-delete")
    expect(page.locator("#notice")).to_contain_text("Deleting 1 upload")
    expect(plain).to_be_hidden()
    page.locator("#notice button.undo").click()
    expect(page.locator("#notice")).to_contain_text("Nothing was deleted")
    expect(plain).to_be_visible()
    assert library.api.get(f"/uploads/{library.id('plain')}").status_code == 200
    plain.locator("input.pick").check()
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("#bulk-delete")
    expect(plain).to_be_visible()  # refused at the question: nothing happens
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#bulk-delete")
    expect(page.locator("#notice")).to_contain_text("Deleted 1 upload.", timeout=30_000)
    expect(plain).to_have_count(0)
    assert library.api.get(f"/uploads/{library.id('plain')}").status_code == 404
    page.close()
    assert errors == [], f"the page raised script errors: {errors}"


def test_the_viewer_steps_through_zooms_downloads_retries_only_where_it_helps_and_deletes_with_undo(
    browser: Any, base_url: str, library: Library, running_stack: Stack
) -> None:
    clip, camera = library.id("clip"), library.id("camera")
    browser.clear_cookies()
    page, errors = signed_in_page(browser, base_url, library.account, f"/uploads/{clip}")

    # Previous and next follow the library's order (newest first), by arrow key too.
    page.wait_for_load_state()  # the page's script listens for the keys
    page.keyboard.press("ArrowRight")
    expect(page).to_have_url(f"{base_url}/uploads/{camera}")
    page.wait_for_load_state()
    page.keyboard.press("ArrowLeft")
    expect(page).to_have_url(f"{base_url}/uploads/{clip}")
    expect(page.locator("#details [data-detail=duration] dd")).to_have_text("0:02")
    expect(page.locator("#details [data-detail=codec] dd")).to_have_text("mpeg4")
    page.locator("#next").click()
    expect(page).to_have_url(f"{base_url}/uploads/{camera}")
    expect(page.locator("#next")).to_have_count(0)  # the oldest has no next

    # The details panel: what the camera wrote; no map while no tile server is set.
    details = page.locator("#details")
    expect(details.locator("[data-detail=taken] dd")).to_have_text("2019-07-14 09:30 +02:00")
    expect(details.locator("[data-detail=camera] dd")).to_have_text("Canon EOS 5D Mark IV")
    expect(details.locator("[data-detail=lens] dd")).to_have_text("EF50mm f/1.8 STM")
    expect(details.locator("[data-detail=place] dd")).to_have_text("48.85820, -2.29450")
    expect(details.locator("[data-detail=dimensions] dd")).to_have_text("320 \u00d7 240")
    expect(page.locator("#map")).to_have_count(0)

    # Zoom shows the picture at its own size; the steps wait behind their toggle.
    expect(page.locator("#picture")).to_be_visible()
    page.click("#zoom")
    expect(page.locator("#zoom")).to_have_attribute("aria-pressed", "true")
    assert page.locator("#picture").evaluate("img => img.clientWidth === img.naturalWidth")
    expect(page.locator("#steps")).to_be_hidden()
    shot(page, "25-viewer-details")

    with page.expect_download() as waiting:
        page.click("#download")
    assert waiting.value.suggested_filename == "00.jpg"
    assert Path(waiting.value.path()).read_bytes()[:2] == b"\xff\xd8"

    # A file refused for itself: no retry, and the page says why.
    page.goto(f"{base_url}/uploads/{library.id('empty')}")
    expect(page.locator("#retry")).to_have_count(0)
    expect(page.locator("#retry-note")).to_contain_text("cannot help")
    expect(page.locator("h1")).to_have_text("empty.jpg")

    # A step that failed for a passing reason (a gateway down): retry is offered and runs it again.
    live = library.id("live") if "live" in library.uploads else camera
    records = Uploads(running_stack.redis())
    thumbnail = records.step(live, "thumbnail")
    thumbnail.state, thumbnail.reason = StepState.FAILED, "the gateway could not be reached"
    records.put_step(live, thumbnail)
    records.set_state(live, State.FAILED, "thumbnail: the gateway could not be reached")
    page.goto(f"{base_url}/uploads/{live}")
    expect(page.locator("#retry-note")).to_have_count(0)
    page.click("#retry")
    expect(page.locator("#state")).to_have_text("done", timeout=SETTLE_S)
    assert library.api.get(f"/uploads/{live}").json()["steps"]["thumbnail"]["state"] == "done"

    # Delete: asked, then undone; asked again, and the viewer moves on to the next upload.
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete")
    expect(page.locator("#notice")).to_contain_text("Deleting")
    page.locator("#notice button.undo").click()
    expect(page.locator("#notice")).to_contain_text("Nothing was deleted")
    assert library.api.get(f"/uploads/{live}").status_code == 200
    following = page.locator("#next, #previous").first.get_attribute("href")  # next, else previous
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete")
    expect(page).to_have_url(f"{base_url}{following}", timeout=30_000)
    assert library.api.get(f"/uploads/{live}").status_code == 404

    phone = browser.new_page()
    phone.set_viewport_size(PHONE)
    phone.goto(f"{base_url}/uploads/{clip}")
    expect(phone.locator("#details")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(phone, "26-phone-viewer-details")
    phone.close()
    page.close()
    assert errors == [], f"the page raised script errors: {errors}"
