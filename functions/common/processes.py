"""What /proc says of a process."""

from __future__ import annotations

from pathlib import Path


def stat_fields(pid: int) -> list[bytes]:
    """The fields of ``/proc/<pid>/stat`` after the command name, the state first: the name sits in parentheses
    and may hold spaces, parentheses and bytes that are no UTF-8, so it is skipped, not decoded. OSError when
    no such process runs."""
    return Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()
