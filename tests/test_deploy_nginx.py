"""nginx from Debian runs the project's site config, self-signed TLS, in front of the embedded stack."""

from __future__ import annotations

import datetime
import ipaddress
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from embedded.settings import free_port, port_free
from embedded.stack import Stack
from functions.catalog import load_stack
from tests.conftest import jpeg, wait_for_upload
from tests.gateway_config import GATEWAY_CONFIG, deploy
from tests.system_packages import find

TEMPLATE = GATEWAY_CONFIG / "nginx" / "medialens.conf.template"


@dataclass(frozen=True)
class Proxy:
    https: str
    s3: str
    http: str
    cert: Path
    access_log: Path


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 that is its own CA, so clients can verify it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.DNSName("s3.localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


def wrapper(prefix: Path, site: Path) -> str:
    """A minimal nginx.conf around the site file, as Debian's includes sites-enabled in http {}."""
    # Workers run as the user nginx starts as; as root they would drop to nobody, who cannot
    # write the temp folders in the test's prefix.
    user = "user root root;\n" if os.geteuid() == 0 else ""
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = "\n".join(f"    {kind}_temp_path {prefix / kind};" for kind in kinds)
    return f"""{user}worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} info;
events {{ worker_connections 256; }}
http {{
    access_log {prefix / "access.log"};
{temp}
    # What Debian's nginx.conf sets at http level: the site must not repeat it at that level.
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    include {site};
}}
"""


@pytest.fixture(scope="module")
def nginx_binary() -> str:
    found = find("nginx")
    if found is None:
        pytest.skip("nginx is not installed: python -m tests.system_packages installs it")
    return found


@pytest.fixture(scope="module")
def proxy(
    nginx_binary: str, running_stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxy]:
    prefix = tmp_path_factory.mktemp("nginx")
    cert, key = self_signed(prefix)
    (prefix / "acme").mkdir()
    s = running_stack.settings
    http, https, s3 = free_port(), free_port(), free_port()
    gateway = deploy.gateway_timeouts(load_stack())
    values = {
        "DOMAIN": "localhost", "S3_DOMAIN": "s3.localhost",
        "HTTP_PORT": str(http), "HTTPS_PORT": str(https), "S3_HTTPS_PORT": str(s3),
        "UI_UPSTREAM": f"{s.host}:{s.ui_port}", "S3_UPSTREAM": f"{s.host}:{s.s3_port}",
        "GATEWAY_UPSTREAM": f"{s.host}:{s.gateway_port}",
        "TLS_CERT": str(cert), "TLS_KEY": str(key), "ACME_ROOT": str(prefix / "acme"),
        "DEPLOYER_ALLOW": "127.0.0.1", "GATEWAY_READ_TIMEOUT": deploy.go_duration(gateway.write_s),
        "S3_MAX_BODY": "2g",
    }
    site = prefix / "medialens.conf"
    site.write_text(deploy.render(TEMPLATE.read_text(), values))
    conf = prefix / "nginx.conf"
    conf.write_text(wrapper(prefix, site))
    command = [nginx_binary, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf)]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0 and "test is successful" in checked.stderr, checked.stderr
    process = subprocess.Popen([*command, "-g", "daemon off;"], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while port_free(https) and time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else "nginx exited"
        time.sleep(0.05)
    yield Proxy(f"https://127.0.0.1:{https}", f"https://127.0.0.1:{s3}", f"http://127.0.0.1:{http}", cert,
                prefix / "access.log")
    process.send_signal(signal.SIGQUIT)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def client(proxy: Proxy) -> httpx.Client:
    return httpx.Client(base_url=proxy.https, verify=str(proxy.cert), timeout=30)


def test_the_web_app_answers_over_https_with_security_headers(client: httpx.Client) -> None:
    reply = client.get("/healthz")
    assert reply.status_code == 200 and reply.text == "OK"
    assert reply.headers["Strict-Transport-Security"].startswith("max-age=")
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["X-Frame-Options"] == "DENY"
    policy = reply.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert reply.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "nginx/" not in reply.headers.get("Server", "")


def test_metrics_stay_private(client: httpx.Client, running_stack: Stack, api_key: str) -> None:
    s = running_stack.settings
    operator = {"Authorization": f"Bearer {api_key}"}
    # The app serves its metrics to an operator alone (ui/metrics.py), on loopback too.
    assert httpx.get(s.url(s.ui_port) + "/metrics", headers=operator).status_code == 200
    assert httpx.get(s.url(s.ui_port) + "/metrics").status_code != 200
    # Through nginx, to nobody.
    assert client.get("/metrics", headers=operator).status_code == 404


def test_plain_http_redirects_to_https_but_serves_the_acme_challenge(proxy: Proxy) -> None:
    reply = httpx.get(proxy.http + "/uploads", headers={"Host": "localhost"})
    assert reply.status_code == 301 and reply.headers["Location"] == "https://localhost/uploads"
    assert httpx.get(proxy.http + "/.well-known/acme-challenge/none").status_code == 404


def test_the_api_needs_its_key_and_works_through_nginx(client: httpx.Client, api_key: str) -> None:
    assert client.post("/api/v1/uploads", json={"filename": "a.jpg"}).status_code == 401
    reply = client.post("/api/v1/uploads", json={"filename": "a.jpg", "size": 10},
                        headers={"Authorization": f"Bearer {api_key}"})
    assert reply.status_code == 201 and reply.json()["method"] == "POST"


def test_a_large_body_to_the_app_is_refused(client: httpx.Client) -> None:
    assert client.post("/api/v1/uploads", content=b"x" * (11 * 1024 * 1024)).status_code == 413


def test_the_gateway_is_reachable_for_deployers_only_with_its_auth(client: httpx.Client) -> None:
    assert client.get("/gateway/healthz").status_code == 200
    assert client.get("/gateway/system/functions").status_code == 401


def test_an_s3_upload_through_nginx_is_analysed(
    proxy: Proxy, running_stack: Stack, client: httpx.Client, api_key: str
) -> None:
    settings = running_stack.store().settings
    s3 = boto3.client(
        "s3", endpoint_url=proxy.s3, aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key, region_name=settings.region, verify=str(proxy.cert),
        config=Config(s3={"addressing_style": "path"}),
    )
    key = f"nginx/{uuid.uuid4().hex}.jpg"
    s3.put_object(Bucket=settings.uploads_bucket, Key=key, Body=jpeg(), ContentType="image/jpeg")
    api = httpx.Client(base_url=proxy.https + "/api/v1", verify=str(proxy.cert),
                       headers={"Authorization": f"Bearer {api_key}"})
    found = wait_for_upload(api, key)
    assert found["state"] == "done", found
    assert f"PUT /{settings.uploads_bucket}/{key}" in proxy.access_log.read_text(), "it bypassed nginx"
    assert found["media_type"] == "image"


def test_a_large_upload_streams_through_the_s3_route(proxy: Proxy, running_stack: Stack) -> None:
    settings = running_stack.store().settings
    s3 = boto3.client(
        "s3", endpoint_url=proxy.s3, aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key, region_name=settings.region, verify=str(proxy.cert),
    )
    body = os.urandom(24 * 1024 * 1024)
    key = f"nginx-large/{uuid.uuid4().hex}"
    s3.put_object(Bucket=settings.artefacts_bucket, Key=key, Body=body)
    got = s3.get_object(Bucket=settings.artefacts_bucket, Key=key)["Body"].read()
    assert got == body
    s3.delete_object(Bucket=settings.artefacts_bucket, Key=key)
