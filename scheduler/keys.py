"""Every Redis key name of medialens, and how a value read back becomes text, in one place.

Keys are grouped by the part that owns the data under them; each part still decides what it stores
there. Nothing here touches Redis, so any layer may import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from storage.layout import valid_workspace


def text(value: Any) -> str:
    """Redis answers bytes; the platform speaks str."""
    return value.decode() if isinstance(value, bytes) else str(value)


def texts(raw: Mapping[Any, Any]) -> dict[str, str]:
    """A hash read back from Redis, keys and values as str."""
    return {text(k): text(v) for k, v in raw.items()}


PREFIX = "ml"

# Uploads and their steps (scheduler/uploads.py composes its own keys under PREFIX).
def events_channel(workspace: str) -> str:
    """Where one workspace's upload and step changes are published, for its live views only."""
    return f"{PREFIX}:events:{workspace}"


# Step metrics that workers add up for the intake's /metrics (scheduler/metrics.py).
STEP_SECONDS = f"{PREFIX}:metrics:step_seconds"
STEP_FAILURES = f"{PREFIX}:metrics:step_failures"
SWEEP_REPAIRS = f"{PREFIX}:metrics:sweep_repairs"  # repairs of lost jobs by kind (scheduler/sweep.py)

# The sweep for lost jobs (scheduler/sweep.py): taken by the worker that runs it, extended while it runs
# and left to expire an interval after it ends, so one sweep runs at a time and at most one per interval;
# the holder of the latest sweep to begin (kept); and since when each step it found has been without a job.
SWEEP_LOCK = f"{PREFIX}:sweep:lock"
SWEEP_LATEST = f"{PREFIX}:sweep:latest"
SWEEP_MISSING = f"{PREFIX}:sweep:missing"

# Written just before a WAIT, so that the WAIT covers every earlier write (scheduler/redis_connection.py).
REPLICATION_BARRIER = f"{PREFIX}:replication:barrier"

# Search (search/index.py, search/words.py, search/people.py). The index's lock and version are the
# process-wide Chroma client's; every vector, word, face and person lies under workspace(id), each
# key named "<workspace(id)>:<part>..." where it was "ml:<part>..." before workspaces (search/upgrade.py).
INDEX_VERSION = f"{PREFIX}:index:version"
INDEX_LOCK = f"{PREFIX}:index:lock"
INDEX_WRITES = f"{PREFIX}:index:writes"  # writes begun: one killed half-way counts too
SEARCH_LAYOUT = f"{PREFIX}:search:layout"  # the version of the layout below, once upgraded
PEOPLE_PARTS = ("people", "person:", "face:", "faces:upload:")  # the parts that hold people and faces
WORDS_PART = "words:"


def words(workspace_id: str, index: str) -> str:
    """The prefix of one workspace's word index keys (each word and each upload under it)."""
    return f"{workspace(workspace_id)}:{WORDS_PART}{index}"


def fingerprints(workspace_id: str, index: str) -> str:
    """The prefix of one workspace's picture fingerprints (search/fingerprints.py): exact and perceptual hashes."""
    return f"{workspace(workspace_id)}:fingerprints:{index}"


def indexed(workspace_id: str, index: str) -> str:
    """The uploads of one workspace that may have vectors in its collections (search/indexed.py)."""
    return f"{workspace(workspace_id)}:indexed:{index}"


def people(workspace_id: str) -> str:
    """One workspace's person ids by creation time."""
    return f"{workspace(workspace_id)}:people"


def people_aliases(workspace_id: str) -> str:
    """Merged person id -> the person it went into."""
    return f"{people(workspace_id)}:aliases"


def people_undo(workspace_id: str) -> str:
    """One workspace's last decisions about people, newest first, each with the keys it changed as they were."""
    return f"{workspace(workspace_id)}:people:undo"


def people_counter(workspace_id: str) -> str:
    return f"{people(workspace_id)}:next"


def people_lock(workspace_id: str) -> str:
    return f"{people(workspace_id)}:lock"


def person(workspace_id: str, person_id: str) -> str:
    return f"{workspace(workspace_id)}:person:{person_id}"


def person_faces(workspace_id: str, person_id: str) -> str:
    return f"{person(workspace_id, person_id)}:faces"


def face(workspace_id: str, face_id: str) -> str:
    return f"{workspace(workspace_id)}:face:{face_id}"


def face_cannot(workspace_id: str, face_id: str) -> str:
    """The persons a user said this face is not."""
    return f"{face(workspace_id, face_id)}:cannot"


def upload_faces(workspace_id: str, upload: str) -> str:
    return f"{workspace(workspace_id)}:faces:upload:{upload}"


# GPU burst (gpu/).
GPU = f"{PREFIX}:gpu"
GPU_NODES = f"{GPU}:nodes"
GPU_STATUS = f"{GPU}:status"
GPU_MANAGER_LOCK = f"{GPU}:manager"
GPU_ACCOUNT = f"{GPU}:account"


def gpu_load(node_id: int | str) -> str:
    return f"{GPU}:load:{node_id}"


def gpu_spend(period: str) -> str:
    """USD booked for one UTC day (YYYY-MM-DD) or month (YYYY-MM)."""
    return f"{GPU}:spend:{period}"


def gpu_instance_spend(month: str) -> str:
    """USD booked per Vast.ai instance in one month, to reconcile with the account."""
    return f"{GPU}:spend:instances:{month}"


def gpu_files(month: str) -> str:
    return f"{GPU}:files:{month}"


def gpu_breaker(gateway: str) -> str:
    return f"{GPU}:breaker:{gateway}"


# The web app and API (ui/).
API_KEYS = f"{PREFIX}:apikeys"  # key digest -> the key's record (accounts/apikeys.py)


def session(id_digest: str) -> str:
    """A browser session, named by the digest of the id its cookie carries."""
    return f"{PREFIX}:session:{id_digest}"


# Workspaces, people, keys, audit and usage (accounts/). Every key of a workspace starts with
# workspace(id) + ":", so a SCAN for that prefix finds all of them (erasure); the id is checked here
# because a "*" or ":" in it would widen that SCAN to other workspaces.
WORKSPACES = f"{PREFIX}:workspaces"
USERS = f"{PREFIX}:users"
ACCOUNTS_VERSION = f"{PREFIX}:accounts:version"
SYSTEM_AUDIT = f"{PREFIX}:audit:system"


def workspace(workspace_id: str) -> str:
    """The prefix of every key of one workspace."""
    if not valid_workspace(workspace_id):
        raise ValueError(
            f"{workspace_id!r} is not a workspace id: 2 to 32 lowercase letters, digits or '-', "
            "starting with a letter or digit"
        )
    return f"{PREFIX}:ws:{workspace_id}"


def members(workspace_id: str) -> str:
    return f"{workspace(workspace_id)}:members"


def workspace_keys(workspace_id: str) -> str:
    """Key id -> key digest, of one workspace's API keys (or the operator's, for "")."""
    return f"{workspace(workspace_id)}:keys" if workspace_id else f"{PREFIX}:operator:keys"


def user_workspaces(user: str) -> str:
    return f"{PREFIX}:user:{user}:workspaces"


def audit_log(workspace_id: str) -> str:
    """The audit stream of a workspace; "" names the operator's system log, which is no workspace."""
    return SYSTEM_AUDIT if workspace_id == "" else f"{workspace(workspace_id)}:audit"


def usage_stored(workspace_id: str) -> str:
    """Files and bytes a workspace stores now."""
    return f"{workspace(workspace_id)}:usage:stored"


def usage_day(workspace_id: str, day: str) -> str:
    """What a workspace started, processed and spent on one UTC day (YYYY-MM-DD)."""
    return f"{workspace(workspace_id)}:usage:day:{day}"


def quota(workspace_id: str) -> str:
    return f"{workspace(workspace_id)}:quota"
