"""The library as the API serves it: what a listed upload says of itself, paging and filters, retry only
where it can help, previous and next, and the originals of a selection as one archive."""

from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from embedded.stack import Stack
from tests.conftest import jpeg, make_account
from tests.ui_support import upload_bytes

IMAGE_STEPS = ["probe", "thumbnail", "pose", "ocr", "nsfw", "faces", "clip", "caption"]


@pytest.fixture(scope="module")
def library(running_stack: Stack) -> Iterator[httpx.Client]:
    """The API as an editor of a workspace of its own, so that its listing holds only this module's uploads."""
    account = make_account(running_stack.redis(), f"lib-{uuid.uuid4().hex[:8]}", "owner")
    s = running_stack.settings
    with httpx.Client(base_url=s.url(s.ui_port) + "/api/v1", headers={"Authorization": f"Bearer {account.key}"},
                      timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def uploaded(library: httpx.Client) -> dict[str, dict]:
    """Two photos of one name from two cameras, and an empty file."""
    return {
        "first": upload_bytes(library, "00.jpg", jpeg((320, 240), (200, 40, 40)), "image/jpeg"),
        "second": upload_bytes(library, "00.jpg", jpeg((300, 200), (40, 40, 200)), "image/jpeg"),
        "empty": upload_bytes(library, "empty.jpg", b"", "image/jpeg"),
    }


def listed(library: httpx.Client, **params: str | int) -> dict:
    reply = library.get("/uploads", params=params)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_a_listed_upload_says_what_a_person_needs_to_tell_it_apart(
    library: httpx.Client, uploaded: dict[str, dict]
) -> None:
    by_id = {item["id"]: item for item in listed(library)["uploads"]}
    first, second = by_id[uploaded["first"]["id"]], by_id[uploaded["second"]["id"]]
    assert first["path"] == second["path"] == "00.jpg", "no workspace prefix, no upload form folder"
    assert first["size"] != second["size"]
    assert first["created_at"] < second["created_at"]
    assert first["listed_at"] == first["created_at"], "a picture without a date taken is listed by its upload"
    thumbnail = httpx.get(first["thumbnail"])
    assert thumbnail.status_code == 200 and thumbnail.content[:2] == b"\xff\xd8", "the thumbnail loads"
    assert first["progress"] == 1.0 and first["state"] == "done"
    assert first["overview"] == {}, "a plain red picture holds no faces, people or text"
    order = sorted(first["steps"].values(), key=lambda step: step["position"])
    assert [step["name"] for step in order] == IMAGE_STEPS, "steps come in the order a person reads them"


def test_retry_is_offered_only_where_it_can_help(library: httpx.Client, uploaded: dict[str, dict]) -> None:
    empty = next(item for item in listed(library, state="failed")["uploads"] if item["id"] == uploaded["empty"]["id"])
    assert empty["retryable"] is False
    assert empty["steps"]["probe"]["rejected"] is True
    assert empty["media_type"] == ""
    reply = library.post(f"/uploads/{empty['id']}/retry")
    assert reply.status_code == 409
    assert "empty" in reply.json()["error"] and "cannot help" in reply.json()["error"]
    done = listed(library, state="done")["uploads"][0]
    assert done["retryable"] is False
    assert library.post(f"/uploads/{done['id']}/retry").status_code == 409


def test_the_listing_pages_and_filters_by_state_type_and_day(library: httpx.Client, uploaded: dict[str, dict]) -> None:
    everything = listed(library)
    assert everything["total"] == 3
    newest_first = [item["id"] for item in everything["uploads"]]
    assert newest_first == [uploaded[name]["id"] for name in ("empty", "second", "first")]
    pages = [listed(library, limit=2, offset=offset) for offset in (0, 2)]
    assert [item["id"] for page in pages for item in page["uploads"]] == newest_first
    assert all(page["total"] == 3 for page in pages)
    assert listed(library, state="done", media_type="image")["total"] == 2
    assert listed(library, state="failed", media_type="image")["total"] == 0, "an empty file has no type"
    today = datetime.now(UTC).date()
    assert listed(library, since=today.isoformat(), until=today.isoformat())["total"] == 3
    assert listed(library, since=(today + timedelta(days=1)).isoformat())["total"] == 0
    assert listed(library, until=(today - timedelta(days=1)).isoformat(), state="done")["total"] == 0
    assert library.get("/uploads", params={"since": "yesterday"}).status_code == 400
    missing = library.get("/uploads", params={"person": "nobody-at-all"})
    assert missing.status_code == 404 and "no person" in missing.json()["error"]


def test_the_originals_of_a_selection_come_as_one_archive(library: httpx.Client, uploaded: dict[str, dict]) -> None:
    ids = [uploaded["first"]["id"], uploaded["second"]["id"], "not-an-upload"]
    reply = library.get("/uploads/archive", params={"ids": ",".join(ids)})
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/x-tar"
    assert "attachment" in reply.headers["content-disposition"]
    with tarfile.open(fileobj=io.BytesIO(reply.content)) as archive:
        files = {member.name: archive.extractfile(member).read() for member in archive.getmembers()}  # type: ignore[union-attr]
    assert len(files) == 2, f"both files named 00.jpg arrive, nothing else: {sorted(files)}"
    assert "00.jpg" in files
    sizes = sorted(len(content) for content in files.values())
    assert sizes == sorted([uploaded["first"]["size"], uploaded["second"]["size"]])
    assert all(content[:2] == b"\xff\xd8" for content in files.values())
    assert library.get("/uploads/archive", params={"ids": ","}).status_code == 400


def test_a_map_is_drawn_around_the_place_from_the_tile_server_of_the_settings() -> None:
    from ui.details import place_map

    assert place_map(48.8582, 2.2945, "") is None, "no tile server set: no map"
    found = place_map(48.8582, 2.2945, "https://tiles.example/{z}/{x}/{y}.png")
    assert found is not None
    assert len(found.tiles) == 3 and all(len(row) == 3 for row in found.tiles)
    # The Eiffel Tower lies in tile 16592 / 11272 at zoom 15: the middle one, with the pin inside it.
    assert found.tiles[1][1] == "https://tiles.example/15/16592/11272.png"
    assert 100 / 3 <= found.left <= 200 / 3 and 100 / 3 <= found.top <= 200 / 3


def test_the_result_page_shows_the_map_and_its_tiles_pass_the_content_policy(
    running_stack: Stack, library: httpx.Client
) -> None:
    from tests.conftest import exif_jpeg
    from tests.ui_support import app_on, sign_in

    photo = upload_bytes(library, "paris.jpg", exif_jpeg(), "image/jpeg")
    owner = make_account(running_stack.redis(), photo["workspace"], "viewer")
    tiles = "https://tiles.example/{z}/{x}/{y}.png"
    with app_on(running_stack, map_tiles=tiles, sign_in_limit="1000 per minute") as app:
        web = app.test_client()
        sign_in(web, owner)
        reply = web.get(f"/uploads/{photo['id']}")
    page = reply.get_data(as_text=True)
    assert reply.status_code == 200
    # The photo says 48.8582 N, 2.2945 W (in Brittany): its tile is in the middle.
    assert 'id="map"' in page
    middle = page.split('id="map"')[1].split("<img")[5]
    assert "https://tiles.example/15/16175/11272.png" in middle
    assert "https://tiles.example" in reply.headers["Content-Security-Policy"].split("img-src")[1].split(";")[0]
    assert "Canon EOS 5D Mark IV" in page and "2019-07-14 09:30 +02:00" in page
