"""Native TLS + ALPN on the server port, dialled the way a server of another DC
does it through a mesh gateway (SNI, one ALPN name), over real sockets."""

from __future__ import annotations

import asyncio
import io
import logging
import ssl

import msgspec
import pytest

from proconsul.raft.messages import AppendEntries, Entry, encode_message
from proconsul.raft.tcp_transport import TcpTransport
from proconsul.rpc import snapshot_stream, wanfed
from proconsul.rpc.codec import ClientCodec, RPCServer
from proconsul.rpc.conn import Conn, StreamConn, read_exactly
from proconsul.rpc.errors import RPCConnectionError, RPCDialError
from proconsul.rpc.gateway import GatewayPool, dial_via_gateway, server_sni
from proconsul.rpc.mux import ConnType, PortMux
from proconsul.structs.snapshot import SNAPSHOT_SAVE, SnapshotRequest, SnapshotResponse

HOST = "127.0.0.1"
NAMES = frozenset({"server.dc1.consul", "s1.server.dc1.consul"})


class StubIngest:
    """A gossip consumer that records what the mux hands it."""

    def __init__(self) -> None:
        self.packets: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.streams: asyncio.Queue[bytes] = asyncio.Queue()

    def ingest_packet(self, data: bytes, peer: tuple[str, int]) -> None:
        self.packets.put_nowait((data, peer))

    async def ingest_stream(self, conn: Conn) -> None:
        data = await read_exactly(conn, 5)
        await conn.write(b"pong:" + data)
        self.streams.put_nowait(data)


def echo_server() -> RPCServer:
    server = RPCServer()

    async def echo(body: bytes):
        return msgspec.msgpack.decode(body)

    server.register("Test.Echo", echo)
    return server


@pytest.fixture
async def port_mux(server_tls):
    """A server port with native TLS (client certificate required), RPC, raft,
    snapshot and the stub gossip consumer."""
    raft = TcpTransport()
    received: asyncio.Queue = asyncio.Queue()
    raft.start(received.put_nowait)
    ingest = StubIngest()

    async def snapshot(request, upload):
        return SnapshotResponse(Index=7), io.BytesIO(b"archive-bytes")

    mux = PortMux(tls=PortMux.alpn_context(server_tls), server_names=NAMES)
    mux.handle(ConnType.CONSUL, echo_server().serve_conn)
    mux.handle(ConnType.RAFT, raft.serve_stream)
    mux.handle(ConnType.SNAPSHOT, lambda conn: snapshot_stream.serve(conn, snapshot, io.BytesIO))
    mux.serve_wan_gossip(ingest)
    _, port = await mux.start(HOST)
    mux.raft_received = received
    mux.ingest = ingest
    mux.address = f"{HOST}:{port}"
    mux.server_port = port
    yield mux
    await mux.close()
    await raft.close()


def factory(context: ssl.SSLContext):
    return lambda: context


async def test_rpc_single_reaches_the_endpoint(port_mux, client_tls):
    conn = await dial_via_gateway(port_mux.address, factory(client_tls), datacenter="dc1",
                                  alpn="consul/rpc-single")
    codec = ClientCodec(conn)
    assert await codec.call("Test.Echo", {"a": 1}) == {"a": 1}
    assert await codec.call("Test.Echo", "again") == "again"
    await conn.close()
    assert port_mux.counts["alpn consul/rpc-single"] == 1
    assert port_mux.counts["CONSUL"] == 1


async def test_rpc_multi_multiplexes_calls_on_one_session(port_mux, client_tls):
    pool = GatewayPool(factory(client_tls))
    try:
        replies = await asyncio.gather(*(
            pool.call(port_mux.address, "dc1", "Test.Echo", i, node="s1") for i in range(20)))
    finally:
        await pool.close()
    assert replies == list(range(20))
    assert port_mux.counts["alpn consul/rpc-multi"] == 1  # one TLS connection, 20 streams


async def test_raft_append_entries_over_alpn(port_mux, client_tls):
    message = AppendEntries(src="s2", dst="s1", term=3, leader_address="10.0.0.2:8300",
                            prev_log_index=4, prev_log_term=2,
                            entries=[Entry(index=5, term=3, data=b"x")], leader_commit=4)
    conn = await dial_via_gateway(port_mux.address, factory(client_tls), datacenter="dc1",
                                  alpn="consul/raft", node="s1")
    frame = encode_message(message)
    await conn.write(len(frame).to_bytes(4, "big") + frame)
    async with asyncio.timeout(5):
        assert await port_mux.raft_received.get() == message
    await conn.close()


async def test_snapshot_save_over_alpn(port_mux, client_tls):
    conn = await dial_via_gateway(port_mux.address, factory(client_tls), datacenter="dc1",
                                  alpn="consul/rpc-snapshot")
    download = io.BytesIO()
    response = await snapshot_stream.call(conn, SnapshotRequest(Op=SNAPSHOT_SAVE), None,
                                          download)
    await conn.close()
    assert response.Index == 7
    assert download.getvalue() == b"archive-bytes"


async def test_gossip_packets_are_delivered_to_the_ingest(port_mux, client_tls):
    conn = await dial_via_gateway(port_mux.address, factory(client_tls), datacenter="dc1",
                                  alpn="consul/wan-gossip/packet", node="s1")
    packets = [b"ping", b"", b"x" * 70000, b"ack"]
    wire = b"".join(wanfed.frame(p) for p in packets)
    await conn.write(wire[:3])  # frames split anywhere still arrive whole
    await conn.write(wire[3:])
    async with asyncio.timeout(5):
        got = [await port_mux.ingest.packets.get() for _ in packets]
    assert [data for data, _ in got] == packets
    assert got[0][1][0] == HOST
    await conn.close()


async def test_gossip_stream_is_handed_to_the_ingest(port_mux, client_tls):
    conn = await dial_via_gateway(port_mux.address, factory(client_tls), datacenter="dc1",
                                  alpn="consul/wan-gossip/stream")
    await conn.write(b"hello")
    assert await read_exactly(conn, 10) == b"pong:hello"
    assert await port_mux.ingest.streams.get() == b"hello"
    await conn.close()


async def test_oversized_gossip_frame_closes_the_connection(port_mux, client_tls, caplog):
    conn = await dial_via_gateway(port_mux.address, factory(client_tls), datacenter="dc1",
                                  alpn="consul/wan-gossip/packet")
    with caplog.at_level(logging.WARNING, logger="proconsul.rpc.wanfed"):
        await conn.write((wanfed.MAX_PACKET_SIZE + 1).to_bytes(4, "big"))
        assert await conn.read() == b""
    assert "exceeds threshold of 4194304" in caplog.text
    assert port_mux.ingest.packets.empty()
    await conn.close()


async def test_gossip_refused_when_wan_federation_is_off(server_tls, client_tls, caplog):
    mux = PortMux(tls=PortMux.alpn_context(server_tls))
    _, port = await mux.start(HOST)
    try:
        conn = await dial_via_gateway(f"{HOST}:{port}", factory(client_tls), datacenter="dc1",
                                      alpn="consul/wan-gossip/packet")
        with caplog.at_level(logging.WARNING, logger="proconsul.rpc.mux"):
            await conn.write(wanfed.frame(b"ping"))
            assert await conn.read() == b""
        await conn.close()
    finally:
        await mux.close()
    assert "WAN federation via mesh gateways is not enabled" in caplog.text


async def test_unknown_alpn_is_refused_with_a_log_line(port_mux, client_tls, caplog):
    client_tls.set_alpn_protocols(["h2"])
    reader, writer = await asyncio.open_connection(HOST, port_mux.server_port)
    with caplog.at_level(logging.WARNING, logger="proconsul.rpc.mux"):
        await writer.start_tls(client_tls, server_hostname="server.dc1.consul")
        assert await reader.read() == b""
    writer.close()
    assert "no known ALPN protocol negotiated" in caplog.text
    assert port_mux.counts["alpn_unhandled"] == 1


async def test_client_without_certificate_is_refused(port_mux, client_tls_no_cert, caplog):
    with caplog.at_level(logging.WARNING, logger="proconsul.rpc.mux"), \
            pytest.raises((RPCDialError, RPCConnectionError)):
        conn = await dial_via_gateway(port_mux.address, factory(client_tls_no_cert),
                                      datacenter="dc1", alpn="consul/rpc-single")
        # TLS 1.3: the server's refusal arrives after the client's handshake ends
        await ClientCodec(conn).call("Test.Echo", 1)
    assert "rpc: TLS handshake failed" in caplog.text
    assert port_mux.counts["tls_handshake_failed"] == 1


@pytest.mark.parametrize(("datacenter", "node"), [("dc1", "s9"), ("dc2", "")])
async def test_sni_not_naming_this_server_is_refused(port_mux, client_tls, caplog,
                                                     datacenter, node):
    with caplog.at_level(logging.WARNING, logger="proconsul.rpc.mux"), \
            pytest.raises(RPCDialError, match="UNRECOGNIZED_NAME|unrecognized name"):
        await dial_via_gateway(port_mux.address, factory(client_tls),
                               datacenter=datacenter, alpn="consul/rpc-single", node=node)
    assert f"refusing native TLS connection for SNI '{server_sni(datacenter, node=node)}'" \
        in caplog.text
    assert port_mux.counts["sni_refused"] == 1


async def test_server_of_another_dc_is_refused_by_the_dialer(server_tls, client_tls):
    mux = PortMux(tls=PortMux.alpn_context(server_tls))  # accepts any SNI
    mux.handle(ConnType.CONSUL, echo_server().serve_conn)
    _, port = await mux.start(HOST)
    try:
        with pytest.raises(RPCDialError, match="not valid for server.dc2.consul"):
            await dial_via_gateway(f"{HOST}:{port}", factory(client_tls), datacenter="dc2",
                                   alpn="consul/rpc-single")
    finally:
        await mux.close()


async def test_plain_protocols_keep_working_beside_native_tls(port_mux, client_tls):
    reader, writer = await asyncio.open_connection(HOST, port_mux.server_port)
    writer.write(bytes([ConnType.CONSUL]))
    plain = StreamConn(reader, writer)
    assert await ClientCodec(plain).call("Test.Echo", "plain") == "plain"
    await plain.close()
    conn = await dial_via_gateway(port_mux.address, factory(client_tls), datacenter="dc1",
                                  alpn="consul/rpc-single")
    assert await ClientCodec(conn).call("Test.Echo", "tls") == "tls"
    await conn.close()
    assert port_mux.counts["CONSUL"] == 2


def test_sni_names():
    assert server_sni("dc2") == "server.dc2.consul"
    assert server_sni("dc2", "example.org.", "*") == "server.dc2.example.org"
    assert server_sni("dc2", "consul", "s3") == "s3.server.dc2.consul"


def test_framer_is_pure_and_bounded():
    framer = wanfed.PacketFramer(max_size=8)
    wire = wanfed.frame(b"abc") + wanfed.frame(b"defgh")
    assert framer.feed(wire[:5]) == []
    assert framer.in_frame
    assert framer.feed(wire[5:]) == [b"abc", b"defgh"]
    assert not framer.in_frame
    with pytest.raises(wanfed.FrameTooLarge):
        framer.feed((9).to_bytes(4, "big"))
