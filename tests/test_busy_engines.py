"""An engine that is missing or busy never fails an upload. A busy service (a chat endpoint's 429, an endpoint
that is down) makes the step wait and call again when asked: the function answers 503 with Retry-After and the
scheduler waits. A model that `make models` has not installed makes the step `skipped` with the reason."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from redis import Redis

from functions.caption import settings as caption_settings
from scheduler import calls, routing, steps
from scheduler.context import Context, using
from scheduler.gateway import Reply, retry_after
from scheduler.plans import StepSpec
from scheduler.settings import SchedulerSettings
from scheduler.uploads import State, StepState, Upload, Uploads
from storage.client import Audience, Store
from tests.conftest import invoke_handler_reply, jpeg
from tests.fakes.openai_server import FakeChat
from tests.fakes.openai_server import Reply as ChatReply


class InProcessGateway:
    """Calls the handler as the template would, and reads its answer as scheduler.gateway does."""

    name = "cpu"
    audience = Audience.FUNCTIONS

    def __init__(self) -> None:
        self.statuses: list[int] = []

    def invoke(self, function: str, payload: dict[str, Any], timeout_s: float) -> Reply:
        status, body, headers = invoke_handler_reply(function, payload)
        self.statuses.append(status)
        return Reply(status, body, 0.0, self.name, retry_after(headers.get("Retry-After")))


@pytest.fixture
def chat(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeChat]:
    with FakeChat() as server:
        for name, value in {"ENGINE": "endpoint", "ENDPOINT_URL": server.url, "ENDPOINT_MODEL": "llava",
                            "ENDPOINT_KEY": "sk-test"}.items():
            monkeypatch.setenv(f"MEDIALENS_CAPTION_{name}", value)
        caption_settings.settings.cache_clear()
        yield server
    caption_settings.settings.cache_clear()


def call_caption(url: str, wait_s: float) -> tuple[calls.Outcome, InProcessGateway]:
    config = SchedulerSettings(not_ready_wait_s=wait_s, outage_wait_s=wait_s, retry_backoff_s=0.01)
    gateway = InProcessGateway()
    payload: Callable[[Any], dict[str, Any]] = lambda _: {"source": {"url": url}}  # noqa: E731
    with using(Context(config, None, None)):  # type: ignore[arg-type]
        outcome = calls.call("caption", payload, lambda _: gateway)  # type: ignore[arg-type, return-value]
    return outcome, gateway


def test_a_rate_limited_caption_waits_as_asked_then_succeeds(chat: FakeChat, source_url: Callable[..., str]) -> None:
    chat.script += [ChatReply(status=429, retry_after="1"), ChatReply(status=429, retry_after="1")]
    outcome, gateway = call_caption(source_url(jpeg()), wait_s=60)
    assert outcome.kind == "ok" and outcome.result["caption"] == "A dog runs on a sandy beach."
    assert gateway.statuses == [503, 503, 200] and outcome.attempts == 1, "waiting spends no attempt"


def test_an_endpoint_rate_limited_past_the_wait_skips_the_step_with_the_reason(
    chat: FakeChat, source_url: Callable[..., str]
) -> None:
    chat.script += [ChatReply(status=429, retry_after="1") for _ in range(10)]
    outcome, gateway = call_caption(source_url(jpeg()), wait_s=1.5)
    assert outcome.kind == "unavailable", "skipped, not failed: the upload does not fail for it"
    assert "HTTP 429" in outcome.reason and "still so after" in outcome.reason
    assert set(gateway.statuses) == {503}


def test_a_missing_caption_model_skips_the_step_and_the_upload_is_done(
    redis_db: Redis, store: Store, function_store: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("MEDIALENS_CAPTION_ENGINE", "transformers")
    monkeypatch.setenv("MEDIALENS_CAPTION_MODEL_DIR", str(tmp_path / "blip"))
    caption_settings.settings.cache_clear()
    gateway = InProcessGateway()
    monkeypatch.setattr(routing, "route", lambda function: gateway)
    bucket = store.settings.uploads_bucket
    key = f"missing-model/{tmp_path.name}.jpg"
    etag = store.put_bytes(bucket, key, jpeg(), "image/jpeg")
    upload = Upload(id=tmp_path.name[-20:], bucket=bucket, key=key, etag=etag, size=1, media_type="image")
    try:
        with using(Context(SchedulerSettings(), redis_db, store)):
            records = Uploads(redis_db)
            records.create(upload)
            records.plan_steps(upload.id, ["caption"])
            assert steps.run_step(upload.id, StepSpec("caption", "caption").to_dict()) == "skipped"
            step = records.step(upload.id, "caption")
            assert step.state == StepState.SKIPPED and str(tmp_path / "blip") in step.reason
            assert "make models" in step.reason
            assert steps.finish(upload.id) == State.DONE.value, "a skipped step does not fail the upload"
    finally:
        caption_settings.settings.cache_clear()
