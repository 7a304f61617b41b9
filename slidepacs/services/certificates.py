"""A small lab PKI for TLS listeners: a CA, a server certificate and a client certificate.

``slidepacs tls init`` writes them; scanners and peers are given ``ca.pem`` (to trust the
server) and, when client certificates are required, ``client.pem`` + ``client.key``.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from slidepacs.errors import Conflict, StorageFailure

CA_DAYS = 3650
LEAF_DAYS = 825


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Where a TLS listener's files are."""

    folder: Path

    @property
    def ca(self) -> Path:
        """The lab CA certificate (give it to peers)."""
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        """The lab CA private key (keep it offline)."""
        return self.folder / "ca.key"

    @property
    def server_certificate(self) -> Path:
        """The server certificate, signed by the CA."""
        return self.folder / "server.pem"

    @property
    def server_key(self) -> Path:
        """The server private key."""
        return self.folder / "server.key"

    @property
    def client_certificate(self) -> Path:
        """A client certificate for scanners and peers, signed by the CA."""
        return self.folder / "client.pem"

    @property
    def client_key(self) -> Path:
        """The client private key."""
        return self.folder / "client.key"

    def complete(self) -> bool:
        """True when the server can start TLS from these files."""
        return all(p.is_file() for p in (self.ca, self.server_certificate, self.server_key))


def create_lab_pki(files: TlsFiles, hosts: list[str], overwrite: bool = False) -> None:
    """Create a CA and server/client certificates for ``hosts`` (names or IPs)."""
    if files.ca.exists() and not overwrite:
        raise Conflict(f"{files.ca} already exists (use --force to replace the lab CA)")
    try:
        files.folder.mkdir(parents=True, exist_ok=True)
        os.chmod(files.folder, 0o700)
    except OSError as exc:
        raise StorageFailure(f"cannot create {files.folder} ({exc.strerror})") from None
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "slidepacs lab CA")])
    ca_cert = _certificate(ca_name, ca_name, ca_key.public_key(), ca_key, CA_DAYS, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _certificate(_subject(hosts[0]), ca_name, server_key.public_key(), ca_key,
                               LEAF_DAYS, hosts=hosts, usage=ExtendedKeyUsageOID.SERVER_AUTH)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client_cert = _certificate(_subject("slidepacs client"), ca_name, client_key.public_key(),
                               ca_key, LEAF_DAYS, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    _write_key(files.ca_key, ca_key)
    _write_certificate(files.ca, ca_cert)
    _write_key(files.server_key, server_key)
    _write_certificate(files.server_certificate, server_cert)
    _write_key(files.client_key, client_key)
    _write_certificate(files.client_certificate, client_cert)


def default_hosts() -> list[str]:
    """This machine's names plus loopback, for the server certificate."""
    names = ["localhost", "127.0.0.1", socket.gethostname()]
    return list(dict.fromkeys(names))


def _subject(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "slidepacs"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])


def _certificate(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    signing_key: ec.EllipticCurvePrivateKey,
    days: int,
    ca: bool = False,
    hosts: list[str] | None = None,
    usage: x509.ObjectIdentifier | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
        .public_key(public_key).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
    )
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
    if hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(h) for h in hosts]), critical=False)
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _write_certificate(path: Path, certificate: x509.Certificate) -> None:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
