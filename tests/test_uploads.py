"""Upload records in Redis: one per object version, with states and per-step status."""

from __future__ import annotations

from redis import Redis

from scheduler.uploads import State, StepState, Upload, Uploads, upload_id
from storage.events import UploadEvent


def make(key: str = "a.jpg", etag: str = "e1") -> Upload:
    return Upload.from_event(UploadEvent("uploads", key, etag, 10, "image/jpeg"), "acme")


def test_same_object_version_is_created_once(redis_db: Redis) -> None:
    records = Uploads(redis_db)
    assert records.create(make())
    assert not records.create(make())
    assert records.count() == 1
    assert records.create(make(etag="e2")), "a new version of the same key is a new upload"
    assert records.latest_for_key("uploads", "a.jpg") == upload_id("uploads", "a.jpg", "e2")


def test_state_and_steps_are_recorded_and_published(redis_db: Redis) -> None:
    records = Uploads(redis_db)
    listener = redis_db.pubsub()
    listener.subscribe("ml:events:acme")
    upload = make()
    records.create(upload)
    records.plan_steps(upload.id, ["probe", "thumbnail"])
    step = records.step(upload.id, "probe")
    step.state = StepState.DONE
    records.put_step(upload.id, step)
    records.set_state(upload.id, State.FAILED, "thumbnail: the image is damaged")
    got = records.get(upload.id)
    assert got.state == State.FAILED and got.reason == "thumbnail: the image is damaged"
    assert {n: s.state for n, s in records.steps(upload.id).items()} == {
        "probe": StepState.DONE, "thumbnail": StepState.PENDING
    }
    kinds = []
    for _ in range(20):
        message = listener.get_message(timeout=0.5)
        if message and message["type"] == "message":
            kinds.append(message["data"])
    assert len(kinds) >= 4


def test_delete_leaves_nothing(redis_db: Redis) -> None:
    records = Uploads(redis_db)
    upload = make()
    records.create(upload)
    records.plan_steps(upload.id, ["probe"])
    records.put_result(upload.id, "probe", {"media_type": "image"})
    records.delete(upload.id)
    assert not records.exists(upload.id)
    assert records.count() == 0
    assert records.latest_for_key("uploads", "a.jpg") is None
    assert [k for k in redis_db.scan_iter("ml:*") if not k.startswith(b"ml:events")] == []


def test_a_settled_step_keeps_its_outcome_against_an_overlapping_run(redis_db: Redis) -> None:
    # A worker whose heartbeat lapsed is thought dead and its step runs again beside it: whichever
    # run settles first decides, and the other's progress or outcome never undoes it.
    records = Uploads(redis_db)
    upload = make()
    records.create(upload)
    records.plan_steps(upload.id, ["probe", "ocr"])
    first, second = records.step(upload.id, "ocr"), records.step(upload.id, "ocr")
    second.state = StepState.RUNNING
    records.put_step(upload.id, second)
    first.state, first.reason = StepState.DONE, ""
    assert records.settle(upload.id, first, {"text": "from the first run"}) == 1
    records.put_step(upload.id, second)  # the overlapping run reports progress after the outcome
    second.state, second.reason = StepState.DONE, ""
    assert records.settle(upload.id, second, {"text": "from the second run"}) is None, "a step settles once"
    kept = records.step(upload.id, "ocr")
    assert (kept.state, kept.reason) == (StepState.DONE, "")
    assert records.results(upload.id)["ocr"] == {"text": "from the first run"}, "the outcome keeps its own result"
    assert records.outstanding(upload.id) == 1
    records.reset(upload.id)
    records.plan_steps(upload.id, ["probe"])
    again = records.step(upload.id, "probe")
    again.state = StepState.RUNNING
    records.put_step(upload.id, again)
    assert records.step(upload.id, "probe").state == StepState.RUNNING, "a retry starts afresh"


def test_what_a_person_wrote_comes_back_as_written(redis_db: Redis) -> None:
    """Records, steps and results are each read back in one parse per hash: quotes, commas, braces,
    backslashes and any script survive it, in metadata names and values alike."""
    records = Uploads(redis_db)
    awkward = 'a "quoted", {braced}: back\\slash \u00e9t\u00e9 \u65e5\u672c \U0001f600'
    upload = Upload.from_event(UploadEvent("uploads", f"dir/{awkward}.jpg", "e1", 10, "image/jpeg",
                                           {"x-amz-meta-title": awkward, 'odd", "key': awkward}), "acme")
    records.create(upload)
    records.plan_steps(upload.id, ["probe", "ocr"])
    records.put_result(upload.id, "ocr", {"text": awkward, "lines": [awkward, ""]})
    assert records.get(upload.id) == upload
    assert records.many([upload.id]) == [upload]
    assert {name: step.state for name, step in records.steps(upload.id).items()} == {
        "probe": StepState.PENDING, "ocr": StepState.PENDING}
    assert records.results(upload.id) == {"ocr": {"text": awkward, "lines": [awkward, ""]}}
