"""How other subsystems join the pipeline: a hook hears that an upload finished or was deleted.

The pipeline knows no subsystem by name; an entry point (a worker, the web app) puts the hooks it
runs with in its context (scheduler/context.py), e.g. search's, which indexes a finished upload
and forgets a deleted one.
"""

from __future__ import annotations

from typing import Protocol

from redis.client import Pipeline


class PipelineHook(Protocol):
    def finished(self, upload: str, pipe: Pipeline) -> None:
        """The upload's result document is stored and ``pipe`` is the transaction that makes its state
        final: what the hook queues on it happens with that, or not at all (then ``finish`` runs again)."""

    def deleted(self, upload: str, workspace: str) -> dict[str, int]:
        """The upload of this workspace is being deleted (its record is already gone): remove what this
        subsystem keeps of it; counts of what went."""

    def erase(self, workspace: str) -> dict[str, int]:
        """The workspace is being erased (its uploads are deleted already): remove all this subsystem
        still keeps of it; counts of what went."""
