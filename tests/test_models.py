"""`make models` says clearly what it could not fetch and leaves nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest

from functions import models


def test_an_unreachable_source_is_reported_and_nothing_is_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 9 on loopback has no server: the same failure as a machine without internet.
    monkeypatch.setattr(models, "FACENET_URL", "http://127.0.0.1:9/facenet.pt")
    assert models.main(["--model-dir", str(tmp_path), "--only", "facenet"]) == 1
    message = capsys.readouterr().err
    assert "facenet: could not fetch" in message
    assert str(tmp_path / "facenet") in message
    assert list(tmp_path.iterdir()) == [], "a failed fetch leaves no partial directory"
