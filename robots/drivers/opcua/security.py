"""OPC UA security for both ends: Basic256Sha256 with SignAndEncrypt, or None by name only.

A PKI folder holds one application's identity and whom it trusts:

    <pki>/own/cert.der, <pki>/own/key.pem   made on first use (self-signed, one year)
    <pki>/trusted/*.der                     peers trusted explicitly (copy their cert.der here,
                                            or `cellwright virtual-controller --trust FILE`)
    <pki>/rejected/*.der                    peers refused, kept so an operator can trust them

The server accepts only clients whose certificate is byte for byte one in its `trusted/`
(read at every new session, so trusting needs no restart); the client encrypts to the one
server certificate it was given, so a server without that key cannot talk to it.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from asyncua import ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from cellwright.robots.models.opcua import POLICIES

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Identity:
    """An application's certificate (DER) and private key (PEM), and its trust folder."""

    cert: Path
    key: Path
    trusted: Path


async def identity(pki: Path, application_uri: str, *, server: bool) -> Identity:
    """The identity in `pki`, made there on first use (a server's certificate also names this
    host, so clients can check it)."""
    own, trusted = pki / "own", pki / "trusted"
    own.mkdir(parents=True, exist_ok=True)
    trusted.mkdir(parents=True, exist_ok=True)
    use = [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
    cert, key = own / "cert.der", own / "key.pem"
    await setup_self_signed_certificate(key, cert, application_uri, socket.gethostname(), use,
                                        {"commonName": application_uri})
    return Identity(cert, key, trusted)


def trust(pki: Path, certificate: Path) -> Path:
    """Copy a peer's DER certificate into `pki/trusted/` and return where it went."""
    if not certificate.is_file():
        raise FileNotFoundError(f"no certificate file {certificate}; give the peer's own/cert.der")
    target = pki / "trusted" / f"{certificate.parent.parent.name or 'peer'}-{certificate.name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(certificate, target)
    return target


def check_policy(policy: str) -> str:
    """`policy` if it is one we speak, else ValueError naming the choices."""
    if policy not in POLICIES:
        raise ValueError(f"OPC UA security policy {policy!r} is not supported; use one of {POLICIES}")
    return policy


def trusted_only(pki: Path) -> Callable[[x509.Certificate, ua.ApplicationDescription], Awaitable[None]]:
    """A server's certificate check: a client whose certificate is not in `pki/trusted/` is
    refused (BadCertificateUntrusted) and its certificate kept in `pki/rejected/`."""

    async def validate(certificate: x509.Certificate, application: ua.ApplicationDescription) -> None:
        der = certificate.public_bytes(Encoding.DER)
        if any(path.read_bytes() == der for path in (pki / "trusted").glob("*.der")):
            return
        rejected = pki / "rejected" / f"{hashlib.sha1(der).hexdigest()[:16]}.der"
        rejected.parent.mkdir(parents=True, exist_ok=True)
        rejected.write_bytes(der)
        log.warning("refused OPC UA client %s: its certificate is not trusted; to trust it, copy %s "
                    "into %s", application.ApplicationUri, rejected, pki / "trusted")
        raise ua.uaerrors.BadCertificateUntrusted

    return validate
