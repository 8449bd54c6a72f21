"""The upload listing is read from indexes in Redis: filtered, paged, and as cheap at many uploads as at few."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from redis import Redis

from scheduler.uploads import ANY, State, Upload, Uploads
from storage.events import UploadEvent
from storage.layout import LEGACY_WORKSPACE

PROJECT = Path(__file__).resolve().parent.parent


WS = "acme"


def make(number: int, media_type: str = "image", workspace: str = WS) -> Upload:
    upload = Upload.from_event(UploadEvent("uploads", f"k{number}.jpg", f"e{number}", 10, "image/jpeg"), workspace)
    upload.created_at = 1_000_000.0 + number
    upload.media_type = media_type
    return upload


class Counting(Redis):
    """A Redis client that counts the commands it sends (a pipeline counts once)."""

    commands = 0

    def execute_command(self, *args: Any, **options: Any) -> Any:
        Counting.commands += 1
        return super().execute_command(*args, **options)

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        pipe = super().pipeline(transaction, shard_hint)
        execute = pipe.execute

        def counted(raise_on_error: bool = True) -> Any:
            Counting.commands += 1
            return execute(raise_on_error)

        pipe.execute = counted  # type: ignore[method-assign]
        return pipe


def test_filters_and_pages_come_from_the_index(redis_db: Redis) -> None:
    records = Uploads(redis_db)
    for number in range(30):
        records.create(make(number, "video" if number % 3 == 0 else "image"))
    for number in range(0, 30, 5):
        records.set_state(make(number).id, State.FAILED, "damaged")
    failed = records.page(WS, State.FAILED.value)
    assert failed.total == 6
    assert [u.key for u in failed.uploads] == [f"k{n}.jpg" for n in (25, 20, 15, 10, 5, 0)], "newest first"
    failed_videos = records.page(WS, State.FAILED.value, "video")
    assert [u.key for u in failed_videos.uploads] == ["k15.jpg", "k0.jpg"]
    second_page = records.page(WS, offset=10, limit=10)
    assert second_page.total == 30 and [u.key for u in second_page.uploads][:2] == ["k19.jpg", "k18.jpg"]
    window = records.page(WS, since=1_000_010.0, until=1_000_012.0)
    assert [u.key for u in window.uploads] == ["k12.jpg", "k11.jpg", "k10.jpg"]
    # A state change moves the upload between listings; a deleted one leaves all of them.
    records.set_state(make(25).id, State.QUEUED)
    assert records.page(WS, State.FAILED.value).total == 5 and records.page(WS, State.QUEUED.value).total == 25
    records.delete(make(0).id)
    assert records.page(WS, State.FAILED.value, "video").total == 1 and records.page(WS, ANY).total == 29


def test_a_workspace_lists_only_its_own_uploads(redis_db: Redis) -> None:
    records = Uploads(redis_db)
    for number in range(6):
        records.create(make(number, workspace="acme" if number % 2 else "other"))
    assert [u.key for u in records.page("acme").uploads] == ["k5.jpg", "k3.jpg", "k1.jpg"]
    assert [u.key for u in records.page("other", State.QUEUED.value, "image").uploads] == ["k4.jpg", "k2.jpg", "k0.jpg"]
    assert records.count("acme") == 3 and records.count() == 6
    assert records.page("nobody").total == 0


def test_uploads_are_listed_by_the_day_they_were_taken_once_probe_has_read_it(redis_db: Redis) -> None:
    records = Uploads(redis_db)
    for number in range(4):
        records.create(make(number))
    # Probe finds that the newest upload is an old photo: it moves to its place, in every listing it is in.
    records.update(make(3).id, taken_at=1_000.0)
    assert [u.key for u in records.page(WS).uploads] == ["k2.jpg", "k1.jpg", "k0.jpg", "k3.jpg"]
    assert [u.key for u in records.page(WS, State.QUEUED.value, "image").uploads][-1] == "k3.jpg"
    assert [u.key for u in records.page(WS, until=2_000.0).uploads] == ["k3.jpg"], "a date range reads the date taken"
    # A state change afterwards keeps that place.
    records.set_state(make(3).id, State.DONE)
    assert [u.key for u in records.page(WS, State.DONE.value).uploads] == ["k3.jpg"]
    assert records.page(WS, State.DONE.value, since=1_500.0).total == 0


def test_a_page_can_be_narrowed_to_some_uploads_of_the_workspace_alone(redis_db: Redis) -> None:
    records = Uploads(redis_db)
    for number in range(6):
        records.create(make(number, workspace=WS if number < 5 else "other"))
    some = {make(number).id for number in (0, 2, 4)} | {make(5, workspace="other").id, "no-such-upload"}
    page = records.page(WS, among=some, limit=2)
    assert page.total == 3, "ids of another workspace, or of nothing, are not counted"
    assert [u.key for u in page.uploads] == ["k4.jpg", "k2.jpg"]
    assert [u.key for u in records.page(WS, among=some, offset=2).uploads] == ["k0.jpg"]
    assert records.page(WS, among=some, since=1_000_001.0).total == 2
    assert records.page(WS, among=set()).total == 0


def test_a_page_costs_the_same_however_many_uploads_there_are(redis_db: Redis) -> None:
    connection = Counting(connection_pool=redis_db.connection_pool)
    records = Uploads(connection)
    costs, steps_costs = [], []
    for count in (100, 2_000):
        with redis_db.pipeline() as pipe:
            for number in range(count):
                upload = make(number, "audio" if number % 2 else "image")
                pipe.hset(f"ml:upload:{upload.id}", mapping=upload.to_redis())
                for listing in records._listings(upload):
                    pipe.zadd(listing, {upload.id: upload.created_at})
            pipe.execute()
        Counting.commands = 0
        page = records.page(WS, State.QUEUED.value, "audio", offset=20, limit=10)
        assert len(page.uploads) == 10 and page.total == count // 2
        costs.append(Counting.commands)
        Counting.commands = 0
        records.steps_of([upload.id for upload in page.uploads])
        steps_costs.append(Counting.commands)
    assert costs[0] == costs[1] == 2, "one index read and one read of the records shown, at 100 and at 2,000"
    assert steps_costs == [1, 1], "the steps of every upload shown in one read"


def test_uploads_recorded_before_the_index_existed_are_listed_after_an_upgrade(redis_db: Redis) -> None:
    records = Uploads(redis_db)
    old = [make(number, "audio") for number in range(5)]
    for upload in old:  # what the first version wrote: a record without a workspace, one list of all uploads
        record = {k: v for k, v in upload.to_redis().items() if k != "workspace"}
        redis_db.hset(f"ml:upload:{upload.id}", mapping=record)
        redis_db.zadd("ml:uploads", {upload.id: upload.created_at})
    redis_db.zadd("ml:uploads:queued:audio", {old[0].id: 1.0})  # a listing set of the version before workspaces
    assert records.page(LEGACY_WORKSPACE, State.QUEUED.value, "audio").total == 0
    assert records.ensure_index() == 5
    found = records.page(LEGACY_WORKSPACE, State.QUEUED.value, "audio").uploads
    assert [u.key for u in found] == [f"k{n}.jpg" for n in range(4, -1, -1)], "they belong to the first workspace"
    assert not redis_db.exists("ml:uploads:queued:audio"), "the old listing sets are gone"
    assert records.ensure_index() == 0, "done once"


def test_the_ui_asks_the_pipeline_only_through_its_service_api() -> None:
    reached = []
    for module in sorted((PROJECT / "ui").glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] if node.module != "scheduler" else [f"scheduler.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            reached += [f"{module.name}: {name}" for name in names
                        if name.startswith("scheduler") and name not in ("scheduler.service", "scheduler.keys")]
    assert not reached, reached
