"""MinIO's metrics need a bearer token that faasd's Prometheus alone holds, and nginx hides /minio/."""

from __future__ import annotations

import http.server
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from embedded.settings import free_port, port_free
from functions.catalog import load_stack
from tests.gateway_config import GATEWAY_CONFIG, deploy
from tests.test_deploy_compose import FAASD_COMPOSE, TEMPLATE, VALUES, env
from tests.test_deploy_nginx import TEMPLATE as NGINX_TEMPLATE
from tests.test_deploy_nginx import self_signed, wrapper

# What `mc admin prometheus generate ALIAS` prints, and with --json (mc cmd/admin-prometheus-generate.go).
TOKEN = ("eyJhbGciOiJIUzUxMiJ9."
         "eyJleHAiOjQ4NzU0ODA2NjIsImlzcyI6InByb21ldGhldXMiLCJzdWIiOiJtZWRpYWxlbnMtbWV0cmljcyJ9.c2ln-_9")
GENERATED_YAML = f"""scrape_configs:
- job_name: minio-job
  bearer_token: {TOKEN}
  metrics_path: /minio/v2/metrics/cluster
  scheme: http
  static_configs:
  - targets: [127.0.0.1:9000]
"""
GENERATED_JSON = (f'{{\n "jobName": "minio-job",\n "bearerToken": "{TOKEN}",\n '
                  '"metricsPath": "/minio/v2/metrics/cluster",\n "scheme": "http",\n '
                  '"staticConfigs": [{"targets": ["127.0.0.1:9000"]}]\n}')


def test_minio_metrics_need_a_token() -> None:
    minio = env(yaml.safe_load(deploy.render(TEMPLATE, VALUES))["services"]["minio"])
    # MinIO's default is jwt too; "public" (or anything but jwt) would open them.
    assert minio["MINIO_PROMETHEUS_AUTH_TYPE"] == "jwt"


def test_prometheus_scrapes_minio_with_the_token_file_deploy_mounts() -> None:
    ours = yaml.safe_load((GATEWAY_CONFIG / "prometheus.medialens.yml").read_text())
    job = next(job for job in ours["scrape_configs"] if job["job_name"] == "medialens-minio")
    assert job["authorization"]["type"] == "Bearer"
    token_file = Path(job["authorization"]["credentials_file"])
    # The token itself is in no file Prometheus's config holds, only a path to it.
    assert "credentials" not in job["authorization"] and "bearer_token" not in job
    stack = load_stack()
    merged = deploy.merge_compose(yaml.safe_load(FAASD_COMPOSE), {"services": {}}, deploy.gateway_timeouts(stack))
    twice = deploy.merge_compose(yaml.safe_load(yaml.safe_dump(merged)), {"services": {}},
                                 deploy.gateway_timeouts(stack))
    mounts = [volume for volume in twice["services"]["prometheus"]["volumes"] if isinstance(volume, dict)]
    assert len(mounts) == 1, "merged once, however often deploy runs"
    assert token_file.parent == Path(mounts[0]["target"]) and mounts[0]["type"] == "bind"
    # deploy.sh writes the token into the folder that is mounted.
    script = (GATEWAY_CONFIG / "deploy.sh").read_text()
    assert f'DATA_DIR/prometheus/{token_file.name}" --owner "$PROMETHEUS_UID"' in script
    assert mounts[0]["source"] == "/var/lib/faasd/medialens/prometheus"


@pytest.mark.parametrize("generated", [GENERATED_YAML, GENERATED_JSON])
def test_the_token_is_read_from_what_mc_prints(generated: str) -> None:
    assert deploy.prometheus_token(generated) == TOKEN


@pytest.mark.parametrize("generated", [
    GENERATED_YAML.replace(f"  bearer_token: {TOKEN}\n", ""), "mc: <ERROR> Unable to generate", "",
    GENERATED_JSON.replace(TOKEN, "not a token"),
])
def test_no_token_is_an_error_that_repeats_nothing(generated: str) -> None:
    with pytest.raises(deploy.DeployError, match="printed no bearer token") as raised:
        deploy.prometheus_token(generated)
    assert "not a token" not in str(raised.value)


def test_the_token_file_is_its_owners_alone(tmp_path: Path) -> None:
    target = tmp_path / "minio-token"
    done = subprocess.run([sys.executable, str(GATEWAY_CONFIG / "deploy.py"), "prometheus-token", str(target)],
                          input=GENERATED_JSON, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""
    assert target.read_text() == TOKEN and (target.stat().st_mode & 0o777) == 0o400
    failed = subprocess.run([sys.executable, str(GATEWAY_CONFIG / "deploy.py"), "prometheus-token", str(target)],
                            input="", capture_output=True, text=True)
    assert failed.returncode == 1 and target.read_text() == TOKEN, "a failure keeps the token there was"


class Recorder(http.server.BaseHTTPRequestHandler):
    """An S3 upstream that answers 200 to everything and remembers each path."""

    seen: list[str] = []

    def do_GET(self) -> None:
        Recorder.seen.append(self.path)
        body = b"minio_cluster_nodes_online_total 1\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def s3_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """The rendered nginx site, its S3 server in front of the recording upstream."""
    from tests.system_packages import find

    nginx = find("nginx")
    if nginx is None:
        pytest.skip("nginx is not installed: python -m tests.system_packages installs it")
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    prefix = tmp_path_factory.mktemp("nginx-s3")
    cert, key = self_signed(prefix)
    http_port, https, s3 = free_port(), free_port(), free_port()
    values = {
        "DOMAIN": "localhost", "S3_DOMAIN": "s3.localhost", "HTTP_PORT": str(http_port), "HTTPS_PORT": str(https),
        "S3_HTTPS_PORT": str(s3), "UI_UPSTREAM": "127.0.0.1:9", "GATEWAY_UPSTREAM": "127.0.0.1:9",
        "S3_UPSTREAM": f"127.0.0.1:{upstream.server_address[1]}", "TLS_CERT": str(cert), "TLS_KEY": str(key),
        "ACME_ROOT": str(prefix), "DEPLOYER_ALLOW": "127.0.0.1", "GATEWAY_READ_TIMEOUT": "60s", "S3_MAX_BODY": "2g",
    }
    site = prefix / "medialens.conf"
    site.write_text(deploy.render(NGINX_TEMPLATE.read_text(), values))
    conf = prefix / "nginx.conf"
    conf.write_text(wrapper(prefix, site))
    process = subprocess.Popen([nginx, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf),
                                "-g", "daemon off;"], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while port_free(s3) and time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else "nginx exited"
        time.sleep(0.05)
    with httpx.Client(base_url=f"https://127.0.0.1:{s3}", verify=str(cert)) as client:
        yield client
    process.send_signal(signal.SIGQUIT)
    process.wait(timeout=10)
    upstream.shutdown()


@pytest.mark.parametrize("path", [
    "/minio/v2/metrics/cluster", "/minio/v2/metrics/node", "/minio/metrics/v3", "/minio/prometheus/metrics",
    "/minio/admin/v3/info", "/minio/health/live",
])
def test_nginx_keeps_minio_endpoints_from_the_internet(s3_site: httpx.Client, path: str) -> None:
    Recorder.seen.clear()
    reply = s3_site.get(path)
    assert reply.status_code == 404 and Recorder.seen == [], f"{path} reached MinIO"


def test_objects_still_pass_through_nginx(s3_site: httpx.Client) -> None:
    Recorder.seen.clear()
    assert s3_site.get("/uploads/minio/v2/metrics/cluster.jpg").status_code == 200
    assert Recorder.seen == ["/uploads/minio/v2/metrics/cluster.jpg"]


def test_prometheus_scrapes_the_web_app_with_its_metrics_token_alone() -> None:
    ours = yaml.safe_load((GATEWAY_CONFIG / "prometheus.medialens.yml").read_text())
    job = next(job for job in ours["scrape_configs"] if job["job_name"] == "medialens-ui")
    token_file = Path(job["authorization"]["credentials_file"])
    assert job["authorization"]["type"] == "Bearer" and "credentials" not in job["authorization"]
    ui = env(yaml.safe_load(deploy.render(TEMPLATE, VALUES))["services"]["ui"])
    assert ui["MEDIALENS_UI_METRICS_TOKEN"] == VALUES["UI_METRICS_TOKEN"]
    script = (GATEWAY_CONFIG / "deploy.sh").read_text()
    assert f'helper secret-file "$DATA_DIR/prometheus/{token_file.name}" --owner "$PROMETHEUS_UID" <<<' in script
    assert "UI_METRICS_TOKEN" in script.split("export REDIS_PASSWORD", 1)[1].splitlines()[0]


def test_the_metrics_token_reads_metrics_and_nothing_else(running_stack: Any) -> None:
    from tests.conftest import make_account
    from tests.ui_support import UNTHROTTLED, app_on

    key = make_account(running_stack.redis(), operator=True).key
    with app_on(running_stack, metrics_token="prometheus-only", **UNTHROTTLED) as app:
        client = app.test_client()
        token = {"Authorization": "Bearer prometheus-only"}
        assert client.get("/metrics", headers=token).status_code == 200
        assert client.get("/metrics", headers={"Authorization": "Bearer not-it"}).status_code == 401
        assert client.get("/metrics", headers={"Authorization": f"Bearer {key}"}).status_code == 200, "operators too"
        for path in ("/api/v1/uploads", "/api/v1/workspaces", "/api/v1/gpu"):
            assert client.get(path, headers=token).status_code == 401, f"the token is no key for {path}"
