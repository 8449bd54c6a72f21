"""Which spooled inputs a process removes: those of dead processes of its own pid namespace, and no others."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from functions.common import spool


def spooled(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_bytes(b"someone's media")
    return path


def test_a_dead_process_input_goes_and_every_other_stays(tmp_path: Path) -> None:
    me = spool.owner(os.getpid())
    assert me is not None
    ended = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    dead = spool.owner(ended.pid)
    ended.kill()
    ended.wait()
    assert dead is not None
    reused = spool.Owner(me.namespace, me.pid, str(int(me.started) + 1))  # my pid, another process's start
    other_namespace = spool.Owner(str(int(me.namespace) + 1), dead.pid, dead.started)
    of = {
        "mine": spooled(tmp_path, f"{spool.PREFIX}{me}-abc_12"),
        "dead": spooled(tmp_path, f"{spool.PREFIX}{dead}-x9y8z7q"),
        "reused pid": spooled(tmp_path, f"{spool.PREFIX}{reused}-k2m4n6p"),
        "another namespace": spooled(tmp_path, f"{spool.PREFIX}{other_namespace}-r5t7u9w"),
        "named before owners": spooled(tmp_path, f"{spool.PREFIX}a1b2c3d4"),
        "not an input": spooled(tmp_path, f"notes-{dead}-q1w2e3r"),
    }
    spool.sweep(tmp_path, me.namespace)
    assert {what for what, path in of.items() if path.exists()} == {
        "mine", "another namespace", "named before owners", "not an input"}


def test_a_name_is_read_back_as_its_owner() -> None:
    me = spool.owner(os.getpid())
    assert me is not None
    assert spool.parse(f"{spool.PREFIX}{me}-abc_12") == me
    assert spool.parse(f"{spool.PREFIX}{me}") is None, "no random part: not a spooled input"
    assert spool.parse(f"{spool.PREFIX}web-1-{me.pid}-{me.started}-abc") is None
