"""deploy.sh keeps every secret in a root-only file and prints none, the first admin's password included."""

from __future__ import annotations

import logging
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from redis import Redis

from accounts.settings import AccountsSettings
from accounts.upgrade import upgrade
from accounts.users import Users
from tests.gateway_config import GATEWAY_CONFIG, deploy
from tests.test_deploy_compose import TEMPLATE, VALUES, env
from ui.app import announce

DEPLOY_SH = GATEWAY_CONFIG / "deploy.sh"
SCRIPT = DEPLOY_SH.read_text()


def run_steps(faasd: Path, steps: str) -> subprocess.CompletedProcess[str]:
    """deploy.sh's functions, sourced (nothing runs by itself), then `steps`, against a faasd folder."""
    return subprocess.run(
        ["bash", "-c", f'set -euo pipefail; source "{DEPLOY_SH}"; {steps}'],
        capture_output=True, text=True,
        env={"PATH": os.environ["PATH"], "DOMAIN": "media.example.com", "FAASD_DIR": str(faasd)},
    )


@pytest.fixture
def faasd(tmp_path: Path) -> Path:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "basic-auth-password").write_text("gateway-password-from-faasd")
    return tmp_path


def test_secrets_are_root_only_files_and_never_printed(faasd: Path) -> None:
    done = run_steps(faasd, "create_secrets; env")
    assert done.returncode == 0, done.stderr
    secrets_dir = faasd / "secrets" / "medialens"
    made = {path.name: path.read_text().strip() for path in secrets_dir.iterdir() if path.is_file()}
    assert {"s3-access-key", "s3-secret-key", "s3-app-secret-key", "s3-metrics-secret-key", "intake-token",
            "session-key", "redis-password", "index-token", "admin-password"} <= set(made)
    for name in made:
        assert (secrets_dir / name).stat().st_mode & 0o777 == 0o600, name
    assert secrets_dir.stat().st_mode & 0o777 == 0o700
    exported = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    assert exported["ADMIN_PASSWORD"] == made["admin-password"] and len(made["admin-password"]) >= 20
    assert exported["INDEX_TOKEN"] == made["index-token"]
    assert exported["APP_S3_SECRET_KEY"] == made["s3-app-secret-key"] != made["s3-secret-key"]
    # What the step itself wrote to the terminal: where the secrets are, none of them.
    logged = done.stderr + done.stdout.split("\n", 1)[0]
    for name, value in made.items():
        assert value not in logged, f"{name} was printed"
    again = run_steps(faasd, "create_secrets; env")
    assert dict(line.split("=", 1) for line in again.stdout.splitlines() if "=" in line)["ADMIN_PASSWORD"] == \
        made["admin-password"], "a second run keeps the first password"


def test_the_deploy_log_names_the_password_file_not_the_password(faasd: Path) -> None:
    done = run_steps(faasd, "create_secrets >/dev/null; first_admin")
    password = (faasd / "secrets" / "medialens" / "admin-password").read_text().strip()
    assert done.returncode == 0 and password not in done.stdout + done.stderr
    assert f"{faasd}/secrets/medialens/admin-password" in done.stdout


def test_no_line_that_prints_expands_a_secret() -> None:
    # The variables that hold secrets: each assigned from a secret file (or the Vast.ai key).
    secret_names = set(re.findall(r"^\s*([A-Z0-9_]+)=\"[^\"]*\$\((?:secret|cat) ", SCRIPT, re.M)) | {"VAST_API_KEY"}
    assert {"S3_ROOT_PASSWORD", "APP_S3_SECRET_KEY", "ADMIN_PASSWORD", "INDEX_TOKEN",
            "GATEWAY_PASSWORD"} <= secret_names
    for number, line in enumerate(SCRIPT.splitlines(), 1):
        words = line.strip()
        if not re.match(r"(log|die|echo|printf)\b", words) or re.search(r">\s*\"?\$", words) or "| mc " in words:
            continue
        shown = set(re.findall(r"\$\{?([A-Z0-9_]+)", words)) & secret_names
        assert not shown, f"deploy.sh:{number} prints {shown}: {words}"


def test_the_web_app_takes_the_first_password_from_deploy_and_logs_none(
    redis_db: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    services: dict[str, Any] = yaml.safe_load(deploy.render(TEMPLATE, VALUES))["services"]
    ui = env(services["ui"])
    assert ui["MEDIALENS_ACCOUNTS_ADMIN_PASSWORD"] == VALUES["ADMIN_PASSWORD"]
    settings = AccountsSettings.model_validate({
        key.removeprefix("MEDIALENS_ACCOUNTS_").lower(): value for key, value in ui.items()
        if key.startswith("MEDIALENS_ACCOUNTS_")})
    with caplog.at_level(logging.INFO):
        announce(upgrade(redis_db, settings.admin_password))
    assert VALUES["ADMIN_PASSWORD"] not in caplog.text and "first start" not in caplog.text
    assert Users(redis_db).verify("admin", VALUES["ADMIN_PASSWORD"]) is not None
    # The other services never see it.
    for name in ("intake", "worker-1", "worker-2", "gpu-manager", "minio", "chroma"):
        assert "MEDIALENS_ACCOUNTS_ADMIN_PASSWORD" not in env(services[name]), name
