"""Files and folders of the stack's state that only its own user may open: they hold secrets and users' media."""

from __future__ import annotations

import os
import stat
from pathlib import Path

# Every service of the stack creates its files under this mask: 0600 files, 0700 folders.
UMASK = 0o077
OTHERS = stat.S_IRWXG | stat.S_IRWXO


def private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def write_private(path: Path, text: str) -> None:
    """Writes the file 0600 from its first byte and replaces any older one in one step."""
    private_dir(path.parent)
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


def open_private_append(path: Path) -> int:
    """A descriptor for appending to a log that is 0600 even when it is made here."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)


def tighten(root: Path) -> None:
    """Takes group and world access off everything under root: state an older release left 0755/0644."""
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            mode = path.lstat().st_mode
            if not stat.S_ISLNK(mode) and mode & OTHERS:
                path.chmod(stat.S_IMODE(mode) & ~OTHERS)
    if root.exists():
        root.chmod(0o700)
