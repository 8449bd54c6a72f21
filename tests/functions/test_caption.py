"""caption: a tiny random BLIP runs the real loading and generation code; the endpoint engine talks to a
local server that speaks the OpenAI chat-completions API."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import analyzer_fixtures
import pytest
import torch
from analyzer_media import encode, photo
from PIL import Image

from functions.caption import engines
from tests.fakes.openai_server import FakeChat, Reply
from tests.models import build_tiny_blip

configure = analyzer_fixtures.configure
tiny_blip_dir = analyzer_fixtures.tiny_blip_dir

Call = Callable[[str, dict[str, Any] | bytes], tuple[int, dict[str, Any]]]


@pytest.fixture
def blip_installed(configure: Callable[..., None], tiny_blip_dir: Path) -> Callable[..., None]:
    def install(**more: str) -> None:
        configure(MEDIALENS_CAPTION_MODEL_DIR=str(tiny_blip_dir), MEDIALENS_CAPTION_ENGINE="transformers", **more)

    install()
    return install


@pytest.fixture
def fake_chat() -> Iterator[FakeChat]:
    with FakeChat() as server:
        yield server


@pytest.fixture
def endpoint(configure: Callable[..., None], fake_chat: FakeChat) -> FakeChat:
    configure(MEDIALENS_CAPTION_ENGINE="endpoint", MEDIALENS_CAPTION_ENDPOINT_URL=fake_chat.url,
              MEDIALENS_CAPTION_ENDPOINT_MODEL="llava", MEDIALENS_CAPTION_ENDPOINT_KEY="sk-test",
              MEDIALENS_CAPTION_ENDPOINT_TIMEOUT_S="1")
    return fake_chat


def caption(call_function: Call, url: str) -> tuple[int, dict[str, Any]]:
    return call_function("caption", {"source": {"url": url}})


def captions_in(precision: str, blip_installed: Callable[..., None], call_function: Call, url: str) -> None:
    """Captions ``url`` with BLIP in ``precision``: a sentence, the same twice, and the result names the precision."""
    blip_installed(MEDIALENS_CAPTION_PRECISION=precision)
    status, result = caption(call_function, url)
    assert status == 200, result
    assert result["engine"]["precision"] == precision, "the result names the precision that wrote it"
    assert result["caption"] and result["caption"].endswith(".")
    assert caption(call_function, url)[1]["caption"] == result["caption"], f"{precision} is deterministic too"


def test_blip_writes_a_sentence_the_same_each_time_within_its_token_limit(
    blip_installed: Callable[..., None], call_function: Call, source_url: Callable[..., str]
) -> None:
    url = source_url(encode(photo("chelsea")), "image/png")
    status, first = caption(call_function, url)
    assert status == 200, first
    assert first["engine"]["engine"] == "transformers-blip" and first["engine"]["model"] == "blip"
    text = first["caption"]
    assert text and text[0].isupper() and text.endswith(".")
    assert caption(call_function, url)[1]["caption"] == text, "greedy decoding: the same picture, the same words"
    blip_installed(MEDIALENS_CAPTION_MAX_NEW_TOKENS="3")
    status, short = caption(call_function, url)
    assert status == 200 and 1 <= len(short["caption"].split()) <= 3


@pytest.fixture(scope="module")
def seeing_blip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BLIP whose words differ from picture to picture."""
    return build_tiny_blip(tmp_path_factory.mktemp("models") / "blip", initializer_range=0.2)


def test_pictures_captioned_together_get_the_captions_each_gets_alone(
    configure: Callable[..., None], seeing_blip_dir: Path, call_function: Call, source_url: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # float32: bfloat16 (the default where the CPU computes it) rounds a batch's sums otherwise than one picture's.
    configure(MEDIALENS_CAPTION_MODEL_DIR=str(seeing_blip_dir), MEDIALENS_CAPTION_ENGINE="transformers",
              MEDIALENS_CAPTION_BATCHES="1", MEDIALENS_CAPTION_PRECISION="float32")
    urls = [source_url(encode(photo(name)), "image/png") for name in ("chelsea", "coffee", "astronaut", "rocket")]
    alone = [caption(call_function, url)[1]["caption"] for url in urls]
    assert len(set(alone)) > 1, "the pictures must differ in caption, or a caption given to the wrong call would pass"
    blip = engines.engine()
    assert isinstance(blip, engines.BlipCaptioner)
    run, sizes = blip.batches.run, []

    def first_waits_for_the_others(images: Sequence[Image.Image]) -> list[engines.Caption]:
        sizes.append(len(images))
        deadline = time.monotonic() + 30
        while len(sizes) == 1 and len(blip.batches.line) < len(urls) - 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        return list(run(images))

    monkeypatch.setattr(blip.batches, "run", first_waits_for_the_others)
    with ThreadPoolExecutor(len(urls)) as pool:
        together = list(pool.map(lambda url: caption(call_function, url), urls))
    assert sizes == [1, 3], "the calls that came while a caption ran were captioned in one batch"
    assert [status for status, _ in together] == [200] * len(urls)
    assert [result["caption"] for _, result in together] == alone


def test_int8_precision_captions_with_int8_layers_and_says_so(
    blip_installed: Callable[..., None], call_function: Call, source_url: Callable[..., str]
) -> None:
    url = source_url(encode(photo("chelsea")), "image/png")
    captions_in("float32", blip_installed, call_function, url)
    captions_in("int8", blip_installed, call_function, url)
    blip = engines.engine()
    assert isinstance(blip, engines.BlipCaptioner)
    modules = list(blip._model.modules())
    assert not [layer for layer in modules if isinstance(layer, torch.nn.Linear)], "no linear layer left in float32"
    int8 = [layer for layer in modules if isinstance(layer, torch.ao.nn.quantized.dynamic.Linear)]
    assert int8 and {layer.weight().dtype for layer in int8} == {torch.qint8}


def weight_bytes(captioner: Any) -> int:
    return sum(tensor.numel() * tensor.element_size() for tensor in captioner._model.state_dict().values())


def test_bfloat16_captions_from_half_the_memory_and_says_so(
    blip_installed: Callable[..., None], call_function: Call, source_url: Callable[..., str]
) -> None:
    url = source_url(encode(photo("chelsea")), "image/png")
    captions_in("float32", blip_installed, call_function, url)
    float32_bytes = weight_bytes(engines.engine())
    captions_in("bfloat16", blip_installed, call_function, url)
    assert weight_bytes(engines.engine()) * 2 == float32_bytes


def test_a_missing_caption_model_names_its_directory(
    configure: Callable[..., None], call_function: Call, source_url: Callable[..., str], tmp_path: Path
) -> None:
    configure(MEDIALENS_CAPTION_MODEL_DIR=str(tmp_path / "blip"), MEDIALENS_CAPTION_ENGINE="transformers")
    status, result = caption(call_function, source_url(encode(photo("chelsea")), "image/png"))
    assert status == 501 and str(tmp_path / "blip") in result["error"] and "make models" in result["error"]


def test_a_non_image_is_refused(blip_installed: None, call_function: Call, source_url: Callable[..., str]) -> None:
    status, result = caption(call_function, source_url(b"%PDF-1.4 not an image"))
    assert status == 422 and "not an image" in result["error"]


def test_the_endpoint_sees_the_picture_and_gives_a_caption_and_tags(
    endpoint: FakeChat, call_function: Call, source_url: Callable[..., str]
) -> None:
    status, result = caption(call_function, source_url(encode(photo("chelsea", 2000)), "image/png"))
    assert status == 200, result
    assert result == {**result, "caption": "A dog runs on a sandy beach.", "tags": ["dog", "beach", "sand"]}
    assert result["engine"] == {"engine": "openai-chat", "model": "llava", "version": ""}
    sent = endpoint.requests[-1]
    assert sent["model"] == "llava" and sent["max_tokens"] == 120 and sent["temperature"] == 0
    parts = sent["messages"][0]["content"]
    assert parts[0]["type"] == "text" and "Tags:" in parts[0]["text"]
    picture = parts[1]["image_url"]["url"]
    assert picture.startswith("data:image/jpeg;base64,")
    sent_image = Image.open(io.BytesIO(base64.b64decode(picture.split(",", 1)[1])))
    assert max(sent_image.size) == 768, "the picture is shrunk before it leaves the machine"


@pytest.mark.parametrize(
    ("reply", "retry_after"),
    [(Reply(status=429, retry_after="7"), "7"), (Reply(status=429), "5"), (Reply(status=503), "5"),
     (Reply("late", delay_s=1.5), "5")],
    ids=["rate-limited", "rate-limited-without-retry-after", "server-down", "timeout"],
)
def test_a_busy_endpoint_asks_to_be_called_again_later(
    endpoint: FakeChat, reply: Reply, retry_after: str, source_url: Callable[..., str]
) -> None:
    from tests.conftest import invoke_handler_reply

    endpoint.script.append(reply)
    status, body, headers = invoke_handler_reply("caption", {"source": {"url": source_url(encode(photo("coffee")))}})
    assert status == 503 and headers["Retry-After"] == retry_after, body
    assert "chat endpoint" in body["error"]


def test_an_endpoint_that_is_not_running_is_busy_not_the_files_fault(
    configure: Callable[..., None], call_function: Call, source_url: Callable[..., str]
) -> None:
    configure(MEDIALENS_CAPTION_ENGINE="endpoint", MEDIALENS_CAPTION_ENDPOINT_URL="http://127.0.0.1:9/v1",
              MEDIALENS_CAPTION_ENDPOINT_MODEL="llava")
    status, result = caption(call_function, source_url(encode(photo("coffee"))))
    assert status == 503 and "cannot be reached" in result["error"]


@pytest.mark.parametrize(("variable", "value", "words"), [
    ("MEDIALENS_CAPTION_ENDPOINT_KEY", "sk-wrong", "Incorrect API key"),
    ("MEDIALENS_CAPTION_ENDPOINT_MODEL", "no-such-model", "does not exist"),
])
def test_a_wrong_key_or_model_makes_the_step_unavailable_with_the_reason(
    endpoint: FakeChat, configure: Callable[..., None], variable: str, value: str, words: str,
    call_function: Call, source_url: Callable[..., str],
) -> None:
    configure(**{variable: value})
    status, result = caption(call_function, source_url(encode(photo("coffee"))))
    assert status == 501 and words in result["error"] and "check its URL, model and key" in result["error"]


def test_the_endpoint_engine_unset_says_what_to_set(
    configure: Callable[..., None], call_function: Call, source_url: Callable[..., str]
) -> None:
    configure(MEDIALENS_CAPTION_ENGINE="endpoint")
    status, result = caption(call_function, source_url(encode(photo("coffee"))))
    assert status == 501 and "MEDIALENS_CAPTION_ENDPOINT_URL" in result["error"]
