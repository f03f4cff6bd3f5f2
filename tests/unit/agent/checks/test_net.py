"""TCP and UDP checks against real listeners on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket

import pytest

from proconsul.agent.checks import CheckDefinition, make_runner

from .conftest import SERVER_NAME, free_port


async def probe(rec, ca_file=None, **fields):
    fields.setdefault("Interval", "10s")
    runner = make_runner(CheckDefinition(CheckID="net", **fields), rec,
                         enable_script_checks=False, ca_file=ca_file)
    await runner.probe()
    await runner.stop()
    return rec.last


@pytest.fixture
async def tcp_server(cert):
    accepted: list[str] = []

    async def handle(reader, writer):
        accepted.append("conn")
        writer.close()

    plain = await asyncio.start_server(handle, "127.0.0.1", 0)
    tls = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=cert.server_context())
    addresses = {"plain": f"127.0.0.1:{plain.sockets[0].getsockname()[1]}",
                 "tls": f"127.0.0.1:{tls.sockets[0].getsockname()[1]}",
                 "accepted": accepted}
    yield addresses
    for server in (plain, tls):
        server.close()
        await server.wait_closed()


async def test_tcp_connect_passing(rec, tcp_server):
    address = tcp_server["plain"]
    assert await probe(rec, TCP=address) == ("passing", f"TCP connect {address}: Success")
    assert tcp_server["accepted"] == ["conn"]


async def test_tcp_refused_is_critical(rec):
    address = f"127.0.0.1:{free_port(socket.SOCK_STREAM)}"
    assert await probe(rec, TCP=address) == (
        "critical", f"dial tcp {address}: connect: connection refused")


async def test_tcp_bad_address_is_critical(rec):
    status, output = await probe(rec, TCP="127.0.0.1")
    assert status == "critical"
    assert "missing port in address" in output


async def test_tcp_tls(rec, tcp_server, cert):
    address = tcp_server["tls"]
    status, output = await probe(rec, TCP=address, TCPUseTLS=True)
    assert status == "critical"
    assert "certificate verify failed" in output
    assert await probe(rec, TCP=address, TCPUseTLS=True, TLSSkipVerify=True) == (
        "passing", f"TCP+TLS connect {address}: Success")
    assert await probe(rec, TCP=address, TCPUseTLS=True, TLSServerName=SERVER_NAME,
                       ca_file=cert.cert_file) == (
        "passing", f"TCP+TLS connect {address}: Success")
    # Plain TCP to the TLS port still connects: TCPUseTLS decides the handshake.
    assert (await probe(rec, TCP=address))[0] == "passing"
    # A TLS handshake against a plain listener fails.
    assert (await probe(rec, TCP=tcp_server["plain"], TCPUseTLS=True,
                        TLSSkipVerify=True))[0] == "critical"


async def test_tcp_thresholds_across_probes(rec, tcp_server):
    address = tcp_server["plain"]
    runner = make_runner(CheckDefinition(CheckID="t", TCP=address, Interval="10s",
                                         FailuresBeforeCritical=2), rec,
                         enable_script_checks=False)
    await runner.probe()
    runner.address = f"127.0.0.1:{free_port(socket.SOCK_STREAM)}"  # the service goes away
    await runner.probe()
    assert [status for status, _ in rec.all] == ["passing"]  # 1 failure of 2: held back
    await runner.probe()
    assert [status for status, _ in rec.all] == ["passing", "critical"]
    await runner.stop()


class _UDPServer(asyncio.DatagramProtocol):
    def __init__(self, reply: bool) -> None:
        self.reply = reply
        self.received: asyncio.Queue[bytes] = asyncio.Queue()

    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.received.put_nowait(data)
        if self.reply:
            self.transport.sendto(data or b"pong", addr)


@pytest.fixture
async def udp_servers():
    loop = asyncio.get_running_loop()
    made = {}
    for name, reply in (("echo", True), ("silent", False)):
        transport, protocol = await loop.create_datagram_endpoint(
            lambda reply=reply: _UDPServer(reply), local_addr=("127.0.0.1", 0))
        made[name] = (f"127.0.0.1:{transport.get_extra_info('sockname')[1]}", protocol)
    yield made
    for _, protocol in made.values():
        protocol.transport.close()


async def test_udp_reply_is_passing(rec, udp_servers):
    address, server = udp_servers["echo"]
    assert await probe(rec, UDP=address) == ("passing", f"UDP connect {address}: Success")
    assert await asyncio.wait_for(server.received.get(), 5) == b""  # Consul sends an empty datagram


async def test_udp_custom_payload(rec, udp_servers):
    address, server = udp_servers["echo"]
    runner = make_runner(CheckDefinition(CheckID="u", UDP=address, Interval="10s"), rec,
                         enable_script_checks=False, udp_payload=b"ping")
    await runner.probe()
    assert await asyncio.wait_for(server.received.get(), 5) == b"ping"
    assert rec.last[0] == "passing"


async def test_udp_silence_until_timeout_is_passing(rec, udp_servers):
    address, server = udp_servers["silent"]
    assert await probe(rec, UDP=address, Timeout="200ms") == (
        "passing", f"UDP connect {address}: Success")
    assert server.received.qsize() == 1


async def test_udp_icmp_unreachable_is_critical(rec):
    address = f"127.0.0.1:{free_port(socket.SOCK_DGRAM)}"
    status, output = await probe(rec, UDP=address, Timeout="5s")
    assert status == "critical"
    assert output.startswith("read udp 127.0.0.1:")
    assert output.endswith(f"->{address}: read: connection refused")
