"""embed: the shipped all-MiniLM-L6-v2 embeds texts by meaning, within bounds a request is told about."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import analyzer_fixtures
import numpy as np
import pytest

# Fixtures shared by the analyzer tests (tests/functions/analyzer_fixtures.py).
configure = analyzer_fixtures.configure

Call = Callable[[str, dict[str, Any] | bytes], tuple[int, dict[str, Any]]]


def embed(call_function: Call, texts: Any) -> tuple[int, dict[str, Any]]:
    return call_function("embed", {"options": {"texts": texts}})


def test_texts_alike_in_meaning_get_vectors_alike(call_function: Call) -> None:
    status, result = embed(call_function, ["a dog runs on the beach", "a puppy plays by the sea",
                                           "the quarterly tax report is due"])
    assert status == 200, result
    vectors = np.asarray(result["embeddings"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > 0.4 > vectors[0] @ vectors[2]
    assert result["embedding_model"] == "all-MiniLM-L6-v2"


@pytest.mark.parametrize("texts", [None, [], "one text", ["fine", 3], {"texts": ["fine"]}])
def test_anything_but_a_list_of_texts_is_refused(call_function: Call, texts: Any) -> None:
    status, result = embed(call_function, texts)
    assert status == 422 and "'options.texts' must be a non-empty list of strings" in result["error"]


def test_too_many_or_too_long_texts_are_refused_with_the_bound(
    configure: Callable[..., None], call_function: Call
) -> None:
    configure(MEDIALENS_EMBED_MAX_TEXTS="2", MEDIALENS_EMBED_MAX_CHARS="20")
    status, result = embed(call_function, ["one", "two", "three"])
    assert status == 422 and result["error"] == "3 texts sent: send at most 2 per request"
    status, result = embed(call_function, ["short", "far longer than twenty"])
    assert status == 422 and result["error"] == "text 1 is 22 characters long: send at most 20"
    status, result = embed(call_function, ["short", "just twenty letters!"])
    assert status == 200 and len(result["embeddings"]) == 2


def test_a_missing_model_is_reported_with_its_directory(
    configure: Callable[..., None], call_function: Call, tmp_path: Path
) -> None:
    configure(MEDIALENS_EMBED_MODEL_DIR=str(tmp_path))
    status, result = embed(call_function, ["a text"])
    assert status == 501 and str(tmp_path) in result["error"]


def test_the_vectors_are_those_sentence_transformers_gives() -> None:
    # The engine runs the directory's modules on transformers directly (sentence-transformers would bring
    # scikit-learn's 63 MiB with it); texts indexed before and after must stay comparable.
    from sentence_transformers import SentenceTransformer

    from functions.embed import engines
    from functions.embed.settings import settings

    texts = ["a dog runs on the beach", "tide tables", "the harbour master reads " * 80, "é ü ß 東京"]
    ours = engines.SentenceEmbedder(settings().directory()).load().predict(texts)
    theirs = SentenceTransformer(str(settings().directory()), device="cpu", local_files_only=True).encode(
        texts, normalize_embeddings=True)
    assert np.abs(ours - theirs).max() < 1e-5


def test_a_directory_with_other_modules_is_refused_by_name(tmp_path: Path) -> None:
    from functions.common.contract import ModelNotInstalled
    from functions.embed import engines

    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "modules.json").write_text('[{"type": "sentence_transformers.models.Transformer"}, '
                                           '{"type": "sentence_transformers.models.Dense"}]')
    (tmp_path / "1_Pooling" / "config.json").write_text('{"pooling_mode_cls_token": true}')
    with pytest.raises(ModelNotInstalled, match="no mean-pooled, normalised sentence-transformers model"):
        engines.SentenceEmbedder(tmp_path).load()
