"""Fixtures for RPC tests: a throwaway CA with server and client certificates,
and connected stream pairs."""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

import pytest

from proconsul.rpc.conn import StreamConn
from tests.support.certs import write_test_pki

SERVER_NAME = "server.dc1.consul"


@pytest.fixture(scope="session")
def tls_dir(tmp_path_factory) -> Path:
    return write_test_pki(tmp_path_factory.mktemp("tls"), SERVER_NAME)


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
