"""A function image answers only callers bearing its token (faasd's gateway authenticates no one on
/function/<name>); the workers send it, and deploy.sh makes it the function secret stack.yml names."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from bench.function_images import FunctionImage
from functions.catalog import STACK_FILE, functions
from host.server import template
from scheduler.gateway import Gateway
from tests.conftest import jpeg
from tests.gateway_config import GATEWAY_CONFIG, deploy
from tests.test_deploy_compose import TEMPLATE, VALUES, env

DEPLOY_SH = GATEWAY_CONFIG / "deploy.sh"


@pytest.fixture
def probe(tmp_path: Path, function_store: str) -> Iterator[FunctionImage]:
    """probe served from its faas-cli build context, allowed the test store, with a token of its own."""
    with FunctionImage(functions()["probe"], tmp_path / "probe", {"MEDIALENS_FN_ALLOWED_ORIGINS": function_store}) \
            as image:
        yield image


def test_a_function_image_answers_only_callers_bearing_its_token(
    probe: FunctionImage, source_url: Callable[..., str]
) -> None:
    body = {"source": {"url": source_url(jpeg())}}
    for token in ("", "wrong", probe.token + "x", probe.token[:-1]):
        status, answer = probe.call(body, token=token)
        assert status == 401 and answer == {"error": "a valid bearer token is required"}, (token, answer)
    # Refused before it reads anything: a binary body is not even looked at.
    assert probe.call(b"\x00 not json", token="wrong")[0] == 401
    status, answer = probe.call(body)
    assert status == 200 and answer["media_type"] == "image", answer
    # of-watchdog's own checks (the Dockerfile's ready_path) need no token, and say nothing else.
    assert httpx.get(f"{probe.url}/_/ready").text == "OK"
    assert httpx.get(f"{probe.url}/_/health").text == "OK"
    assert httpx.post(f"{probe.url}/_/ready", json=body).status_code == 401


def test_the_workers_gateway_client_sends_the_token(probe: FunctionImage, source_url: Callable[..., str]) -> None:
    body = {"source": {"url": source_url(jpeg())}}
    # /function/probe is what faasd's gateway passes on to the function's watchdog, headers and all.
    reply = Gateway("cpu", probe.url, token=probe.token).invoke("probe", body, 30)
    assert reply.status == 200 and reply.body["media_type"] == "image"
    refused = Gateway("cpu", probe.url).invoke("probe", body, 30)
    assert refused.status == 401 and refused.error == "a valid bearer token is required"


def test_a_function_image_without_a_token_does_not_start(tmp_path: Path) -> None:
    image = FunctionImage(functions()["probe"], tmp_path / "probe", {template.TOKEN_ENV: ""})
    with pytest.raises(RuntimeError, match="no caller token"), image:
        pass


def test_the_token_is_read_from_the_faasd_secret_before_the_environment(tmp_path: Path) -> None:
    environ = {template.TOKEN_ENV: "from-the-environment"}
    assert template.caller_token(tmp_path, environ) == "from-the-environment"
    (tmp_path / template.TOKEN_SECRET).write_text("from-the-secret\n")
    assert template.caller_token(tmp_path, environ) == "from-the-secret"
    assert template.caller_token(tmp_path / "none", {}) == ""


def test_an_empty_token_admits_no_one() -> None:
    assert not template.authorised("", "Bearer ")
    assert not template.authorised("", None)
    assert template.authorised("t0ken", "Bearer t0ken")
    assert not template.authorised("t0ken", "bearer t0ken")


def test_every_function_names_the_token_secret_deploy_sh_makes() -> None:
    stack = yaml.safe_load(STACK_FILE.read_text())
    for name, spec in stack["functions"].items():
        assert template.TOKEN_SECRET in (spec.get("secrets") or []), f"{name} does not mount the token"
    assert deploy.function_secrets(stack) == [template.TOKEN_SECRET]
    assert f'FUNCTION_TOKEN_SECRET="{template.TOKEN_SECRET}"' in DEPLOY_SH.read_text()


def test_the_workers_send_the_function_secret() -> None:
    rendered = yaml.safe_load(deploy.render(TEMPLATE, VALUES))["services"]
    workers = [name for name in rendered if name.startswith("worker-")]
    assert workers
    for name in workers:
        assert env(rendered[name])["MEDIALENS_SCHEDULER_GATEWAY_TOKEN"] == VALUES["FUNCTION_TOKEN"]


def test_deploy_creates_the_secret_faasd_mounts_and_the_workers_send(tmp_path: Path) -> None:
    faasd = tmp_path / "faasd"
    (faasd / "secrets").mkdir(parents=True)
    (faasd / "secrets" / "basic-auth-password").write_text("gateway-password")
    # faas-cli as far as create_function_secrets uses it: it lists no secret yet and records each call.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    fake = bin_dir / "faas-cli"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >>"{calls}"\n[ "$2" = list ] && echo "NAME"\nexit 0\n')
    fake.chmod(0o755)
    done = subprocess.run(
        ["bash", "-c", f'set -euo pipefail; source "{DEPLOY_SH}"; create_secrets; '
                       'create_function_secrets; echo "FUNCTION_TOKEN=$FUNCTION_TOKEN"'],
        capture_output=True, text=True,
        env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "DOMAIN": "media.example.com", "FAASD_DIR": str(faasd)},
    )
    assert done.returncode == 0, done.stderr
    secret = faasd / "secrets" / "medialens" / "functions" / template.TOKEN_SECRET
    token = secret.read_text().strip()
    assert len(token) >= 32 and secret.stat().st_mode & 0o777 == 0o600
    assert done.stdout.splitlines()[-1] == f"FUNCTION_TOKEN={token}"
    assert f"secret create --gateway http://127.0.0.1:8080 --name {template.TOKEN_SECRET} --from-file {secret}" \
        in calls.read_text()
