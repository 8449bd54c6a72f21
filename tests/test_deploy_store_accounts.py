"""MinIO's root stays with MinIO and deploy.sh: the app services use an account of their own."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from typing import Any

import pytest
import yaml

from functions.catalog import PROJECT
from tests.gateway_config import GATEWAY_CONFIG, deploy
from tests.test_deploy_compose import TEMPLATE, VALUES, env

DEPLOY_SH = GATEWAY_CONFIG / "deploy.sh"
APP_SERVICES = ("intake", "worker-1", "worker-2", "ui", "gpu-manager")
# The admin action MinIO checks for each MinioAdmin call (minio cmd/admin-handlers-users.go:
# AddCannedPolicy, AddUser, AttachDetachPolicyBuiltin, RemoveUser, ListUsers).
ADMIN_CALLS = {
    "policy_add": "admin:CreatePolicy",
    "user_add": "admin:CreateUser",
    "attach_policy": "admin:AttachUserOrGroupPolicy",
    "user_remove": "admin:DeleteUser",
    "user_list": "admin:ListUsers",
}


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load(deploy.render(TEMPLATE, VALUES))["services"]
    return found


def test_only_minio_holds_the_root_credentials(services: dict[str, Any]) -> None:
    minio = env(services["minio"])
    root = {minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"]}
    for name, service in services.items():
        if name == "minio":
            continue
        leaked = root & set(env(service).values())
        assert not leaked, f"{name} holds MinIO's root credentials"
    for name in APP_SERVICES:
        app = env(services[name])
        assert (app["MEDIALENS_S3_ACCESS_KEY"], app["MEDIALENS_S3_SECRET_KEY"]) == (
            VALUES["APP_S3_ACCESS_KEY"], VALUES["APP_S3_SECRET_KEY"]), name


def test_deploy_sh_uses_root_in_the_store_setup_alone() -> None:
    script = DEPLOY_SH.read_text()
    uses = [line.strip() for line in script.splitlines() if "S3_ROOT_PASSWORD" in line]
    assert uses == [
        'S3_ROOT_PASSWORD="$(secret s3-secret-key)"',
        "export S3_ROOT_USER S3_ROOT_PASSWORD APP_S3_ACCESS_KEY APP_S3_SECRET_KEY INTAKE_TOKEN SESSION_KEY",
        'export MC_HOST_medialens="http://$S3_ROOT_USER:$S3_ROOT_PASSWORD@127.0.0.1:9000"',
    ]
    body = script[script.index("configure_store() {"):]
    body = body[:body.index("\n}\n")]
    assert "unset MC_HOST_medialens" in body
    # The accounts exist before the app services are waited for (they start with their keys).
    main = script[script.index("main() {"):]
    assert main.index("configure_store") < main.index("wait_for_services")


def test_app_policy_is_exactly_the_buckets_and_the_workspace_admin_calls() -> None:
    assert deploy.app_policy(["uploads", "results", "artefacts"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
             "Resource": ["arn:aws:s3:::uploads", "arn:aws:s3:::results", "arn:aws:s3:::artefacts"]},
            {"Effect": "Allow",
             "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
             "Resource": ["arn:aws:s3:::uploads/*", "arn:aws:s3:::results/*", "arn:aws:s3:::artefacts/*"]},
            {"Effect": "Allow", "Action": ["admin:CreatePolicy", "admin:CreateUser",
                                           "admin:AttachUserOrGroupPolicy", "admin:DeleteUser", "admin:ListUsers"]},
        ],
    }


def test_metrics_policy_reads_metrics_only() -> None:
    assert deploy.metrics_policy() == {
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["admin:Prometheus"]}]}


def test_the_app_may_make_every_admin_call_of_workspace_credentials() -> None:
    # Every MinioAdmin call storage/credentials.py makes, read from its source: a new call there
    # fails here until the app's policy (and this table) allow it.
    tree = ast.parse((PROJECT / "storage" / "credentials.py").read_text())
    called = {
        node.func.attr for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "admin"
    }
    assert called == set(ADMIN_CALLS), called ^ set(ADMIN_CALLS)
    granted = deploy.app_policy(["uploads"])["Statement"][-1]["Action"]
    assert sorted(granted) == sorted(ADMIN_CALLS.values())


def test_policy_command_prints_the_documents() -> None:
    printed = subprocess.run([sys.executable, str(GATEWAY_CONFIG / "deploy.py"), "policy", "app", "up", "res"],
                             capture_output=True, text=True, check=True).stdout
    assert json.loads(printed) == deploy.app_policy(["up", "res"])
    printed = subprocess.run([sys.executable, str(GATEWAY_CONFIG / "deploy.py"), "policy", "metrics"],
                             capture_output=True, text=True, check=True).stdout
    assert json.loads(printed) == deploy.metrics_policy()
    refused = subprocess.run([sys.executable, str(GATEWAY_CONFIG / "deploy.py"), "policy", "app"],
                             capture_output=True, text=True)
    assert refused.returncode == 1 and "needs the buckets" in refused.stderr


@pytest.mark.parametrize(("listed", "held"), [
    ('{\n "accessKey": "medialens-app",\n "policyName": "medialens-app",\n "userStatus": "enabled"\n}', True),
    ('{"policyName": "readonly,medialens-app"}', True),
    ('{"policyName": "medialens-app-old"}', False),
    ('{"policyName": ""}', False),
    ('{"accessKey": "medialens-app"}', False),
])
def test_holds_policy_reads_mc_user_info(listed: str, held: bool) -> None:
    reply = subprocess.run(
        ["bash", "-c", f'source "{DEPLOY_SH}" && holds_policy medialens-app'],
        input=listed, capture_output=True, text=True, env={"DOMAIN": "example.com", "PATH": "/usr/bin:/bin"},
    )
    assert (reply.returncode == 0) is held, reply.stderr
