"""Per-workspace S3 credentials that the object store itself limits to the workspace's objects.

A workspace's pair may read, write, delete and list its own originals (uploads bucket, under
``<workspace>/``) and read and list its own results and artefacts; nothing else: no other prefix, no
other bucket, no bucket administration. The store enforces it, so a boto3 client holding workspace
A's pair cannot touch workspace B's objects whatever it sends. MinIO does it with a user and a
policy per workspace (admin API); the embedded SeaweedFS with an identity per workspace whose
actions are scoped to ``bucket/<workspace>/*``, applied through ``weed shell`` at run time.
"""

from __future__ import annotations

import json
import logging
import secrets
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from minio import MinioAdmin
from minio.credentials import StaticProvider
from minio.error import S3Error

from .client import endpoint_address, minio_client
from .layout import workspace_prefix
from .settings import StorageSettings

logger = logging.getLogger(__name__)

# MinIO takes access keys of 3-20 characters and secret keys of 8-40.
ACCESS_KEY_PREFIX = "MLWS"
ACCESS_KEY_HEX_BYTES = 8
SECRET_KEY_BYTES = 30
# How long issue and revoke wait for the store to apply a change (SeaweedFS applies in about 0.3 s).
APPLY_TIMEOUT_S = 15.0


class CredentialsError(RuntimeError):
    """The store refused or failed to change a workspace's credentials."""


class IdentityMissing(CredentialsError):
    """SeaweedFS has no identity of that name."""


@dataclass(frozen=True)
class S3Credentials:
    access_key: str
    # Never in a repr, so never in a log line or a test report.
    secret_key: str = field(repr=False)


class WorkspaceCredentials(Protocol):
    def issue(self, workspace: str) -> S3Credentials:
        """A new pair for the workspace; any earlier pair of it stops working."""
        ...

    def revoke(self, workspace: str) -> None:
        """The workspace's pair stops working; nothing else changes."""
        ...

    def access_key(self, workspace: str) -> str | None:
        """The workspace's current access key, or None when it has none."""
        ...


def new_credentials() -> S3Credentials:
    return S3Credentials(
        ACCESS_KEY_PREFIX + secrets.token_hex(ACCESS_KEY_HEX_BYTES).upper(),
        secrets.token_urlsafe(SECRET_KEY_BYTES),
    )


def workspace_buckets(settings: StorageSettings) -> list[tuple[str, bool]]:
    """Each bucket a workspace reaches, and whether it may write there: it puts and deletes its
    originals; results and artefacts are written by the platform alone."""
    return [(settings.uploads_bucket, True), (settings.results_bucket, False), (settings.artefacts_bucket, False)]


# -- MinIO (production) ---------------------------------------------------------------------------


def minio_policy(workspace: str, settings: StorageSettings) -> dict[str, Any]:
    """The IAM policy document of a workspace's MinIO user."""
    prefix = workspace_prefix(workspace)
    statements: list[dict[str, Any]] = []
    for bucket, writable in workspace_buckets(settings):
        statements.append({
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::{bucket}"],
            # A listing without this prefix (the whole bucket, another workspace) is refused.
            "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}},
        })
        actions = ["s3:GetObject"]
        if writable:
            actions += ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
        statements.append({"Effect": "Allow", "Action": actions, "Resource": [f"arn:aws:s3:::{bucket}/{prefix}*"]})
    return {"Version": "2012-10-17", "Statement": statements}


def minio_policy_name(workspace: str) -> str:
    return f"medialens-workspace-{workspace}"


class MinioCredentials:
    """A MinIO user per workspace pair, holding the workspace's policy (MinIO's admin API)."""

    def __init__(self, settings: StorageSettings, admin: MinioAdmin | None = None) -> None:
        self.settings = settings
        if admin is None:
            address, secure = endpoint_address(settings.endpoint)
            admin = MinioAdmin(
                endpoint=address, credentials=StaticProvider(settings.access_key, settings.secret_key),
                region=settings.region, secure=secure,
            )
        self.admin = admin

    def issue(self, workspace: str) -> S3Credentials:
        name = minio_policy_name(workspace)
        self.admin.policy_add(name, policy=minio_policy(workspace, self.settings))
        # The old pair goes first: a failure below leaves the workspace without a pair, never with two.
        self.revoke(workspace)
        made = new_credentials()
        self.admin.user_add(made.access_key, made.secret_key)
        self.admin.attach_policy([name], user=made.access_key)
        logger.info("issued S3 credentials %s to workspace %s", made.access_key, workspace)
        return made

    def revoke(self, workspace: str) -> None:
        for access_key in self._users(workspace):
            self.admin.user_remove(access_key)
            logger.info("revoked S3 credentials %s of workspace %s", access_key, workspace)

    def access_key(self, workspace: str) -> str | None:
        return next(iter(self._users(workspace)), None)

    def _users(self, workspace: str) -> list[str]:
        """The MinIO users holding the workspace's policy (a user is named by its access key)."""
        name = minio_policy_name(workspace)
        users: dict[str, dict[str, Any]] = json.loads(self.admin.user_list() or "{}")
        return sorted(key for key, info in users.items() if name in str(info.get("policyName", "")).split(","))


# -- SeaweedFS (embedded) -------------------------------------------------------------------------


def seaweed_actions(workspace: str, settings: StorageSettings) -> list[str]:
    """The identity actions of a workspace in SeaweedFS: `Action:bucket/prefix*` is matched as a
    wildcard against `Action:bucket/key` (a listing's prefix stands for the key), so each right
    holds under the workspace's prefix only. Write covers put, multipart and delete."""
    prefix = workspace_prefix(workspace)
    actions = []
    for bucket, writable in workspace_buckets(settings):
        scope = f"{bucket}/{prefix}*"
        actions += [f"Read:{scope}", f"List:{scope}"] + ([f"Write:{scope}"] if writable else [])
    return actions


def identity_name(workspace: str) -> str:
    """The SeaweedFS identity of a workspace (validated: it goes into a shell command)."""
    return "workspace-" + workspace_prefix(workspace).rstrip("/")


class SeaweedCredentials:
    """An identity per workspace in the embedded SeaweedFS, changed through `weed shell`.

    The shell writes the identity through the filer's IAM service (signed with the filer key of
    security.toml, hence run from its directory); the S3 gateway follows the filer and applies the
    change without a restart. The admin identity (AWS_* variables of `weed mini`) is static there:
    no shell command changes it.
    """

    def __init__(self, settings: StorageSettings, weed: str | None = None) -> None:
        if not settings.seaweed_master:
            raise ValueError("SeaweedCredentials needs MEDIALENS_S3_SEAWEED_MASTER (the embedded store's master)")
        self.settings = settings
        if weed is None:
            # Only the embedded store has a `weed` to run; the app image (MinIO) ships no embedded/.
            from embedded.seaweedfs import weed_binary

            weed = weed_binary()
        self.weed = weed

    def issue(self, workspace: str) -> S3Credentials:
        actions = ",".join(seaweed_actions(workspace, self.settings))
        old = self.access_key(workspace)
        if old is not None:
            self._shell(f"s3.user.delete -name {identity_name(workspace)}")
        made = new_credentials()
        self._shell(
            f"s3.configure -user={identity_name(workspace)} -access_key={made.access_key} "
            f"-secret_key={made.secret_key} -actions={actions} -apply",
            secret=made.secret_key,
        )
        if old is not None:
            self._until(lambda: self._answer(old, workspace) == "InvalidAccessKeyId", f"{old} refused")
        self._until(lambda: self._answer(made.access_key, workspace, made.secret_key) is None,
                    f"{made.access_key} accepted")
        logger.info("issued S3 credentials %s to workspace %s", made.access_key, workspace)
        return made

    def grant(self, user: str, made: S3Credentials, actions: list[str]) -> None:
        """Makes (or remakes) an identity of this store with these keys and actions, and waits until it works."""
        self._shell(
            f"s3.configure -user={user} -access_key={made.access_key} -secret_key={made.secret_key} "
            f"-actions={','.join(actions)} -apply",
            secret=made.secret_key,
        )
        self._until(lambda: self._answer(made.access_key, "", made.secret_key) is None, f"{made.access_key} accepted")

    def revoke(self, workspace: str) -> None:
        old = self.access_key(workspace)
        if old is None:
            return
        self._shell(f"s3.user.delete -name {identity_name(workspace)}")
        self._until(lambda: self._answer(old, workspace) == "InvalidAccessKeyId", f"{old} refused")
        logger.info("revoked S3 credentials %s of workspace %s", old, workspace)

    def access_key(self, workspace: str) -> str | None:
        try:
            listing = self._shell(f"s3.accesskey.list -user {identity_name(workspace)}")
        except IdentityMissing:
            return None
        # A header line, then one "KEY  STATUS" line per key.
        keys = [line.split()[0] for line in listing.splitlines()[1:] if line.strip()]
        return keys[0] if keys else None

    def _shell(self, command: str, secret: str = "") -> str:
        # The command goes on stdin, not argv, so no secret shows in the process list; the shell's
        # replies (s3.configure prints the identity, secret included) are kept from every log.
        reply = subprocess.run(
            [self.weed, "shell", f"-master={self.settings.seaweed_master}"], input=command + "\n",
            capture_output=True, text=True, cwd=self.settings.seaweed_config_dir, timeout=APPLY_TIMEOUT_S,
        )
        if reply.returncode != 0:
            problem = reply.stderr.strip().splitlines()[-1:] or [f"exit status {reply.returncode}"]
            if "code = NotFound" in problem[0]:
                raise IdentityMissing(problem[0])
            text = problem[0].replace(secret, "***") if secret else problem[0]
            raise CredentialsError(f"weed shell {command.split()[0]} failed: {text}")
        return reply.stdout

    def _answer(self, access_key: str, workspace: str, secret_key: str = "-") -> str | None:
        """The store's error code for a listing of the workspace's originals signed with this pair,
        None when it succeeds. A known key with a wrong secret is SignatureDoesNotMatch, an unknown
        one InvalidAccessKeyId: so whether a key still works shows without its secret."""
        client = minio_client(self.settings.endpoint, self.settings.model_copy(
            update={"access_key": access_key, "secret_key": secret_key}))
        try:
            prefix = workspace_prefix(workspace) if workspace else ""  # "": the whole bucket
            next(iter(client.list_objects(self.settings.uploads_bucket, prefix=prefix)), None)
        except S3Error as exc:
            return str(exc.code)
        return None

    @staticmethod
    def _until(check: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + APPLY_TIMEOUT_S
        while not check():
            if time.monotonic() > deadline:
                raise CredentialsError(f"SeaweedFS did not apply the change in {APPLY_TIMEOUT_S:.0f} s: {what}")
            time.sleep(0.05)


def workspace_credentials(settings: StorageSettings) -> WorkspaceCredentials:
    """The credentials service of the configured store: the embedded stack names its SeaweedFS
    master; otherwise the store is MinIO."""
    if settings.seaweed_master:
        return SeaweedCredentials(settings)
    return MinioCredentials(settings)
