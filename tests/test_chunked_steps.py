"""A chunked step (transcribe): the scheduler tells the function how long a chunk is and walks the file."""

from __future__ import annotations

from typing import Any

import pytest

from scheduler import plans, routing, steps
from scheduler.gateway import Reply
from scheduler.settings import SchedulerSettings


class ChunkingGateway:
    """A transcribe stand-in: covers `options.duration_s` from `options.start_s` of a 70 s file."""

    name = "cpu"
    duration = 70.0

    def __init__(self) -> None:
        self.options: list[dict[str, Any]] = []

    def invoke(self, function: str, payload: dict[str, Any], timeout_s: float) -> Reply:
        options = payload["options"]
        self.options.append(options)
        end = min(options["start_s"] + options["duration_s"], self.duration)
        body = {"segments": [{"start": options["start_s"], "end": end}], "duration": self.duration,
                "next_start_s": end if end < self.duration else None}
        return Reply(200, body, 0.0, self.name)


def test_transcribe_is_sent_the_schedulers_chunk_length(monkeypatch: pytest.MonkeyPatch) -> None:
    config = SchedulerSettings(transcribe_chunk_s=25.0).plan_settings()
    (spec,) = plans.after(plans.PROBE, {"media_type": "audio", "duration": 70.0}, config)
    assert spec.options == {"duration_s": 25.0}
    assert spec.expected_calls == 4, "the job's timeout is sized for the chunks it will really call"
    gateway = ChunkingGateway()
    monkeypatch.setattr(routing, "route", lambda function: gateway)
    request = lambda _: {"source": {}, "outputs": {}, "options": dict(spec.options)}  # noqa: E731
    outcome = steps.call_in_chunks(spec, request, lambda *_: None, lambda _: None)
    assert outcome.kind == "ok"
    assert [o["start_s"] for o in gateway.options] == [0.0, 25.0, 50.0]
    assert {o["duration_s"] for o in gateway.options} == {25.0}
    assert [s["end"] for s in outcome.result["segments"]] == [25.0, 50.0, 70.0]
