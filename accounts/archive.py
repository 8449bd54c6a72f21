"""A tar archive written as it is sent: each member's header, then its bytes as they come, so an
export of any size holds no more than one chunk in memory."""

from __future__ import annotations

import tarfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

BLOCK = tarfile.BLOCKSIZE


@dataclass(frozen=True)
class Member:
    """One file of the archive: its path, exact size and bytes (which must add up to the size)."""

    name: str
    size: int
    chunks: Iterable[bytes]
    mtime: float = 0.0


def stream(members: Iterable[Member]) -> Iterator[bytes]:
    for member in members:
        info = tarfile.TarInfo(member.name)
        info.size, info.mtime, info.mode = member.size, int(member.mtime or time.time()), 0o644
        yield info.tobuf(format=tarfile.PAX_FORMAT)
        sent = 0
        for chunk in member.chunks:
            sent += len(chunk)
            if sent > member.size:
                raise ValueError(f"{member.name} grew while it was archived")
            yield chunk
        if sent != member.size:
            raise ValueError(f"{member.name} has {sent} bytes, not the {member.size} its header says")
        if member.size % BLOCK:
            yield b"\0" * (BLOCK - member.size % BLOCK)
    yield b"\0" * (2 * BLOCK)


def data(name: str, content: bytes) -> Member:
    """A member made of bytes at hand (a JSON document)."""
    return Member(name, len(content), [content])
