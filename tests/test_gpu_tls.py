"""GPU nodes over TLS: the host serves HTTPS with its own pair, clients trust exactly that certificate,
and the manager starts no node while the store's public endpoint would not verify on the node."""

from __future__ import annotations

import datetime
import ipaddress
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gpu.manager import Manager
from gpu.status import status
from gpu.tls import NodeCertificate, node_certificate, pinned_context, store_problem
from scheduler.gateway import Gateway
from scheduler.routing import route
from scheduler.transport import Unreachable
from tests.gpu_support import (  # noqa: F401
    Burst,
    Host,
    burst,
    cpu_host,
    gpu_cert,
    gpu_host,
    gpu_token,
    start_host,
)


def test_a_host_with_a_certificate_answers_over_tls_to_a_client_pinned_to_it(
    gpu_host: Host, gpu_token: str  # noqa: F811
) -> None:
    assert gpu_host.url.startswith("https://") and gpu_host.cert is not None
    # The client the scheduler and the GPU manager call a node with.
    gateway = Gateway("gpu", gpu_host.url, auth=("admin", gpu_token), verify=pinned_context(gpu_host.cert.cert_pem))
    assert gateway.healthy()
    assert {f["name"] for f in gateway.functions()} == {"probe", "thumbnail"}
    # The token still guards the functions: TLS adds privacy, not a way around it.
    assert gateway.invoke("probe", {}, 5).status == 401


def test_a_client_pinned_to_another_certificate_or_the_system_cas_is_refused(gpu_host: Host) -> None:  # noqa: F811
    other = node_certificate()
    assert gpu_host.cert is not None and other.cert_pem != gpu_host.cert.cert_pem, "a fresh pair each"
    for verify in (pinned_context(other.cert_pem), None):
        gateway = Gateway("gpu", gpu_host.url, verify=verify)
        # Refused as a gateway that cannot be reached is: the step waits for another, it fails no upload.
        with pytest.raises(Unreachable, match="CERTIFICATE_VERIFY_FAILED"):
            gateway.invoke("probe", {}, 5)
        assert not gateway.healthy()
    plain = gpu_host.url.replace("https://", "http://")
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{plain}/healthz", timeout=5)


def test_a_host_given_half_a_pair_refuses_to_start() -> None:
    with pytest.raises(RuntimeError, match="did not start"):
        start_host("gpu", token="t", cert=NodeCertificate(node_certificate().cert_pem, ""))


def loopback_certificate() -> NodeCertificate:
    """A certificate for 127.0.0.1, as a real S3 name's certificate is for that name."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return NodeCertificate(cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode())


@pytest.fixture(scope="module")
def https_server() -> Iterator[Host]:
    """An HTTPS server with a certificate for its address: the stand-in for s3.<domain>."""
    host = start_host("s3", token="t", cert=loopback_certificate())
    yield host
    host.kill()


def test_the_store_check_refuses_plain_http_and_an_unverified_certificate(
    https_server: Host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    problem = store_problem("http://127.0.0.1:8333")
    assert problem is not None and "is not https" in problem
    problem = store_problem(https_server.url)
    assert problem is not None and "does not answer with a certificate that verifies" in problem
    # Once the certificate is one the node's system trusts (certbot's, in production), nodes may start.
    assert https_server.cert is not None
    trusted = tmp_path / "ca.pem"
    trusted.write_text(https_server.cert.cert_pem)
    monkeypatch.setenv("SSL_CERT_FILE", str(trusted))
    assert store_problem(https_server.url) is None


@pytest.mark.parametrize("public", ["plain-http", "self-signed"])
def test_the_manager_starts_no_node_while_nodes_could_not_verify_the_store(
    burst: Burst, https_server: Host, public: str, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint = burst.store.settings.endpoint if public == "plain-http" else https_server.url
    monkeypatch.setenv("MEDIALENS_S3_PUBLIC_ENDPOINT", endpoint)
    burst.manager = Manager(burst.redis, burst.settings, queue=burst.queue)  # the real store check
    [burst.upload() for _ in range(3)]  # a backlog that would start a node
    with caplog.at_level(logging.WARNING, logger="gpu.manager"):
        burst.tick()
    assert burst.vast.created == [] and route("thumbnail").name == "cpu"
    shown = status(burst.redis, burst.settings, burst.clock())
    assert shown["problem"] and "cannot start a node" in shown["message"] and endpoint in shown["message"]
    assert any("cannot start a node" in record.getMessage() for record in caplog.records), "logged, once"
