"""TLS to rented nodes: a fresh self-signed certificate per node, and a client that trusts only it.

The node's address is known only after it is rented, so the certificate names no host; the client
checks no host name either. The pin is exact all the same: the node's certificate is the client's
only trust anchor, and only the holder of that node's key can present a chain ending in it.
`certificate` also issues the embedded SeaweedFS's CA and component certificates (gRPC mTLS).
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import logging
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

logger = logging.getLogger(__name__)

# Longer than any node lives: the boot timeout plus a day of work.
VALID_DAYS = 7


@dataclass(frozen=True)
class NodeCertificate:
    cert_pem: str
    key_pem: str

    def environment(self) -> dict[str, str]:
        """The node's MEDIALENS_HOST_TLS_* variables: base64, as Vast.ai's `-e K=V` flags split on spaces."""
        return {"MEDIALENS_HOST_TLS_CERT": encode(self.cert_pem), "MEDIALENS_HOST_TLS_KEY": encode(self.key_pem)}


def encode(pem: str) -> str:
    return base64.b64encode(pem.encode()).decode()


def node_certificate(name: str = "medialens-gpu-node") -> NodeCertificate:
    return certificate(name, days=VALID_DAYS, authority=True, usages=[ExtendedKeyUsageOID.SERVER_AUTH])


def certificate(
    name: str,
    days: int,
    issuer: NodeCertificate | None = None,
    authority: bool = False,
    usages: list[x509.ObjectIdentifier] | None = None,
    addresses: list[str] | None = None,
) -> NodeCertificate:
    """A P-256 key and its certificate for ``name``: signed by ``issuer`` (a certificate made here
    with ``authority=True``), or by itself when there is none. ``usages``: extended key usages;
    ``addresses``: IP addresses it is valid for, besides the DNS name ``name``."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer: ec.EllipticCurvePrivateKey = key
    issuer_name = subject
    if issuer is not None:
        loaded = serialization.load_pem_private_key(issuer.key_pem.encode(), password=None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        signer, issuer_name = loaded, x509.load_pem_x509_certificate(issuer.cert_pem.encode()).subject
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # a node's clock may run a little behind
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=authority, path_length=0 if authority else None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=authority, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, crl_sign=False, encipher_only=False,
            decipher_only=False), critical=True)
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName(name), *(x509.IPAddress(ipaddress.ip_address(address)) for address in addresses or ())
        ]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
    cert = builder.sign(signer, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return NodeCertificate(cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode())


def pinned_context(cert_pem: str) -> ssl.SSLContext:
    """A client context whose only trust anchor is `cert_pem`: any other certificate is refused."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=cert_pem)
    return context


def store_problem(public_endpoint: str) -> str | None:
    """Why a node could not fetch from the store's public endpoint with its certificate verified
    (as the node does), or None. Any HTTP answer will do: it proves the TLS handshake verified."""
    if urlsplit(public_endpoint).scheme != "https":
        return (f"the public S3 endpoint {public_endpoint or '(unset)'} is not https, and nodes fetch "
                "over the internet with certificates verified: set MEDIALENS_S3_PUBLIC_ENDPOINT to https://...")
    try:
        httpx.head(public_endpoint, timeout=10.0)
    except httpx.ConnectError as exc:
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return (f"the public S3 endpoint {public_endpoint} does not answer with a certificate that "
                    f"verifies (self-signed until certbot has run?): {exc}")
        # Some VPS networks cannot reach their own public name from inside: that says nothing of
        # what a node on the internet sees, so it does not hold burst back.
        logger.info("cannot check the certificate of %s from here: %s", public_endpoint, exc)
    except httpx.HTTPError as exc:
        logger.info("cannot check the certificate of %s from here: %s", public_endpoint, exc)
    return None
