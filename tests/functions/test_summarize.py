"""summarize: a tiny random Qwen2 runs the real loading, chat-template and generation code; the endpoint
engine talks to a local server that speaks the OpenAI chat-completions API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import analyzer_fixtures
import pytest

from tests.conftest import invoke_handler_reply
from tests.fakes.openai_server import FakeChat, Reply

configure = analyzer_fixtures.configure
tiny_instruct_dir = analyzer_fixtures.tiny_instruct_dir

Call = Callable[[str, dict[str, Any] | bytes], tuple[int, dict[str, Any]]]

SHORT = {
    "transcript": [{"start": 0.5, "end": 3.0, "text": "Heute zeigen wir den Hund am Strand."},
                   {"start": 40.0, "end": 44.0, "text": "Er läuft gern im Sand."}],
    "captions": [{"time": 1.0, "text": "A dog on a beach."}],
    "screen_text": [{"time": 2.0, "text": "STRAND 2024"}],
    "language": "de",
    "duration": 60.0,
}


def long_recording(minutes: int) -> dict[str, Any]:
    return {
        "transcript": [{"start": second, "end": second + 5, "text": f"a dog on the beach {second}"}
                       for second in range(0, minutes * 60, 30)],
        "language": "en", "duration": minutes * 60.0,
    }


def summarize(call_function: Call, options: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return call_function("summarize", {"options": options})


@pytest.fixture
def instruct_installed(configure: Callable[..., None], tiny_instruct_dir: Path) -> Callable[..., None]:
    def install(**more: str) -> None:
        configure(MEDIALENS_SUMMARIZE_MODEL_DIR=str(tiny_instruct_dir), MEDIALENS_SUMMARIZE_ENGINE="transformers",
                  **more)

    install()
    return install


@pytest.fixture
def endpoint(configure: Callable[..., None]) -> Iterator[FakeChat]:
    answer = "Title: Der Hund am Strand\nSummary: Ein Hund läuft am Strand."
    with FakeChat(models=("qwen2.5:7b",), answer=answer) as chat:
        configure(MEDIALENS_SUMMARIZE_ENGINE="endpoint", MEDIALENS_SUMMARIZE_ENDPOINT_URL=chat.url,
                  MEDIALENS_SUMMARIZE_ENDPOINT_MODEL="qwen2.5:7b", MEDIALENS_SUMMARIZE_ENDPOINT_KEY="sk-test",
                  MEDIALENS_SUMMARIZE_ENDPOINT_TIMEOUT_S="1")
        yield chat


def test_the_local_model_writes_a_title_and_summary_the_same_each_time_within_its_limit(
    instruct_installed: Callable[..., None], call_function: Call
) -> None:
    status, first = summarize(call_function, SHORT)
    assert status == 200, first
    assert first["engine"]["engine"] == "transformers-instruct" and first["engine"]["model"] == "instruct"
    assert first["title"] and first["summary"] and first["chapters"] == [] and first["language"] == "de"
    again = summarize(call_function, SHORT)[1]
    assert (again["title"], again["summary"]) == (first["title"], first["summary"]), "greedy: the same words"
    instruct_installed(MEDIALENS_SUMMARIZE_MAX_NEW_TOKENS="4")
    status, short = summarize(call_function, SHORT)
    assert status == 200 and len(short["summary"]) < len(first["summary"])


def test_material_longer_than_the_models_context_is_cut_not_refused(
    instruct_installed: None, call_function: Call
) -> None:
    status, result = summarize(call_function, long_recording(9))  # 18 lines of 6+ words: past 256 tokens
    assert status == 200 and result["summary"]


def test_a_recording_over_ten_minutes_gets_chapters_with_times(
    instruct_installed: None, call_function: Call
) -> None:
    status, result = summarize(call_function, long_recording(12))
    assert status == 200, result
    assert [(c["start"], c["end"]) for c in result["chapters"]] == [(0, 300), (300, 600), (600, 720)]
    assert all(chapter["title"] for chapter in result["chapters"])


def test_nothing_to_summarize_is_refused(instruct_installed: None, call_function: Call) -> None:
    status, result = summarize(call_function, {"transcript": [], "duration": 5})
    assert status == 422 and "nothing to summarize" in result["error"]
    status, result = summarize(call_function, {"transcript": "words"})
    assert status == 422 and "lists" in result["error"]


def test_a_missing_summary_model_names_its_directory(
    configure: Callable[..., None], call_function: Call, tmp_path: Path
) -> None:
    configure(MEDIALENS_SUMMARIZE_MODEL_DIR=str(tmp_path / "instruct"), MEDIALENS_SUMMARIZE_ENGINE="transformers")
    status, result = summarize(call_function, SHORT)
    assert status == 501 and str(tmp_path / "instruct") in result["error"]


def test_the_endpoint_is_asked_in_the_transcripts_language_with_all_the_material(
    endpoint: FakeChat, call_function: Call
) -> None:
    status, result = summarize(call_function, SHORT)
    assert status == 200, result
    assert (result["title"], result["summary"]) == ("Der Hund am Strand", "Ein Hund läuft am Strand.")
    assert result["engine"]["engine"] == "openai-chat" and result["engine"]["model"] == "qwen2.5:7b"
    system, user = endpoint.requests[-1]["messages"]
    assert system["role"] == "system" and "Answer in German" in system["content"]
    assert user["content"].splitlines() == [
        "[0:00] Heute zeigen wir den Hund am Strand.", "[0:01] (seen) A dog on a beach.",
        "[0:02] (on screen) STRAND 2024", "[0:40] Er läuft gern im Sand.",
    ]


def test_a_rate_limited_endpoint_asks_to_be_called_again_later(endpoint: FakeChat) -> None:
    endpoint.script.append(Reply(status=429, retry_after="12"))
    status, body, headers = invoke_handler_reply("summarize", {"options": SHORT})
    assert status == 503 and headers["Retry-After"] == "12" and "HTTP 429" in body["error"]
