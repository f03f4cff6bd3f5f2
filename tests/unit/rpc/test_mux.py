from __future__ import annotations

import asyncio
import ssl

import pytest

from proconsul.rpc.codec import ClientCodec, RPCServer
from proconsul.rpc.conn import Conn, StreamConn, TLSConn, read_exactly
from proconsul.rpc.mux import (
    ALPN_PROTOCOLS,
    ALPN_WAN_GOSSIP_PACKET,
    ALPN_WAN_GOSSIP_STREAM,
    ConnType,
    PortMux,
)
from proconsul.rpc.pool import MuxPool

from .conftest import SERVER_NAME

HOST = "127.0.0.1"
NAMED = [ConnType.RAFT, ConnType.SNAPSHOT, ConnType.GRPC, ConnType.RAFT_FORWARDING]


def tagger(tag: str):
    """A handler that answers with its tag followed by the next 4 bytes it reads."""

    async def handler(conn: Conn) -> None:
        data = await read_exactly(conn, 4)
        await conn.write(tag.encode() + b":" + data)

    return handler


def rpc_server() -> RPCServer:
    server = RPCServer()

    async def ping(_: bytes) -> dict:
        return {}

    async def echo(body: bytes) -> str:
        return "echo"

    server.register("Status.Ping", ping)
    server.register("Test.Echo", echo)
    return server


@pytest.fixture
async def make_mux():
    muxes: list[PortMux] = []

    async def make(**kwargs) -> tuple[PortMux, int]:
        mux = PortMux(**kwargs)
        mux.handle(ConnType.CONSUL, rpc_server().serve_conn)
        for conn_type in NAMED:
            mux.handle(conn_type, tagger(conn_type.name))
        mux.handle(ConnType.TLS_INSECURE, rpc_server().serve_conn)
        for name in (ALPN_WAN_GOSSIP_PACKET, ALPN_WAN_GOSSIP_STREAM):
            mux.handle_alpn(name, tagger(name))
        _, port = await mux.start(HOST)
        muxes.append(mux)
        return mux, port

    yield make
    for mux in muxes:
        await mux.close()


async def dial(port: int) -> StreamConn:
    return StreamConn(*await asyncio.open_connection(HOST, port))


async def tls_client(inner: Conn, ctx: ssl.SSLContext, alpn: list[str] | None = None) -> TLSConn:
    if alpn is not None:
        ctx.set_alpn_protocols(alpn)
    conn = TLSConn(inner, ctx, server_side=False, server_hostname=SERVER_NAME)
    await conn.handshake()
    return conn


@pytest.mark.parametrize("conn_type", NAMED, ids=lambda t: t.name)
async def test_type_byte_routes_to_handler(make_mux, conn_type):
    mux, port = await make_mux()
    conn = await dial(port)
    await conn.write(bytes([conn_type]) + b"abcd")
    assert await conn.read() == f"{conn_type.name}:abcd".encode()
    assert mux.counts[conn_type.name] == 1
    await conn.close()


async def test_consul_byte_serves_sequential_rpc(make_mux):
    _, port = await make_mux()
    conn = await dial(port)
    await conn.write(bytes([ConnType.CONSUL]))
    client = ClientCodec(conn)
    assert await client.call("Status.Ping", {}) == {}
    assert await client.call("Test.Echo", {}) == "echo"
    await conn.close()


async def test_multiplex_v2_serves_rpc_per_stream(make_mux):
    mux, port = await make_mux()
    pool = MuxPool()
    try:
        results = await asyncio.gather(
            *(pool.call(f"{HOST}:{port}", "Test.Echo", {}) for _ in range(10))
        )
    finally:
        await pool.close()
    assert results == ["echo"] * 10
    assert mux.counts["MULTIPLEX_V2"] == 1


@pytest.mark.parametrize(
    ("first", "counter"),
    [
        (ConnType.MULTIPLEX, "multiplex_rejected"),
        (ConnType.GOSSIP, "unhandled_type"),
        (10, "unknown_type"),
        (0x16, "unknown_type"),
        (255, "unknown_type"),
        (ConnType.TLS, "tls_unconfigured"),
    ],
)
async def test_rejected_bytes_are_closed_and_counted(make_mux, first, counter):
    mux, port = await make_mux()
    conn = await dial(port)
    await conn.write(bytes([first]) + b"\x00" * 8)
    assert await conn.read() == b""
    assert mux.counts[counter] == 1
    await conn.close()
    # the listener is unharmed
    conn = await dial(port)
    await conn.write(bytes([ConnType.RAFT]) + b"ok!!")
    assert await conn.read() == b"RAFT:ok!!"
    await conn.close()


async def test_handshake_timeout_and_early_close(make_mux):
    mux, port = await make_mux(handshake_timeout=0.05)
    conn = await dial(port)
    assert await conn.read() == b""
    assert mux.counts["handshake_timeout"] == 1
    await conn.close()
    conn = await dial(port)
    await conn.close()
    quiet = await dial(port)  # a later conn that times out proves the closed one was handled
    assert await quiet.read() == b""
    assert mux.counts["closed_before_type"] == 1
    await quiet.close()


async def test_handler_exception_is_contained(make_mux):
    mux, port = await make_mux()

    async def broken(conn: Conn) -> None:
        raise RuntimeError("bug")

    mux.handle(ConnType.SNAPSHOT, broken)
    conn = await dial(port)
    await conn.write(bytes([ConnType.SNAPSHOT]))
    assert await conn.read() == b""
    assert mux.counts["handler_error"] == 1
    await conn.close()


def test_mux_owned_types_cannot_be_registered():
    mux = PortMux()
    for conn_type in (ConnType.TLS, ConnType.MULTIPLEX_V2, ConnType.MULTIPLEX):
        with pytest.raises(ValueError):
            mux.handle(conn_type, tagger("x"))
    with pytest.raises(ValueError):
        mux.handle_alpn("consul/unknown", tagger("x"))


async def test_verify_incoming_rejects_plain_bytes(make_mux, server_tls, client_tls):
    mux, port = await make_mux(tls=server_tls, verify_incoming=True)
    conn = await dial(port)
    await conn.write(bytes([ConnType.RAFT]) + b"abcd")
    assert await conn.read() == b""
    assert mux.counts["non_tls_rejected"] == 1
    await conn.close()
    conn = await dial(port)
    await conn.write(bytes([ConnType.TLS]))
    tls = await tls_client(conn, client_tls)
    await tls.write(bytes([ConnType.RAFT]) + b"abcd")
    assert await tls.read() == b"RAFT:abcd"
    await tls.close()


async def test_tls_byte_then_inner_byte(make_mux, server_tls, client_tls):
    mux, port = await make_mux(tls=server_tls)
    conn = await dial(port)
    await conn.write(bytes([ConnType.TLS]))
    tls = await tls_client(conn, client_tls)
    assert tls.alpn_protocol is None
    await tls.write(bytes([ConnType.SNAPSHOT]) + b"wxyz")
    assert await tls.read() == b"SNAPSHOT:wxyz"
    await tls.close()


async def test_tls_in_tls_is_refused(make_mux, server_tls, client_tls):
    mux, port = await make_mux(tls=server_tls)
    conn = await dial(port)
    await conn.write(bytes([ConnType.TLS]))
    tls = await tls_client(conn, client_tls)
    await tls.write(bytes([ConnType.TLS]))
    assert await tls.read() == b""
    assert mux.counts["tls_in_tls"] == 1
    await tls.close()


async def test_tls_requires_client_certificate(make_mux, server_tls, client_tls_no_cert):
    mux, port = await make_mux(tls=server_tls)
    conn = await dial(port)
    await conn.write(bytes([ConnType.TLS]))
    tls = await tls_client(conn, client_tls_no_cert)  # TLS 1.3: client finishes first
    await tls.write(bytes([ConnType.RAFT]) + b"abcd")
    assert await tls.read() == b""
    assert mux.counts["tls_handshake_failed"] == 1
    await tls.close()


async def test_tls_insecure_byte_serves_rpc_without_client_cert(
    make_mux, server_tls, server_tls_insecure, client_tls_no_cert
):
    mux, port = await make_mux(tls=server_tls, tls_insecure=server_tls_insecure)
    conn = await dial(port)
    await conn.write(bytes([ConnType.TLS_INSECURE]))
    tls = await tls_client(conn, client_tls_no_cert)
    assert await ClientCodec(tls).call("Test.Echo", {}) == "echo"
    assert mux.counts["TLS_INSECURE"] == 1
    await tls.close()


async def test_garbage_tls_handshake_is_contained(make_mux, server_tls):
    mux, port = await make_mux(tls=PortMux.alpn_context(server_tls))
    conn = await dial(port)
    await conn.write(b"\x16\x03\x01\x00\x05hello-not-tls")
    received = b""
    while chunk := await conn.read():
        received += chunk
    assert received[:1] in (b"", b"\x15")  # nothing, or a TLS alert, then EOF
    assert mux.counts["tls_handshake_failed"] == 1
    await conn.close()


@pytest.mark.parametrize(
    ("alpn", "reply"),
    [
        ("consul/raft", "RAFT"),
        ("consul/rpc-snapshot", "SNAPSHOT"),
        ("consul/rpc-grpc", "GRPC"),
        ("consul/raft-forwarding", "RAFT_FORWARDING"),
        (ALPN_WAN_GOSSIP_PACKET, ALPN_WAN_GOSSIP_PACKET),
        (ALPN_WAN_GOSSIP_STREAM, ALPN_WAN_GOSSIP_STREAM),
    ],
)
async def test_native_tls_routes_on_alpn(make_mux, server_tls, client_tls, alpn, reply):
    mux, port = await make_mux(tls=PortMux.alpn_context(server_tls))
    conn = await dial(port)
    tls = await tls_client(conn, client_tls, [alpn])
    assert tls.alpn_protocol == alpn
    await tls.write(b"1234")
    assert await tls.read() == f"{reply}:1234".encode()
    assert mux.counts[f"alpn {alpn}"] == 1
    await tls.close()


async def test_native_tls_rpc_single(make_mux, server_tls, client_tls):
    _, port = await make_mux(tls=PortMux.alpn_context(server_tls))
    tls = await tls_client(await dial(port), client_tls, ["consul/rpc-single"])
    assert await ClientCodec(tls).call("Test.Echo", {}) == "echo"
    await tls.close()


async def test_native_tls_without_known_alpn_is_closed(make_mux, server_tls, client_tls):
    mux, port = await make_mux(tls=PortMux.alpn_context(server_tls))
    tls = await tls_client(await dial(port), client_tls, ["h2"])
    assert tls.alpn_protocol is None
    await tls.write(b"1234")
    assert await tls.read() == b""
    assert mux.counts["alpn_unhandled"] == 1
    await tls.close()


def test_alpn_names_in_consul_order():
    assert list(ALPN_PROTOCOLS) == [
        "consul/rpc-single",
        "consul/raft",
        "consul/rpc-multi",
        "consul/rpc-snapshot",
        "consul/rpc-gossip",
        "consul/rpc-grpc",
        "consul/raft-forwarding",
        "consul/wan-gossip/packet",
        "consul/wan-gossip/stream",
    ]


@pytest.mark.parametrize("native", [False, True], ids=["byte3", "alpn"])
async def test_pool_over_tls(make_mux, server_tls, client_tls, native):
    mux, port = await make_mux(tls=PortMux.alpn_context(server_tls))
    pool = MuxPool(tls=client_tls, native_tls=native, server_name=SERVER_NAME)
    try:
        assert await pool.call(f"{HOST}:{port}", "Test.Echo", {}) == "echo"
        assert await pool.call(f"{HOST}:{port}", "Status.Ping", {}) == {}
    finally:
        await pool.close()
    assert mux.counts["MULTIPLEX_V2"] == 1
    assert mux.counts["alpn consul/rpc-multi"] == (1 if native else 0)
