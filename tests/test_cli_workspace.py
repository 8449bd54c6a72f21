"""`medialens keys` and `medialens export`: a workspace's owner manages keys and takes the whole
workspace home from the command line, against the running stack."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import httpx

from embedded.stack import Stack
from tests.conftest import DATA, make_account, wait_for_upload
from tests.ui_support import post_upload

MEDIALENS = str(Path(sys.executable).parent / "medialens")


def medialens(stack: Stack, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    s = stack.settings
    return subprocess.run([MEDIALENS, *args, "--api", s.url(s.ui_port), "--api-key", key],
                          capture_output=True, text=True, timeout=120)


def test_an_owner_makes_lists_and_revokes_keys_from_the_command_line(running_stack: Stack) -> None:
    owner = make_account(running_stack.redis(), f"wc-{uuid.uuid4().hex[:8]}", "owner")
    made = medialens(running_stack, owner.key, "keys", "create", "scanner", "--role", "editor",
                     "--expires-days", "30")
    assert made.returncode == 0, made.stderr
    key_id = made.stdout.split()[1]
    secret = made.stdout.strip().splitlines()[-1]
    listed = medialens(running_stack, owner.key, "keys", "list")
    assert key_id in listed.stdout and "editor" in listed.stdout and secret not in listed.stdout
    s = running_stack.settings
    as_scanner = httpx.get(s.url(s.ui_port) + "/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert as_scanner.json()["role"] == "editor"
    assert medialens(running_stack, owner.key, "keys", "revoke", key_id).returncode == 0
    assert httpx.get(s.url(s.ui_port) + "/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    refused = medialens(running_stack, secret, "keys", "list")
    assert refused.returncode != 0 and "401" in refused.stderr


def test_an_editor_may_not_manage_keys(running_stack: Stack) -> None:
    editor = make_account(running_stack.redis(), f"wc-{uuid.uuid4().hex[:8]}", "editor")
    refused = medialens(running_stack, editor.key, "keys", "create", "mine")
    assert refused.returncode != 0 and "owner role" in refused.stderr


def test_export_saves_the_workspace_as_an_archive(running_stack: Stack, tmp_path: Path) -> None:
    owner = make_account(running_stack.redis(), f"wc-{uuid.uuid4().hex[:8]}", "owner")
    s = running_stack.settings
    api = httpx.Client(base_url=s.url(s.ui_port) + "/api/v1", headers={"Authorization": f"Bearer {owner.key}"},
                       timeout=60)
    data = (DATA / "faces" / "obama.jpg").read_bytes()
    key = post_upload(api, "portrait.jpg", data, "image/jpeg")
    assert wait_for_upload(api, key)["state"] == "done"
    saved = medialens(running_stack, owner.key, "export", "-o", str(tmp_path / "all.tar"))
    assert saved.returncode == 0, saved.stderr
    with tarfile.open(tmp_path / "all.tar") as archive:
        names = archive.getnames()
        wanted = {"workspace.json", "uploads.json", "people.json", f"originals/{key}", f"results/{key}.json"}
        assert wanted <= set(names)
        original = archive.extractfile(f"originals/{key}")
        assert original is not None and original.read() == data, "the original, byte for byte"
