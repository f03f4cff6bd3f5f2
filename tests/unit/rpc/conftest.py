"""Fixtures for RPC tests: a throwaway CA with server and client certificates,
and connected stream pairs."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from proconsul.rpc.conn import StreamConn

SERVER_NAME = "server.dc1.consul"


def _cert(
    subject: str, key, issuer: x509.Name | None, issuer_key, *, ca: bool, sans=()
) -> x509.Certificate:
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
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@pytest.fixture(scope="session")
def tls_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tls")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Proconsul Test CA", ca_key, None, ca_key, ca=True)
    (out / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    sans = [x509.DNSName(SERVER_NAME), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    for name, extra in (("server", sans), ("client", [x509.DNSName("client.dc1.consul")])):
        key = ec.generate_private_key(ec.SECP256R1())
        _write(out / f"{name}.pem", _cert(name, key, ca.subject, ca_key, ca=False, sans=extra), key)
    return out


@pytest.fixture
def server_tls(tls_dir) -> ssl.SSLContext:
    """Incoming RPC context: verifies client certificates."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls_dir / "server.pem")
    ctx.load_verify_locations(tls_dir / "ca.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


@pytest.fixture
def server_tls_insecure(tls_dir) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls_dir / "server.pem")
    return ctx


@pytest.fixture
def client_tls(tls_dir) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(tls_dir / "ca.pem")
    ctx.load_cert_chain(tls_dir / "client.pem")
    return ctx


@pytest.fixture
def client_tls_no_cert(tls_dir) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(tls_dir / "ca.pem")
    return ctx


@pytest.fixture
async def conn_pair():
    """Two StreamConns joined by a real socket pair."""
    a, b = socket.socketpair()
    left = StreamConn(*await asyncio.open_connection(sock=a))
    right = StreamConn(*await asyncio.open_connection(sock=b))
    yield left, right
    await left.close()
    await right.close()
