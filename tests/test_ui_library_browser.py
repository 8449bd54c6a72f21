"""Finding things in the library, in headless Chromium: NSFW overlays, search relevance and filters, copies
found without CLIP, and people (a page each, named from a picture, moved, hidden, undone)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from functions.common import images
from functions.nsfw import engines
from functions.probe.content import describe
from search.clip import UNREACHABLE
from tests.conftest import DATA, make_account
from tests.search_data import SearchEnv, faces_result
from tests.test_ui_browser import browser, shot, signed_in_page  # noqa: F401  (browser: a fixture)

pytest_plugins = ["tests.served_support"]
playwright = pytest.importorskip("playwright.sync_api", reason="install requirements/dev.txt (playwright)")

PHONE = {"width": 390, "height": 844}
FACES = DATA / "faces"


def _ocr(*lines: str) -> dict[str, Any]:
    box = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.2], [0.1, 0.2]]
    return {"lines": [{"text": text, "box": box, "confidence": 0.99} for text in lines]}


def _nsfw(data: bytes) -> dict[str, Any]:
    """The nsfw function's real answer for a picture (nudenet regions, open_nsfw score, verdict)."""
    pixels = np.asarray(images.fit_long_side(images.decode_rgb(data)))
    regions = engines.regions().load().predict(pixels)
    score = engines.whole_image().load().predict(pixels)
    return {"verdict": engines.verdict(score, regions), "score": score, "regions": regions}


def _photo(env: SearchEnv, name: str, data: bytes, **results: Any) -> str:
    """An analysed photo whose stored object is the picture itself, with its results on its record."""
    upload = env.add(name, "image", {"probe": describe(data), **results})
    record = env.records.get(upload)
    env.store.put_bytes(record.bucket, record.key, data, "image/jpeg")
    for step, result in {"probe": describe(data), **results}.items():
        env.records.put_result(upload, step, result)
    return upload


def _smaller(data: bytes) -> bytes:
    from PIL import Image

    picture = Image.open(io.BytesIO(data)).convert("RGB")
    buffer = io.BytesIO()
    picture.resize((picture.width // 2, picture.height // 2)).save(buffer, "JPEG", quality=70)
    return buffer.getvalue()


@pytest.fixture
def library(search_env: SearchEnv) -> dict[str, str]:
    obama, obama2, biden = ((FACES / f"{n}.jpg").read_bytes() for n in ("obama", "obama2", "biden"))
    return {
        "obama": _photo(search_env, "obama.jpg", obama, faces=faces_result("obama.jpg"), nsfw=_nsfw(obama),
                        ocr=_ocr("Lighthouse museum")),
        "obama2": _photo(search_env, "obama2.jpg", obama2, faces=faces_result("obama2.jpg"), nsfw=_nsfw(obama2)),
        "biden": _photo(search_env, "biden.jpg", biden, faces=faces_result("biden.jpg"), nsfw=_nsfw(biden),
                        ocr=_ocr("Menu of the day")),
        "obama-small": _photo(search_env, "obama-small.jpg", _smaller(obama)),
    }


@pytest.fixture
def page_of(browser: Any, served: str, search_env: SearchEnv) -> Any:  # noqa: F811
    account = make_account(search_env.records.redis, search_env.workspace, "owner")
    opened: list[tuple[Any, list[str]]] = []

    def open_at(target: str) -> Any:
        page, errors = signed_in_page(browser, served, account, target)
        opened.append((page, errors))
        return page

    yield open_at
    for page, errors in opened:
        page.close()
        assert errors == [], f"the pages raised script errors: {errors}"


def _phone(page: Any, name: str) -> None:
    """The page as a phone shows it: it fits without sideways scrolling."""
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), name
    shot(page, name)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_no_nsfw_region_is_drawn_on_face_photos_and_copies_show_without_clip(
    browser: Any, page_of: Any, library: dict[str, str], served: str  # noqa: F811
) -> None:
    expect = playwright.expect
    page = page_of(f"/uploads/{library['obama']}")
    expect(page.locator("#overlay g[data-layer=faces] rect")).to_have_count(1)
    # nudenet found a face on the photo; the verdict is safe, so there is no NSFW layer at all.
    expect(page.locator("#layers input[data-layer=nsfw]")).to_have_count(0)
    expect(page.locator("#overlay g[data-layer=nsfw] > *")).to_have_count(0)
    expect(page.locator("#blur")).to_have_count(0)
    expect(page.locator("#overlay-summary")).to_contain_text("NSFW verdict: safe")
    copies = page.locator("#duplicates li.hit")
    expect(copies).to_have_count(1)
    expect(copies.first).to_have_attribute("data-upload-id", library["obama-small"])
    expect(copies.first.locator(".badge")).to_have_text("resized or re-encoded copy")
    shot(page, "lf-01-result-face-photo")
    _phone(page, "lf-02-phone-result-face-photo")


def test_search_splits_exact_from_similar_finds_nothing_for_nonsense_and_filters(
    browser: Any, page_of: Any, library: dict[str, str], search_env: SearchEnv, tmp_path: Path  # noqa: F811
) -> None:
    expect = playwright.expect
    page = page_of("/search?q=lighthouse")
    status = page.locator("#search-status")
    expect(status).to_contain_text("found for", timeout=60_000)
    exact = page.locator("#hits [data-group=exact] li.hit")
    expect(exact).to_have_count(1)
    expect(exact.first).to_have_attribute("data-upload-id", library["obama"])
    expect(exact.first.locator(".hit-why")).to_have_text("the words are in the text on screen")
    expect(page.locator(f"#hits li.hit[data-upload-id='{library['biden']}']")).to_have_count(0)
    shot(page, "lf-03-search-exact")

    page.fill("#q", "xqzvbn")
    page.click("#search-form button[type=submit]")
    expect(status).to_have_text("Nothing found for “xqzvbn”.")
    expect(page.locator("#hits li.hit")).to_have_count(0)

    page.fill("#q", "lighthouse")
    page.select_option("#media-type", "audio")
    page.click("#search-form button[type=submit]")
    expect(status).to_have_text("Nothing found for “lighthouse”.")
    page.select_option("#media-type", "image")  # searches again by itself, embedding the query anew
    expect(exact).to_have_count(1, timeout=60_000)
    shot(page, "lf-04-search-filtered")
    _phone(page, "lf-05-phone-search")

    # A picture dropped (picked) finds its copy without CLIP, and says once what CLIP would add.
    sent = tmp_path / "obama-again.jpg"
    sent.write_bytes((FACES / "obama.jpg").read_bytes())
    page.set_input_files("#image-file", str(sent))
    expect(status).to_contain_text("images like obama-again.jpg")
    copies = page.locator("#hits [data-group=copies] li.hit")
    expect(copies).to_have_count(2)
    expect(page.locator(f"#hits [data-group=copies] li.hit[data-upload-id='{library['obama']}'] .badge")).to_have_text(
        "identical")
    expect(page.locator("#search-notice")).to_be_visible()
    # The app's gateway serves the embed function alone (tests/search_support.py), no clip: the notice says so
    # plainly, with no address or error number.
    expect(page.locator("#search-notice")).to_have_text(UNREACHABLE)
    shot(page, "lf-06-search-copies-without-clip")


def test_people_are_named_from_a_picture_moved_hidden_and_undone(
    browser: Any, page_of: Any, library: dict[str, str], search_env: SearchEnv  # noqa: F811
) -> None:
    expect = playwright.expect
    obama, biden = search_env.person_of(library["obama"]), search_env.person_of(library["biden"])
    assert search_env.person_of(library["obama2"]) == obama

    # Name a face from the picture it is in.
    page = page_of(f"/uploads/{library['biden']}")
    face = page.locator(f"#faces-here li.face[data-face='{library['biden']}:image:0']")
    expect(face.locator(".person-name")).to_have_text(f"Person {biden[1:]}")
    face.locator("input[name=name]").fill("Joe Biden")
    face.locator("button[type=submit]").click()
    expect(face.locator(".note")).to_have_text("saved: Joe Biden")
    expect(page.locator("#overlay g[data-layer=faces] text")).to_have_text(["Person " + biden[1:]])
    page.reload()
    expect(page.locator("#overlay g[data-layer=faces] text")).to_have_text(["Joe Biden"])
    shot(page, "lf-07-result-face-named")

    # The person's page: their uploads; a face said to be someone known moves there, and undo takes it back.
    page.goto(f"{page.url.split('/uploads/')[0]}/people/{obama}")
    expect(page.locator("#person-title")).to_have_text(f"Person {obama[1:]}")
    expect(page.locator("#appears li.hit")).to_have_count(2)
    moved = f"{library['obama2']}:image:0"
    page.locator(f"#person-faces li.face[data-face='{moved}'] select.move-to").select_option(biden)
    expect(page.locator("#person-action")).to_have_text("Moved the face to Joe Biden.")
    expect(page.locator("#appears li.hit")).to_have_count(1)
    assert search_env.person_of(library["obama2"]) == biden
    shot(page, "lf-08-person-face-moved")
    page.click("#undo")
    expect(page.locator("#person-action")).to_have_text(
        f"Undone: moving a face from Person {obama[1:]} to Joe Biden.")
    expect(page.locator("#appears li.hit")).to_have_count(2)
    assert search_env.person_of(library["obama2"]) == obama
    _phone(page, "lf-09-phone-person")

    # Hide someone in the background: gone from the list until shown again, and undo brings them back.
    page.goto(f"{page.url.split('/people/')[0]}/people")
    row = page.locator(f"li.person[data-id='{biden}']")
    expect(row.locator(".person-name")).to_have_text("Joe Biden")
    row.locator("button.hide").click()
    expect(page.locator("#people-action")).to_have_text("Joe Biden is hidden.")
    expect(row).to_have_count(0)
    page.check("#show-hidden")
    expect(row).to_have_class("person hidden-person")
    shot(page, "lf-10-people-hidden-shown")
    page.uncheck("#show-hidden")
    page.click("#undo")
    expect(page.locator("#people-action")).to_have_text("Undone: hiding Joe Biden.")
    expect(row).to_be_visible()
    _phone(page, "lf-11-phone-people")
