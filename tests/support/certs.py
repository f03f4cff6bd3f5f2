"""A throwaway CA for TLS tests: ``ca.pem``, and server and client PEMs (cert + key)."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _cert(subject: str, key, issuer: x509.Name | None, issuer_key, *, ca: bool,
          sans=()) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key) -> None:
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()))


def write_test_pki(out: Path, server_name: str, server_ips: tuple[str, ...] = ("127.0.0.1",),
                   client_name: str = "client.dc1.consul") -> Path:
    """Write ``ca.pem``, ``server.pem`` (for ``server_name`` and ``server_ips``) and
    ``client.pem`` into ``out``; the leaf PEMs hold the certificate then its key."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Proconsul Test CA", ca_key, None, ca_key, ca=True)
    (out / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_sans = [x509.DNSName(server_name),
                   *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in server_ips)]
    for name, sans in (("server", server_sans), ("client", [x509.DNSName(client_name)])):
        key = ec.generate_private_key(ec.SECP256R1())
        _write(out / f"{name}.pem", _cert(name, key, ca.subject, ca_key, ca=False, sans=sans), key)
    return out
