"""Fixtures for the analyzer tests: settings switched per test, a tiny CLIP, torchvision's nms."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torchvision_nms

from functions.caption import settings as caption_settings
from functions.clip import settings as clip_settings
from functions.common import settings as common_settings
from functions.embed import settings as embed_settings
from functions.faces import settings as faces_settings
from functions.nsfw import settings as nsfw_settings
from functions.ocr import settings as ocr_settings
from functions.pose import settings as pose_settings
from functions.summarize import settings as summarize_settings
from tests.models import build_tiny_blip, build_tiny_clip, build_tiny_instruct

SETTINGS = (common_settings, pose_settings, ocr_settings, nsfw_settings, faces_settings, clip_settings,
            caption_settings, summarize_settings, embed_settings)


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    """Sets MEDIALENS_* variables for one test; the functions re-read their settings."""

    def apply(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        for module in SETTINGS:
            module.settings.cache_clear()

    yield apply
    monkeypatch.undo()
    for module in SETTINGS:
        module.settings.cache_clear()


@pytest.fixture(scope="session")
def torchvision_ops() -> None:
    """Makes easyocr and MTCNN importable here (see requirements/torchvision-test.txt)."""
    folder = Path(sys.prefix) / "torchvision-test"
    assert folder.is_dir(), (
        "torchvision for tests is missing: .venv/bin/pip install --no-deps --target "
        ".venv/torchvision-test -r requirements/torchvision-test.txt"
    )
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
    torchvision_nms.install()


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random CLIP (32 px images, 16-d embeddings) saved like a real model directory."""
    return build_tiny_clip(tmp_path_factory.mktemp("models") / "clip")


@pytest.fixture(scope="session")
def tiny_blip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random BLIP captioner (32 px images, a few dozen words) saved like a real model directory."""
    return build_tiny_blip(tmp_path_factory.mktemp("models") / "blip")


@pytest.fixture(scope="session")
def tiny_instruct_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random Qwen2 instruct model (256-token context) saved like a real model directory."""
    return build_tiny_instruct(tmp_path_factory.mktemp("models") / "instruct")
