"""The `medialens` command's answers as a person reads them: analysis, search, status, people, download, delete."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from functions.probe.content import describe
from tests.conftest import DATA, make_account
from tests.search_data import SearchEnv, faces_result
from ui import answers, cli

pytest_plugins = ["tests.served_support"]


def _ocr(*lines: str) -> dict[str, Any]:
    box = [[0, 0], [1, 0], [1, 1], [0, 1]]
    return {"lines": [{"text": text, "box": box, "confidence": 0.99} for text in lines]}


@pytest.fixture
def command(served: str, search_env: SearchEnv, capsys: pytest.CaptureFixture[str]) -> Callable[..., str]:
    """Runs `medialens ...` against the served app as the workspace's owner; what it printed."""
    key = make_account(search_env.records.redis, search_env.workspace, "owner").key

    def run(*args: str, code: int = 0) -> str:
        assert cli.main([*args, "--api", served, "--api-key", key]) == code
        return capsys.readouterr().out

    return run


def test_an_analysis_reads_as_text_transcript_faces_and_why_labels_are_missing() -> None:
    view = {"steps": {"clip": {"state": "skipped", "reason": "/srv/weights/clip is empty"}}, "results": {
        "probe": {"media_type": "video", "width": 640, "height": 360, "duration": 12.5},
        "faces": {"faces": [{"person": {"id": "p3", "name": None, "label": "Person 3"}},
                            {"person": {"id": "p1", "name": "Ada", "label": "Ada"}}]},
        "keyframes": {"1": {"ocr": _ocr("EXIT")}},
        "transcribe": {"segments": [{"start": 4.2, "end": 9.0, "text": " Welcome aboard. "}]},
        "nsfw": {"verdict": "safe"},
    }}
    assert answers.analysis(view) == [
        "  video 640x360 12.5 s",
        "  text in keyframe 1: EXIT",
        "  faces: 2 (Person 3, Ada)",
        "  labels: none: the CLIP model is not installed (an administrator runs `make models`)",
        "  nsfw: safe",
        "  transcript:",
        "    [0:04.2] Welcome aboard.",
    ]


def test_search_status_people_download_and_delete(
    command: Callable[..., str], search_env: SearchEnv, tmp_path: Path
) -> None:
    sign = search_env.add("sign.jpg", "image", {"ocr": _ocr("Lighthouse museum"), "faces": faces_result("obama.jpg")})
    search_env.add("menu.jpg", "image", {"ocr": _ocr("Soup of the day")})
    found = command("search", "lighthouse")
    assert found.splitlines()[0] == "exact matches:"
    assert "sign.jpg (text on screen): Lighthouse museum" in found and "menu.jpg" not in found
    assert command("search", "xqzvbn").strip() == "nothing found for “xqzvbn”"

    person = search_env.person_of(sign)
    assert command("people").strip() == f"Person {person[1:]}: 1 face(s) in 1 upload(s)  [{person}]"
    listed = command("status")
    assert "done" in listed and "sign.jpg" in listed and "menu.jpg" in listed
    assert command("status", sign).splitlines()[0] == "sign.jpg: done"

    target = tmp_path / "copy.jpg"
    assert command("download", sign, "-o", str(target)).startswith(f"saved {target}")
    assert target.read_bytes() == b"raw"  # what the test upload holds
    assert command("delete", sign).strip() == f"deleted {sign}"
    assert "sign.jpg" not in command("search", "lighthouse")


def test_search_by_picture_finds_its_copy(command: Callable[..., str], search_env: SearchEnv, tmp_path: Path) -> None:
    picture = Image.open(DATA / "faces" / "biden.jpg").convert("RGB")
    original, smaller = io.BytesIO(), io.BytesIO()
    picture.save(original, "JPEG")
    picture.resize((picture.width // 2, picture.height // 2)).save(smaller, "JPEG", quality=70)
    stored = search_env.add("biden.jpg", "image", {"probe": describe(original.getvalue())})
    sent = tmp_path / "biden-small.jpg"
    sent.write_bytes(smaller.getvalue())
    found = command("search", "--image", str(sent))
    assert found.splitlines()[:2] == ["copies:", f"  biden.jpg (resized or re-encoded)  [{stored}]"]
