"""The stack's state (secrets, media, Redis, Chroma, logs) is readable by its own user alone (issue 14, finding 9)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from embedded.secrets import Secrets
from embedded.stack import Stack


def test_nothing_under_the_state_dir_is_open_to_group_or_world(running_stack: Stack, api_key: str) -> None:
    state = running_stack.state
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    entries = [path for path in state.rglob("*") if not path.is_symlink()]
    open_folders = [str(path.relative_to(state)) for path in entries
                    if path.is_dir() and path.lstat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)]
    assert open_folders == [], "every folder is its user's alone, so nothing inside can be reached by others"
    # What the platform writes itself is private as a file too. (SeaweedFS chmods the volume files it
    # makes to 0644 whatever the umask; the 0700 folders above are what keep them private.)
    ours = {"secrets.json", "security.toml", "redis.conf", "appendonly.aof", "admin.key"}
    open_files = [f"{path.relative_to(state)} {stat.filemode(path.lstat().st_mode)}" for path in entries
                  if path.is_file() and (path.name in ours or path.suffix in (".log", ".pid"))
                  and path.lstat().st_mode & (stat.S_IRWXG | stat.S_IRWXO)]
    assert open_files == []
    names = {path.name for path in entries}
    assert {"secrets.json", "security.toml", "redis.conf", "functions.log", "appendonly.aof"} <= names


def test_an_older_secrets_file_gains_the_new_secrets_and_keeps_the_old(tmp_path: Path) -> None:
    old = {"s3_access_key": "medialens-0000", "s3_secret_key": "kept", "intake_token": "t",
           "gateway_password": "p", "session_key": "k"}
    (tmp_path / "secrets.json").write_text(json.dumps(old))
    made = Secrets.load_or_create(tmp_path)
    assert made.s3_secret_key == "kept" and len(made.redis_password) >= 24
    assert Secrets.load_or_create(tmp_path) == made, "the new secrets were saved"
    assert stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode) == 0o600
