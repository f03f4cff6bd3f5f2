"""Fixtures for the check runner tests: a status recorder, a self-signed cert, sleep fakes."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SERVER_NAME = "check.example"


class Recorder:
    """The ``update`` callback: remembers every (status, output), and queues it for awaiting."""

    def __init__(self) -> None:
        self.all: list[tuple[str, str]] = []
        self.queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    def __call__(self, status: str, output: str) -> None:
        self.all.append((status, output))
        self.queue.put_nowait((status, output))

    async def next(self, timeout: float = 10.0) -> tuple[str, str]:
        # The timeout is a safety net against a hung test, not a timing assertion.
        return await asyncio.wait_for(self.queue.get(), timeout)

    @property
    def last(self) -> tuple[str, str]:
        assert self.all, "no update was reported"
        return self.all[-1]


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@dataclass
class Cert:
    cert_file: str
    key_file: str

    def server_context(self, alpn: list[str] | None = None) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        if alpn:
            context.set_alpn_protocols(alpn)
        return context

    def pem(self) -> tuple[bytes, bytes]:
        return Path(self.cert_file).read_bytes(), Path(self.key_file).read_bytes()


@pytest.fixture(scope="session")
def cert(tmp_path_factory: pytest.TempPathFactory) -> Cert:
    """A self-signed certificate valid only for DNS name ``check.example``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(SERVER_NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory = tmp_path_factory.mktemp("tls")
    cert_file = directory / "cert.pem"
    key_file = directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return Cert(str(cert_file), str(key_file))


class InstantSleep:
    """A ``sleep`` that records the requested durations and only yields to the loop."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.calls.append(delay)
        await asyncio.sleep(0)


class ManualSleep:
    """A ``sleep`` that blocks until the test releases it; requests arrive on a queue."""

    def __init__(self) -> None:
        self.requests: asyncio.Queue[tuple[float, asyncio.Future[None]]] = asyncio.Queue()

    async def __call__(self, delay: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.requests.put_nowait((delay, future))
        await future

    async def next(self) -> tuple[float, asyncio.Future[None]]:
        return await asyncio.wait_for(self.requests.get(), 10.0)


def free_port(kind: int) -> int:
    """A port on 127.0.0.1 that was just free (bound and released)."""
    import socket

    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
