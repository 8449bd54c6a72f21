"""Models of several functions loading at once in one process (the functions host starts them together)
all come out whole: transformers patches torch process-wide while it builds a model."""

from __future__ import annotations

import threading
from pathlib import Path

import analyzer_fixtures
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
