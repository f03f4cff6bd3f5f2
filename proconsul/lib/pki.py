"""A private CA and the leaf certificates it signs, for agent TLS (what
``proconsul tls ca create`` and ``tls cert create`` write). ECDSA P-256 keys,
SHA-256 signatures, PEM out."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["SERVER_AUTH", "CLIENT_AUTH", "KeyPair", "ca_files", "new_ca", "new_leaf"]

SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
BACKDATE = datetime.timedelta(minutes=1)  # tolerate a little clock skew between hosts


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes


def new_ca(common_name: str, days: int, permitted_dns: list[str] | None = None,
           uri: str = "") -> KeyPair:
    """A self-signed CA; with ``permitted_dns`` it may only sign names under those."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    builder = (_builder(name, name, key.public_key(), days)
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(
                   digital_signature=True, content_commitment=False, key_encipherment=False,
                   data_encipherment=False, key_agreement=False, key_cert_sign=True,
                   crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False))
    if permitted_dns:
        builder = builder.add_extension(x509.NameConstraints(
            permitted_subtrees=[x509.DNSName(d) for d in permitted_dns], excluded_subtrees=None),
            critical=True)
    if uri:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=False)
    return KeyPair(_pem(builder.sign(key, hashes.SHA256())), _key_pem(key))


def new_leaf(ca: KeyPair, common_name: str, days: int, dns_names: list[str],
             ip_addresses: list[str], usages: list[x509.ObjectIdentifier]) -> KeyPair:
    """A certificate for ``dns_names`` and ``ip_addresses`` signed by ``ca``.

    ValueError if the CA's PEMs cannot be read or an IP address is not one."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem)
    ca_key = serialization.load_pem_private_key(ca.key_pem, password=None)
    ips = [ipaddress.ip_address(ip) for ip in ip_addresses]
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    sans = [*(x509.DNSName(d) for d in dns_names), *(x509.IPAddress(ip) for ip in ips)]
    builder = (_builder(name, ca_cert.subject, key.public_key(), days)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(
                   digital_signature=True, content_commitment=False, key_encipherment=True,
                   data_encipherment=False, key_agreement=False, key_cert_sign=False,
                   crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_cert.public_key()), critical=False))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return KeyPair(_pem(builder.sign(ca_key, hashes.SHA256())), _key_pem(key))


def ca_files(ca_file: str, ca_path: str) -> list[str]:
    """The CA PEM files to trust: ``ca_file``, then every file in the ``ca_path`` directory
    (Consul reads it whole; OpenSSL's own capath would want hash-named links). OSError if
    the directory cannot be read, ValueError if it holds no files."""
    files = [ca_file] if ca_file else []
    if ca_path:
        found = sorted(str(p) for p in Path(ca_path).iterdir() if p.is_file())
        if not found:
            raise ValueError(f"the CA directory {ca_path} holds no files")
        files += found
    return files


def _builder(subject: x509.Name, issuer: x509.Name, public_key, days: int):
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + datetime.timedelta(days=days)))


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())
