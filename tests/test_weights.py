"""`make models`: what it cannot fetch is said plainly, and what it fetches reaches the function images."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions import weights
from functions.catalog import PROJECT


def test_an_unreachable_source_is_reported_and_nothing_is_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 9 on loopback has no server: the same failure as a machine without internet.
    monkeypatch.setattr(weights, "FACENET_URL", "http://127.0.0.1:9/facenet.pt")
    assert weights.main(["--cache", str(tmp_path), "--only", "facenet"]) == 1
    message = capsys.readouterr().err
    assert "facenet: could not fetch" in message
    assert str(tmp_path / "facenet") in message and "make models" in message
    assert list(tmp_path.iterdir()) == [], "a failed fetch leaves no partial directory"


def test_make_up_goes_on_without_internet_and_says_what_stays_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(weights, "FACENET_URL", "http://127.0.0.1:9/facenet.pt")
    assert weights.main(["--cache", str(tmp_path), "--only", "facenet", "--missing"]) == 0
    message = capsys.readouterr().err
    assert message.count("could not fetch") == 1 and "facenet face embedder" in message


def test_the_weights_each_function_needs_come_from_stack_yml() -> None:
    assert weights.users("clip") == [PROJECT / "functions" / "clip"]
    assert weights.users("facenet") == [PROJECT / "functions" / "faces"]


def test_weights_are_placed_beside_the_handler_without_a_second_copy(tmp_path: Path) -> None:
    cache = tmp_path / "cache" / "clip"
    cache.mkdir(parents=True)
    (cache / "config.json").write_text("{}")
    folder = tmp_path / "functions" / "clip"
    placed = weights.place(cache, folder, "clip")
    assert placed == folder / "weights" / "clip"
    assert (placed / "config.json").stat().st_ino == (cache / "config.json").stat().st_ino
    # A second run replaces what was there, as `make models` after an update does.
    (cache / "config.json").unlink()
    (cache / "model.safetensors").write_bytes(b"x")
    assert sorted(path.name for path in weights.place(cache, folder, "clip").iterdir()) == ["model.safetensors"]
