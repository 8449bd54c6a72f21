"""The names of spooled inputs, so a copy of someone's media never outlives the process that read it.

A call removes its input when it ends (contract.Request.close), but a process killed mid-call (out of memory, a
restart, SIGKILL) cannot: its inputs stayed in the temporary folder for good. Each spooled input's name now says
whose it is, ``medialens-input-<pid namespace>-<pid>-<start>-<random>``, and a process's first spool removes the
inputs of its pid namespace whose process is gone; a pid that was reused has another start time, so its inputs
go too. Processes of other pid namespaces (containers) that share the temporary folder are never judged here.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
from functools import cache
from pathlib import Path
from typing import NamedTuple

from . import processes

logger = logging.getLogger(__name__)

PREFIX = "medialens-input-"


class Owner(NamedTuple):
    """The process that spooled an input: its pid namespace, pid and start time (clock ticks since boot)."""

    namespace: str
    pid: int
    started: str

    def __str__(self) -> str:
        return f"{self.namespace}-{self.pid}-{self.started}"


def prefix() -> str:
    """What this process's spooled inputs are named with (made, and the dead processes' inputs removed, once)."""
    return _prefix(os.getpid())


@cache
def _prefix(pid: int) -> str:
    mine = owner(pid)
    if mine is None:  # no /proc to tell processes apart: nothing is named, nothing is swept
        return PREFIX
    try:
        sweep(Path(tempfile.gettempdir()), mine.namespace)
    except OSError as exc:  # the folder cannot be read: the calls go on, the leftovers wait for another process
        logger.warning("the spooled inputs of dead processes could not be removed: %s", exc)
    return f"{PREFIX}{mine}-"


def owner(pid: int) -> Owner | None:
    """Who ``pid`` is, in this process's pid namespace; None when no such process runs or /proc cannot tell."""
    try:
        return Owner(os.readlink("/proc/self/ns/pid").strip("pid:[]"), pid, start_time(pid))
    except OSError:
        return None


def start_time(pid: int) -> str:
    """When ``pid`` started, in clock ticks since boot; OSError when /proc cannot tell."""
    fields = processes.stat_fields(pid)
    if len(fields) < 20:
        raise OSError(errno.EINVAL, f"/proc/{pid}/stat names no start time")
    return fields[19].decode()


def parse(name: str) -> Owner | None:
    """The owner a spooled input's file name gives; None for any other name."""
    if not name.startswith(PREFIX):
        return None
    fields = name[len(PREFIX):].split("-")
    if len(fields) != 4 or not all(field.isdigit() for field in fields[:3]):
        return None
    return Owner(fields[0], int(fields[1]), fields[2])


def gone(written_by: Owner) -> bool:
    """Whether the process that spooled an input has ended: only a pid that no process holds, or one that a
    later process holds, says so; /proc that cannot be read says nothing."""
    try:
        return start_time(written_by.pid) != written_by.started
    except OSError as exc:
        return exc.errno in (errno.ENOENT, errno.ESRCH)


def sweep(folder: Path, namespace: str) -> None:
    """Removes the inputs in ``folder`` that processes of ``namespace`` spooled and that are not alive any more,
    among those this user owns."""
    for found in folder.glob(f"{PREFIX}{namespace}-*"):
        written_by = parse(found.name)
        if written_by is None or not gone(written_by):  # the glob holds only ``namespace``'s
            continue
        try:
            if found.lstat().st_uid == os.geteuid():
                found.unlink()
        except OSError:  # removed meanwhile by another process's sweep
            continue
