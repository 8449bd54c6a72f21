"""What a member may do in a workspace: viewer < editor < owner; operators run the installation."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"  # read and search
    EDITOR = "editor"  # and upload, retry, delete, name and merge people
    OWNER = "owner"  # and members, keys, settings, export, delete the workspace

    def allows(self, needed: Role) -> bool:
        return RANK[self] >= RANK[needed]


RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.OWNER: 2}


def role(value: str) -> Role:
    """A role from what a person typed, with an error that lists the choices."""
    try:
        return Role(value.strip().lower())
    except ValueError:
        raise ValueError(f"role must be one of {', '.join(r.value for r in Role)}") from None
