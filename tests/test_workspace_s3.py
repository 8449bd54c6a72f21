"""Each workspace's S3 credentials reach its own objects only, enforced by the store (embedded SeaweedFS)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.exceptions
import pytest

from storage.client import Store
from storage.credentials import (
    MinioCredentials,
    S3Credentials,
    SeaweedCredentials,
    minio_policy,
    seaweed_actions,
    workspace_credentials,
)
from storage.settings import StorageSettings


@dataclass
class Workspace:
    id: str
    pair: S3Credentials
    client: Any


def error_code(call: Callable[[], Any]) -> str:
    """The S3 error code a call ends with; 'ok' when it succeeds."""
    try:
        call()
    except botocore.exceptions.ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return "ok"


def denied(call: Callable[[], Any]) -> bool:
    # A HEAD has no body: boto3 reports its bare status.
    return error_code(call) in ("AccessDenied", "403")


@pytest.fixture(scope="module")
def credentials(store: Store) -> SeaweedCredentials:
    made = workspace_credentials(store.settings)
    assert isinstance(made, SeaweedCredentials), "the embedded stack's store is administered as SeaweedFS"
    return made


@pytest.fixture
def connect(store: Store) -> Callable[[S3Credentials], Any]:
    s = store.settings

    def client(pair: S3Credentials) -> Any:
        return boto3.client("s3", endpoint_url=s.endpoint, aws_access_key_id=pair.access_key,
                            aws_secret_access_key=pair.secret_key, region_name=s.region)

    return client


@pytest.fixture
def workspaces(credentials: SeaweedCredentials, store: Store, s3_client: Any,
               connect: Callable[[S3Credentials], Any]) -> Iterator[tuple[Workspace, Workspace]]:
    """Two fresh workspaces, each with a pair and an object `<id>/seed` in every bucket."""
    made = []
    for _ in range(2):
        workspace = "ws-" + uuid.uuid4().hex[:10]
        for bucket in store.buckets:
            s3_client.put_object(Bucket=bucket, Key=f"{workspace}/seed", Body=workspace.encode())
        pair = credentials.issue(workspace)
        made.append(Workspace(workspace, pair, connect(pair)))
    yield made[0], made[1]
    for each in made:
        credentials.revoke(each.id)


def test_a_workspace_puts_gets_lists_and_deletes_its_originals(
        workspaces: tuple[Workspace, Workspace], store: Store) -> None:
    a, _ = workspaces
    uploads = store.settings.uploads_bucket
    a.client.put_object(Bucket=uploads, Key=f"{a.id}/clip.mp4", Body=b"frames")
    assert a.client.get_object(Bucket=uploads, Key=f"{a.id}/clip.mp4")["Body"].read() == b"frames"
    listed = a.client.list_objects_v2(Bucket=uploads, Prefix=f"{a.id}/")
    assert sorted(item["Key"] for item in listed["Contents"]) == [f"{a.id}/clip.mp4", f"{a.id}/seed"]
    a.client.delete_object(Bucket=uploads, Key=f"{a.id}/clip.mp4")
    assert not store.exists(uploads, f"{a.id}/clip.mp4")


def test_a_workspace_cannot_reach_another_workspaces_originals(
        workspaces: tuple[Workspace, Workspace], store: Store) -> None:
    a, b = workspaces
    uploads = store.settings.uploads_bucket
    theirs = f"{b.id}/seed"
    assert denied(lambda: a.client.get_object(Bucket=uploads, Key=theirs))
    assert denied(lambda: a.client.head_object(Bucket=uploads, Key=theirs))
    assert denied(lambda: a.client.put_object(Bucket=uploads, Key=f"{b.id}/planted", Body=b"x"))
    assert denied(lambda: a.client.delete_object(Bucket=uploads, Key=theirs))
    assert denied(lambda: a.client.list_objects_v2(Bucket=uploads, Prefix=f"{b.id}/"))
    assert denied(lambda: a.client.list_objects_v2(Bucket=uploads))
    assert denied(lambda: a.client.list_objects(Bucket=uploads))
    # A prefix that is not the workspace's own (it would match workspaces whose id starts so).
    assert denied(lambda: a.client.list_objects_v2(Bucket=uploads, Prefix=a.id))
    assert denied(lambda: a.client.copy_object(Bucket=uploads, Key=f"{a.id}/copy",
                                               CopySource={"Bucket": uploads, "Key": theirs}))
    batch = a.client.delete_objects(Bucket=uploads, Delete={"Objects": [{"Key": theirs}]})
    assert [error["Code"] for error in batch.get("Errors", [])] == ["AccessDenied"]
    assert store.get_bytes(uploads, theirs) == b.id.encode(), "B's original is untouched"
    assert not store.exists(uploads, f"{b.id}/planted")


@pytest.mark.parametrize("setting", ["results_bucket", "artefacts_bucket"])
def test_results_and_artefacts_are_read_only_and_own_only(
        workspaces: tuple[Workspace, Workspace], store: Store, setting: str) -> None:
    a, b = workspaces
    bucket = getattr(store.settings, setting)
    assert a.client.get_object(Bucket=bucket, Key=f"{a.id}/seed")["Body"].read() == a.id.encode()
    listed = a.client.list_objects_v2(Bucket=bucket, Prefix=f"{a.id}/")["Contents"]
    assert f"{a.id}/seed" in [item["Key"] for item in listed]
    assert denied(lambda: a.client.put_object(Bucket=bucket, Key=f"{a.id}/forged.json", Body=b"{}"))
    assert denied(lambda: a.client.delete_object(Bucket=bucket, Key=f"{a.id}/seed"))
    assert denied(lambda: a.client.get_object(Bucket=bucket, Key=f"{b.id}/seed"))
    assert denied(lambda: a.client.list_objects_v2(Bucket=bucket, Prefix=f"{b.id}/"))
    assert denied(lambda: a.client.list_objects_v2(Bucket=bucket))
    assert store.get_bytes(bucket, f"{a.id}/seed") == a.id.encode()
    assert not store.exists(bucket, f"{a.id}/forged.json")


def test_a_workspace_administers_no_bucket(workspaces: tuple[Workspace, Workspace], store: Store,
                                           s3_client: Any) -> None:
    a, _ = workspaces
    bucket = "other-" + uuid.uuid4().hex[:8]
    assert denied(lambda: a.client.create_bucket(Bucket=bucket))
    s3_client.create_bucket(Bucket=bucket)
    s3_client.put_object(Bucket=bucket, Key=f"{a.id}/seed", Body=b"elsewhere")
    try:
        # Its own prefix in a bucket that is not one of the platform's is not its own.
        assert denied(lambda: a.client.get_object(Bucket=bucket, Key=f"{a.id}/seed"))
        assert denied(lambda: a.client.list_objects_v2(Bucket=bucket, Prefix=f"{a.id}/"))
        assert denied(lambda: a.client.delete_bucket(Bucket=store.settings.results_bucket))
        assert [item["Name"] for item in a.client.list_buckets()["Buckets"]] == []
    finally:
        s3_client.delete_object(Bucket=bucket, Key=f"{a.id}/seed")
        s3_client.delete_bucket(Bucket=bucket)


def test_issuing_again_replaces_the_pair(workspaces: tuple[Workspace, Workspace], credentials: SeaweedCredentials,
                                         store: Store, connect: Callable[[S3Credentials], Any]) -> None:
    a, _ = workspaces
    uploads = store.settings.uploads_bucket
    renewed = credentials.issue(a.id)
    assert renewed.access_key != a.pair.access_key and renewed.secret_key != a.pair.secret_key
    assert credentials.access_key(a.id) == renewed.access_key
    assert error_code(lambda: a.client.get_object(Bucket=uploads, Key=f"{a.id}/seed")) == "InvalidAccessKeyId"
    assert connect(renewed).get_object(Bucket=uploads, Key=f"{a.id}/seed")["Body"].read() == a.id.encode()


def test_revoking_stops_that_workspace_only(workspaces: tuple[Workspace, Workspace], credentials: SeaweedCredentials,
                                            store: Store, s3_client: Any) -> None:
    a, b = workspaces
    uploads = store.settings.uploads_bucket
    assert credentials.access_key(a.id) == a.pair.access_key
    credentials.revoke(a.id)
    assert credentials.access_key(a.id) is None
    assert error_code(lambda: a.client.list_objects_v2(Bucket=uploads, Prefix=f"{a.id}/")) == "InvalidAccessKeyId"
    assert credentials.access_key(b.id) == b.pair.access_key
    assert b.client.get_object(Bucket=uploads, Key=f"{b.id}/seed")["Body"].read() == b.id.encode()
    # The admin identity keeps every right over every workspace.
    for bucket in store.buckets:
        keys = {item["Key"] for item in s3_client.list_objects_v2(Bucket=bucket)["Contents"]}
        assert {f"{a.id}/seed", f"{b.id}/seed"} <= keys
        s3_client.put_object(Bucket=bucket, Key=f"{b.id}/by-admin", Body=b"admin")
        s3_client.delete_object(Bucket=bucket, Key=f"{b.id}/by-admin")


def test_the_secret_never_shows_in_a_repr(workspaces: tuple[Workspace, Workspace]) -> None:
    a, _ = workspaces
    assert a.pair.secret_key not in repr(a.pair) and a.pair.access_key in repr(a.pair)


def test_a_workspace_id_that_could_escape_its_prefix_is_refused() -> None:
    settings = StorageSettings()
    for bad in ("../b", "a/b", "a*", "A1", "a", "-ab", "a" * 33):
        with pytest.raises(ValueError, match="workspace id"):
            seaweed_actions(bad, settings)
        with pytest.raises(ValueError, match="workspace id"):
            minio_policy(bad, settings)


def test_seaweed_actions_scope_every_right_to_the_prefix() -> None:
    settings = StorageSettings(uploads_bucket="up", results_bucket="res", artefacts_bucket="art")
    assert seaweed_actions("ws1", settings) == [
        "Read:up/ws1/*", "List:up/ws1/*", "Write:up/ws1/*",
        "Read:res/ws1/*", "List:res/ws1/*",
        "Read:art/ws1/*", "List:art/ws1/*",
    ]


def test_the_minio_policy_allows_the_workspace_prefix_only() -> None:
    settings = StorageSettings(uploads_bucket="up", results_bucket="res", artefacts_bucket="art")

    def listing(bucket: str) -> dict[str, Any]:
        return {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [f"arn:aws:s3:::{bucket}"],
                "Condition": {"StringLike": {"s3:prefix": ["ws1/*"]}}}

    assert minio_policy("ws1", settings) == {"Version": "2012-10-17", "Statement": [
        listing("up"),
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
         "Resource": ["arn:aws:s3:::up/ws1/*"]},
        listing("res"),
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::res/ws1/*"]},
        listing("art"),
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::art/ws1/*"]},
    ]}


class FakeMinioAdmin:
    """MinioAdmin's user and policy calls, kept in memory as MinIO keeps them."""

    def __init__(self) -> None:
        self.users: dict[str, dict[str, str]] = {}
        self.policies: dict[str, dict[str, Any]] = {}

    def policy_add(self, name: str, policy: dict[str, Any]) -> str:
        self.policies[name] = policy
        return ""

    def user_add(self, access_key: str, secret_key: str) -> str:
        self.users[access_key] = {"secretKey": secret_key, "status": "enabled"}
        return ""

    def attach_policy(self, policies: list[str], user: str) -> str:
        assert all(name in self.policies for name in policies)
        self.users[user]["policyName"] = ",".join(policies)
        return ""

    def user_remove(self, access_key: str) -> str:
        del self.users[access_key]
        return ""

    def user_list(self) -> str:
        # MinIO lists no secrets.
        return json.dumps({key: {k: v for k, v in info.items() if k != "secretKey"}
                           for key, info in self.users.items()})


def test_minio_credentials_keep_one_user_per_workspace_with_its_policy() -> None:
    settings = StorageSettings()
    admin = FakeMinioAdmin()
    credentials = MinioCredentials(settings, admin)  # type: ignore[arg-type]
    first = credentials.issue("ws1")
    other = credentials.issue("ws2")
    assert admin.users[first.access_key] == {"secretKey": first.secret_key, "status": "enabled",
                                             "policyName": "medialens-workspace-ws1"}
    assert admin.policies["medialens-workspace-ws1"] == minio_policy("ws1", settings)
    second = credentials.issue("ws1")
    assert first.access_key not in admin.users and credentials.access_key("ws1") == second.access_key
    credentials.revoke("ws1")
    assert credentials.access_key("ws1") is None and set(admin.users) == {other.access_key}
