"""H2PING checks against an h2 server on asyncio (TLS with ALPN h2, and cleartext)."""

from __future__ import annotations

import asyncio
import socket

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import pytest

from proconsul.agent.checks import CheckDefinition, make_runner

from .conftest import SERVER_NAME, free_port


class H2Server:
    """A minimal HTTP/2 server: h2 answers PINGs with an ACK by itself."""

    def __init__(self, *, answer_pings: bool = True) -> None:
        self.answer_pings = answer_pings
        self.pings: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        try:
            while data := await reader.read(65536):
                for event in conn.receive_data(data):
                    if isinstance(event, h2.events.PingReceived):
                        self.pings.append(event.ping_data)
                outgoing = conn.data_to_send()
                if not self.answer_pings:
                    continue
                writer.write(outgoing)
                await writer.drain()
        except (ConnectionError, h2.exceptions.ProtocolError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def h2_servers(cert):
    servers = {}
    started = []
    for name, use_tls, answer in (("plain", False, True), ("tls", True, True),
                                  ("mute", False, False)):
        handler = H2Server(answer_pings=answer)
        server = await asyncio.start_server(
            handler.handle, "127.0.0.1", 0,
            ssl=cert.server_context(alpn=["h2"]) if use_tls else None)
        started.append(server)
        servers[name] = (f"127.0.0.1:{server.sockets[0].getsockname()[1]}", handler)
    yield servers
    for server in started:
        server.close()


async def probe(rec, ca_file=None, **fields):
    runner = make_runner(CheckDefinition(CheckID="h2", Interval="10s", **fields), rec,
                         enable_script_checks=False, ca_file=ca_file)
    await runner.probe()
    await runner.stop()
    return rec.last


async def test_cleartext_ping_is_passing(rec, h2_servers):
    address, handler = h2_servers["plain"]
    assert await probe(rec, H2PING=address, H2PingUseTLS=False) == (
        "passing", "HTTP2 ping was successful")
    assert len(handler.pings) == 1 and len(handler.pings[0]) == 8


async def test_tls_ping(rec, h2_servers, cert):
    address, handler = h2_servers["tls"]
    # H2PingUseTLS defaults to true; the self-signed certificate is not trusted.
    status, output = await probe(rec, H2PING=address)
    assert status == "critical"
    assert output.startswith(f"Failed to dial to {address}: ")
    assert "certificate verify failed" in output
    assert await probe(rec, H2PING=address, TLSSkipVerify=True) == (
        "passing", "HTTP2 ping was successful")
    assert await probe(rec, H2PING=address, TLSServerName=SERVER_NAME,
                       ca_file=cert.cert_file) == ("passing", "HTTP2 ping was successful")
    assert len(handler.pings) == 2


async def test_cleartext_against_tls_port_is_critical(rec, h2_servers):
    address, _ = h2_servers["tls"]
    status, output = await probe(rec, H2PING=address, H2PingUseTLS=False, Timeout="2s")
    assert status == "critical"
    assert output.startswith("HTTP2 ping failed: ")


async def test_unanswered_ping_times_out(rec, h2_servers):
    address, handler = h2_servers["mute"]
    assert await probe(rec, H2PING=address, H2PingUseTLS=False, Timeout="200ms") == (
        "critical", "HTTP2 ping failed: context deadline exceeded")
    assert len(handler.pings) == 1


async def test_refused_is_critical(rec):
    address = f"127.0.0.1:{free_port(socket.SOCK_STREAM)}"
    assert await probe(rec, H2PING=address, H2PingUseTLS=False) == (
        "critical", f"Failed to dial to {address}: connection refused")
