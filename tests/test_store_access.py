"""The stack's internal stores answer only callers that hold its credentials (issue 14, findings 2 and 3):
Redis its password, SeaweedFS's internals (HTTP and gRPC) its JWTs and a certificate of its own CA."""

from __future__ import annotations

import ssl
import subprocess
import uuid
from pathlib import Path
from typing import Any

import botocore.exceptions
import grpc
import httpx
import pytest
import redis
from cryptography.x509.oid import ExtendedKeyUsageOID
from redis import Redis

from embedded.seaweedfs import TLS_DIR, weed_binary
from embedded.stack import Stack
from gpu.tls import certificate
from storage.client import Store
from tests.conftest import TEST_INPUTS


def test_redis_refuses_a_client_without_the_password(redis_server: Stack) -> None:
    s = redis_server.settings
    with pytest.raises(redis.AuthenticationError):
        Redis(host=s.host, port=s.redis_port, socket_timeout=5).hset("ml:apikeys", "forged", "{}")
    assert redis_server.redis().ping(), "the stack's own clients get the password from the URL"


def test_redis_keeps_protected_mode_on(redis_server: Stack) -> None:
    assert redis_server.redis().config_get("protected-mode") == {"protected-mode": "yes"}


def refused(method: str, url: str) -> bool:
    """True when the server turns the request away: an HTTP status that says so, a TLS handshake that
    fails for want of a client certificate, or nothing listening there."""
    try:
        with httpx.Client(verify=False, timeout=5) as client:
            reply = client.request(method, url, content=b"forged" if method in ("PUT", "POST") else None)
    except (httpx.ConnectError, httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError) as exc:
        if url.startswith("https://") and isinstance(exc, httpx.ReadError):
            return "CERTIFICATE_REQUIRED" in str(exc)
        # A TLS server drops a plain request (with a body, it may reset before it is all read).
        return True
    # Go's TLS server answers a plain request 400, with its reason, or, racing a body, with nothing.
    plain_to_tls = reply.status_code == 400 and (
        "HTTP request to an HTTPS server" in reply.text or not reply.text.strip())
    return reply.status_code in (401, 403) or plain_to_tls


def test_seaweedfs_filer_and_volume_refuse_unsigned_requests(stack: Stack, store: Store, s3_client: Any) -> None:
    s = store.settings
    key = f"{TEST_INPUTS}/{uuid.uuid4().hex}.txt"
    s3_client.put_object(Bucket=s.uploads_bucket, Key=key, Body=b"private words")
    assert s3_client.get_object(Bucket=s.uploads_bucket, Key=key)["Body"].read() == b"private words"
    filer = stack.settings.url(stack.settings.filer_port)
    volume = stack.settings.url(stack.settings.seaweed_port_base + 6)
    master = stack.settings.url(stack.settings.master_port)
    attempts = [
        ("GET", f"{filer}/buckets/{s.uploads_bucket}/{key}"),
        ("GET", f"{filer}/buckets/{s.uploads_bucket}/"),
        ("PUT", f"{filer}/buckets/{s.uploads_bucket}/{TEST_INPUTS}/forged.jpg"),
        ("POST", f"{filer}/buckets/{s.uploads_bucket}/{TEST_INPUTS}/"),
        ("GET", f"{volume}/1,01"),
        ("PUT", f"{volume}/1,0123456789"),
        ("GET", f"{volume}/ui/index.html"),
        # The master hands a volume write token to whoever asks /dir/assign, and drops a bucket's data on
        # /col/delete: it takes only SeaweedFS's own components.
        ("GET", f"{master}/dir/assign"),
        ("GET", f"{master}/dir/lookup?volumeId=1"),
        ("GET", f"{master}/col/delete?collection={s.uploads_bucket}"),
        ("GET", f"{master}/vol/grow?count=1"),
        ("GET", f"{master}/"),
    ]
    for method, url in attempts:
        assert refused(method, url), f"{method} {url} answered without credentials"
        https = url.replace("http://", "https://")
        assert refused(method, https), f"{method} {https} answered without a client certificate"
    with pytest.raises(botocore.exceptions.ClientError):
        s3_client.head_object(Bucket=s.uploads_bucket, Key=f"{TEST_INPUTS}/forged.jpg")
    assert s3_client.get_object(Bucket=s.uploads_bucket, Key=key)["Body"].read() == b"private words", \
        "the bucket's data is still there"
    # What the refusals rest on: SeaweedFS's own client certificate opens the master.
    tls = stack.seaweed_dir / TLS_DIR
    own = ssl.create_default_context(cafile=tls / "ca.pem")
    own.load_cert_chain(tls / "client.pem", tls / "client.key")
    status = httpx.get(master.replace("http://", "https://") + "/dir/status", verify=own, timeout=5)
    assert status.status_code == 200 and "Topology" in status.text


def grpc_ready(address: str, credentials: grpc.ChannelCredentials | None) -> bool:
    channel = grpc.secure_channel(address, credentials) if credentials else grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=3)
        return True
    except grpc.FutureTimeoutError:
        return False
    finally:
        channel.close()


def test_seaweedfs_grpc_takes_only_clients_with_its_certificate(stack: Stack, store: Store) -> None:
    s = stack.settings
    tls = stack.seaweed_dir / TLS_DIR
    ca = (tls / "ca.pem").read_bytes()
    own = grpc.ssl_channel_credentials(ca, (tls / "client.key").read_bytes(), (tls / "client.pem").read_bytes())
    # A certificate of a CA of one's own: the store trusts its own CA alone.
    stranger = certificate("seaweedfs-client", 1, issuer=certificate("stranger", 1, authority=True),
                           usages=[ExtendedKeyUsageOID.CLIENT_AUTH], addresses=[s.host])
    forged = grpc.ssl_channel_credentials(ca, stranger.key_pem.encode(), stranger.cert_pem.encode())
    # weed serves gRPC on its HTTP port + 10000: master, volume, filer, the S3 gateway, admin (UI off).
    for name, port in [("master", s.master_port), ("volume", s.seaweed_port_base + 6), ("filer", s.filer_port),
                       ("s3", s.s3_port), ("admin", s.seaweed_port_base + 7)]:
        address = f"{s.host}:{port + 10000}"
        assert grpc_ready(address, own), f"{name} gRPC does not answer SeaweedFS's own client"
        assert not grpc_ready(address, None), f"{name} gRPC answers a plain client"
        assert not grpc_ready(address, grpc.ssl_channel_credentials(ca)), f"{name} gRPC answers without a certificate"
        assert not grpc_ready(address, forged), f"{name} gRPC answers a certificate of another CA"


def test_weed_shell_needs_the_store_security_file(stack: Stack, store: Store, tmp_path: Path) -> None:
    master = f"-master={stack.settings.host}:{stack.settings.master_port}"
    own = subprocess.run([weed_binary(), "shell", master], input="collection.list\n", capture_output=True,
                         text=True, cwd=stack.seaweed_dir, timeout=60)
    assert f'collection:"{store.settings.uploads_bucket}"' in own.stdout
    # From anywhere else weed finds no security.toml, dials without a certificate, and never gets in.
    with pytest.raises(subprocess.TimeoutExpired) as waited:
        subprocess.run([weed_binary(), "shell", master], input="collection.list\n", capture_output=True,
                       text=True, cwd=tmp_path, timeout=8)
    assert "collection:" not in str(waited.value.stdout or b"")


def test_the_store_certificates_are_private_and_made_once(stack: Stack, store: Store) -> None:
    tls = stack.seaweed_dir / TLS_DIR
    assert not (tls / "ca.key").exists(), "the CA's key is dropped once the certificates are issued"
    assert tls.stat().st_mode & 0o777 == 0o700
    for path in tls.iterdir():
        assert path.stat().st_mode & 0o777 == 0o600, path
    before = (tls / "client.pem").read_bytes()
    stack.services()  # what every `make up` runs first
    assert (tls / "client.pem").read_bytes() == before
