"""Models of several functions loading at once in one process (the functions host starts them together)
all come out whole: transformers patches torch process-wide while it builds a model."""

from __future__ import annotations

import threading
from pathlib import Path

import analyzer_fixtures
import pytest
from analyzer_media import photo

from functions.caption.engines import BlipCaptioner
from functions.common.clip import ClipModel
from functions.common.models import Model
from functions.summarize.engines import InstructWriter

tiny_blip_dir = analyzer_fixtures.tiny_blip_dir
tiny_clip_dir = analyzer_fixtures.tiny_clip_dir
tiny_instruct_dir = analyzer_fixtures.tiny_instruct_dir


def test_models_loaded_side_by_side_in_threads_all_work(
    tiny_blip_dir: Path, tiny_clip_dir: Path, tiny_instruct_dir: Path
) -> None:
    errors: list[str] = []
    for _ in range(4):  # without one load at a time, every round lost some models to meta tensors
        captioners = [BlipCaptioner(tiny_blip_dir, 5) for _ in range(2)]
        clips = [ClipModel(tiny_clip_dir) for _ in range(2)]
        writer = InstructWriter(tiny_instruct_dir)
        engines: list[Model[object]] = [*captioners, *clips, writer]  # type: ignore[list-item]

        def load(engine: Model[object]) -> None:
            try:
                engine.load()
            except Exception as error:
                errors.append(repr(error))

        threads = [threading.Thread(target=load, args=(engine,)) for engine in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors, errors[:2]
        picture = photo("coffee", 64)
        assert all(captioner.predict(picture).text for captioner in captioners)
        assert all(clip.predict(picture).shape == (16,) for clip in clips)
        assert writer.predict("a", "a dog", 3)


def test_the_clip_and_nsfw_functions_of_one_host_share_one_clip_model(
    tiny_clip_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One functions host serves both: two copies of a real CLIP would cost about 600 MB for nothing.
    from functions.clip import engines as clip_engines
    from functions.clip import settings as clip_settings
    from functions.nsfw import engines as nsfw_engines
    from functions.nsfw import settings as nsfw_settings

    monkeypatch.setenv("MEDIALENS_CLIP_MODEL_DIR", str(tiny_clip_dir))
    monkeypatch.setenv("MEDIALENS_NSFW_CLIP_DIR", str(tiny_clip_dir))
    clip_settings.settings.cache_clear()
    nsfw_settings.settings.cache_clear()
    try:
        shared = nsfw_engines.clip_if_installed()
        assert shared is not None and shared is clip_engines.engine()
        picture = photo("coffee", 64)
        assert shared.predict(picture).shape == (16,)
    finally:
        clip_settings.settings.cache_clear()
        nsfw_settings.settings.cache_clear()
