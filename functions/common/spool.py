"""The names of spooled inputs, so a copy of someone's media never outlives the process that read it.

A call removes its input when it ends (contract.Request.close), but a process killed mid-call (out of memory, a
restart, SIGKILL) cannot: its inputs stayed in the temporary folder for good. Each spooled input's name now says
whose it is (``medialens-input-<host>-<pid>-<start>-<random>``), and a process's first spool removes this host's
inputs whose process is gone; a pid that was reused has another start time, so its inputs go too. The host name
keeps apart processes of other pid namespaces (containers) that share a temporary folder: theirs stay.
"""

from __future__ import annotations

import glob
import os
import socket
import tempfile
from functools import cache
from pathlib import Path

PREFIX = "medialens-input-"


def prefix() -> str:
    """What this process's spooled inputs are named with (made, and the dead processes' inputs removed, once)."""
    return _prefix(os.getpid())


@cache
def _prefix(pid: int) -> str:
    mine = owner(pid)
    sweep(Path(tempfile.gettempdir()))
    return f"{PREFIX}{mine}-"


def owner(pid: int) -> str:
    """``<host>-<pid>-<start>`` of a running process; empty when no such process runs."""
    try:
        # The start time (clock ticks since boot) is the 20th field after the command, which may hold spaces.
        started = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return ""
    return f"{socket.gethostname()}-{pid}-{started}"


def sweep(folder: Path) -> list[Path]:
    """Removes the inputs in ``folder`` that this host's processes spooled and that are not alive any more,
    among those this user owns; returns them."""
    gone = []
    for found in folder.glob(f"{PREFIX}{glob.escape(socket.gethostname())}-*"):
        written_by, _, _ = found.name[len(PREFIX):].rpartition("-")
        pid = written_by.split("-")[-2] if written_by.count("-") >= 2 else ""
        if not pid.isdigit() or owner(int(pid)) == written_by:
            continue
        try:
            if found.lstat().st_uid == os.getuid():
                found.unlink()
                gone.append(found)
        except OSError:  # removed meanwhile by another process's sweep
            continue
    return gone
