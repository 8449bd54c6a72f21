"""How other subsystems join the pipeline: a hook hears that an upload finished or was deleted.

The pipeline knows no subsystem by name; an entry point (a worker, the web app) installs the hooks
it runs with, e.g. search's, which indexes a finished upload and forgets a deleted one.
"""

from __future__ import annotations

from typing import Protocol


class PipelineHook(Protocol):
    def finished(self, upload: str) -> None:
        """The upload's result document is stored and its state is final."""

    def deleted(self, upload: str) -> dict[str, int]:
        """The upload is being deleted: remove what this subsystem keeps of it; counts of what went."""


_installed: list[PipelineHook] = []


def install(hook: PipelineHook) -> None:
    """Adds a hook once (an entry point may call this more than once)."""
    if not any(type(found) is type(hook) for found in _installed):
        _installed.append(hook)


def installed() -> list[PipelineHook]:
    return list(_installed)
