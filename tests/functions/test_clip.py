"""clip: a tiny random CLIP runs the real loading, preprocessing, embedding and zero-shot code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import analyzer_fixtures
import numpy as np
import pytest
from analyzer_media import encode, photo

from functions.clip.settings import DEFAULT_LABELS, SAFETY_LABELS

# Fixtures shared by the analyzer tests (tests/functions/analyzer_fixtures.py).
configure = analyzer_fixtures.configure
tiny_clip_dir = analyzer_fixtures.tiny_clip_dir

Call = Callable[[str, dict[str, Any] | bytes], tuple[int, dict[str, Any]]]


@pytest.fixture
def clip_installed(configure: Callable[..., None], tiny_clip_dir: Path) -> None:
    configure(MEDIALENS_CLIP_MODEL_DIR=str(tiny_clip_dir))


def analyse(call_function: Call, url: str, **options: Any) -> dict[str, Any]:
    status, result = call_function("clip", {"source": {"url": url}, "options": options})
    assert status == 200, result
    return result


def test_embedding_and_labels(
    clip_installed: None, call_function: Call, source_url: Callable[..., str]
) -> None:
    result = analyse(call_function, source_url(encode(photo("chelsea")), "image/png"))
    embedding = np.asarray(result["embedding"])
    assert embedding.shape == (16,)
    assert np.linalg.norm(embedding) == pytest.approx(1.0, abs=1e-4)
    assert result["engine"]["engine"] == "transformers-clip" and result["embedding_model"] == "clip"
    labels = result["labels"]
    assert len(labels) == 5 and {item["label"] for item in labels} <= set(DEFAULT_LABELS)
    scores = [item["score"] for item in labels]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1.0001
    # The safety labels, ranked whole from the same embedding (they were a second CLIP pass in nsfw).
    safety = result["safety"]
    assert sorted(item["label"] for item in safety) == sorted(SAFETY_LABELS)
    assert sum(item["score"] for item in safety) == pytest.approx(1.0, abs=1e-3)


def test_same_image_same_answer_other_image_other_embedding(
    clip_installed: None, call_function: Call, source_url: Callable[..., str]
) -> None:
    cat = source_url(encode(photo("chelsea")), "image/png")
    first, again = analyse(call_function, cat), analyse(call_function, cat)
    assert first["embedding"] == again["embedding"] and first["labels"] == again["labels"]
    other = analyse(call_function, source_url(encode(photo("coffee")), "image/png"))
    assert not np.allclose(first["embedding"], other["embedding"], atol=1e-3)


def test_bfloat16_embeddings_point_where_float32_ones_do(
    configure: Callable[..., None], tiny_clip_dir: Path, call_function: Call, source_url: Callable[..., str]
) -> None:
    cat = source_url(encode(photo("chelsea")), "image/png")
    results, texts = {}, {}
    for precision in ("float32", "bfloat16"):
        configure(MEDIALENS_CLIP_MODEL_DIR=str(tiny_clip_dir), MEDIALENS_CLIP_PRECISION=precision)
        results[precision] = analyse(call_function, cat)
        status, texts[precision] = call_function("clip", {"options": {"text": "a photo of a cat"}})
        assert status == 200, texts[precision]
        for result in (results[precision], texts[precision]):
            assert result["engine"]["precision"] == precision, "the result names the precision"
    for kind, answers in (("embedding", results), ("text_embedding", texts)):
        single, full = (np.asarray(answers[name][kind]) for name in ("bfloat16", "float32"))
        assert np.linalg.norm(single) == pytest.approx(1.0, abs=1e-4)
        assert float(single @ full) > 0.99, f"{kind}: the same input, nearly the same direction"
    # The same ranking, nearly the same scores (a 16-d random model with a scale of 100 magnifies every change).
    assert [item["label"] for item in results["bfloat16"]["safety"]] == [
        item["label"] for item in results["float32"]["safety"]]
    scores = {name: {item["label"]: item["score"] for item in results[name]["safety"]} for name in results}
    assert scores["bfloat16"] == pytest.approx(scores["float32"], abs=0.05)


def test_a_request_brings_its_own_labels(
    clip_installed: None, call_function: Call, source_url: Callable[..., str]
) -> None:
    labels = ["a cat", "a dog", "a cup of coffee"]
    result = analyse(call_function, source_url(encode(photo("chelsea")), "image/png"), labels=labels)
    assert sorted(item["label"] for item in result["labels"]) == sorted(labels)
    assert sum(item["score"] for item in result["labels"]) == pytest.approx(1.0, abs=1e-3)


def test_bad_labels_are_refused(
    clip_installed: None, call_function: Call, source_url: Callable[..., str]
) -> None:
    url = source_url(encode(photo("chelsea")), "image/png")
    status, result = call_function("clip", {"source": {"url": url}, "options": {"labels": "cats"}})
    assert status == 422 and "labels" in result["error"]


def test_a_missing_model_names_its_directory(
    configure: Callable[..., None],
    call_function: Call,
    source_url: Callable[..., str],
    tmp_path: Path,
) -> None:
    configure(MEDIALENS_CLIP_MODEL_DIR=str(tmp_path / "clip"))
    status, result = call_function(
        "clip", {"source": {"url": source_url(encode(photo("chelsea")), "image/png")}}
    )
    assert status == 501 and str(tmp_path / "clip") in result["error"]


def test_a_non_image_is_refused(
    clip_installed: None, call_function: Call, source_url: Callable[..., str]
) -> None:
    status, result = call_function("clip", {"source": {"url": source_url(b"%PDF-1.4 not an image")}})
    assert status == 422 and "not an image" in result["error"]


def test_text_mode_embeds_text_in_the_image_space(
    clip_installed: None, call_function: Call, source_url: Callable[..., str]
) -> None:
    labels = ["a cat", "a dog", "a cup of coffee"]
    image = analyse(call_function, source_url(encode(photo("chelsea")), "image/png"), labels=labels)
    texts = []
    for label in labels:
        status, result = call_function("clip", {"options": {"text": f"a photo of {label}"}})
        assert status == 200, result
        vector = np.asarray(result["text_embedding"])
        assert vector.shape == (16,) and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)
        assert result["embedding_model"] == image["embedding_model"]
        texts.append(vector)
    nearest = labels[int(np.argmax(np.stack(texts) @ np.asarray(image["embedding"])))]
    assert nearest == image["labels"][0]["label"], "text search and zero-shot labels agree"
    status, result = call_function("clip", {"options": {"text": "  "}})
    assert status == 422 and "options.text" in result["error"]
