from __future__ import annotations

import asyncio

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proconsul.rpc.codec import (
    ClientCodec,
    MsgpackReader,
    RequestHeader,
    ResponseHeader,
    RPCServer,
    ValueScanner,
    decode_reply,
)
from proconsul.rpc.errors import RPCConnectionError, RPCError, RPCProtocolError
from proconsul.structs.errors import ERR_NO_LEADER, ConsulError

SAMPLES = [
    0,
    -1,
    -33,
    127,
    255,
    65536,
    2**64 - 1,
    -(2**63),
    1.5,
    None,
    True,
    "",
    "x" * 31,
    "y" * 300,
    "z" * 70000,
    b"\x00" * 5,
    b"\x01" * 300,
    [],
    [1, [2, [3, {"a": [None, "b"]}]]],
    {"k" * 40: list(range(20)), "n": {}},
    list(range(70000)),
    {str(i): i for i in range(20)},
    msgspec.msgpack.Ext(5, b"abcd"),
    msgspec.msgpack.Ext(7, b"e" * 300),
    msgspec.msgpack.Ext(1, b"1"),
]


class ChunkConn:
    """Feeds bytes ``chunk`` at a time; records writes."""

    def __init__(self, data: bytes = b"", chunk: int = 1) -> None:
        self.data, self.chunk, self.written = data, chunk, bytearray()

    async def read(self, n: int = 65536) -> bytes:
        out, self.data = self.data[: min(n, self.chunk)], self.data[min(n, self.chunk) :]
        return out

    async def write(self, data: bytes) -> None:
        self.written += data

    async def close(self) -> None:
        pass


def test_request_header_golden_bytes():
    # Go's codec writes struct keys sorted: Seq before ServiceMethod.
    encoded = msgspec.msgpack.encode(RequestHeader(Seq=7, ServiceMethod="Status.Ping"))
    assert encoded == b"\x82\xa3Seq\x07\xadServiceMethod\xabStatus.Ping"
    response = msgspec.msgpack.encode(ResponseHeader(Error="", Seq=7, ServiceMethod="S.M"))
    assert response == b"\x83\xa5Error\xa0\xa3Seq\x07\xadServiceMethod\xa3S.M"


@pytest.mark.parametrize("value", SAMPLES, ids=range(len(SAMPLES)))
def test_scanner_finds_end_whole_and_byte_by_byte(value):
    encoded = msgspec.msgpack.encode(value)
    trailing = encoded + b"\xc0"
    assert ValueScanner().scan(trailing) == len(encoded)
    scanner, buf = ValueScanner(), bytearray()
    results = []
    for byte in encoded:
        results.append(scanner.scan(buf))
        buf.append(byte)
    assert results == [None] * len(encoded)
    assert scanner.scan(buf) == len(encoded)
    assert scanner.scan(b"\x91\x01") == 2  # state is reset for the next value


msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=300)
    | st.binary(max_size=300),
    lambda inner: (
        st.lists(inner, max_size=20) | st.dictionaries(st.text(max_size=40), inner, max_size=20)
    ),
    max_leaves=60,
)


@settings(max_examples=60, deadline=None)
@given(values=st.lists(msgpack_values, min_size=1, max_size=4), chunk=st.integers(1, 64))
async def test_reader_property_any_values_any_chunking(values, chunk):
    stream = b"".join(msgspec.msgpack.encode(v) for v in values)
    reader = MsgpackReader(ChunkConn(stream, chunk=chunk))
    assert [msgspec.msgpack.decode(await reader.read_value()) for _ in values] == values
    assert await reader.read_value() is None


def test_scanner_rejects_invalid_byte_and_oversize_early():
    with pytest.raises(RPCProtocolError, match="0xc1"):
        ValueScanner().scan(b"\x92\x01\xc1")
    with pytest.raises(RPCProtocolError, match="exceeds"):
        ValueScanner(max_size=1024).scan(b"\xdb\x40\x00\x00\x00")  # 1 GiB string header
    with pytest.raises(RPCProtocolError, match="exceeds"):
        ValueScanner(max_size=1024).scan(b"\xdd\x00\x01\x00\x00")  # 65536-element array


async def test_reader_frames_consecutive_values_from_one_byte_reads():
    values = [{"Seq": 1}, "z" * 1000, [1, 2, 3], {}]
    conn = ChunkConn(b"".join(msgspec.msgpack.encode(v) for v in values), chunk=1)
    reader = MsgpackReader(conn)
    got = [msgspec.msgpack.decode(await reader.read_value()) for _ in values]
    assert got == values
    assert await reader.read_value() is None


async def test_reader_eof_mid_value_is_connection_error():
    reader = MsgpackReader(ChunkConn(msgspec.msgpack.encode("abcdef")[:-2], chunk=3))
    with pytest.raises(RPCConnectionError, match="mid-message"):
        await reader.read_value()


class Args(msgspec.Struct):
    Datacenter: str
    Key: str = ""


def make_server() -> RPCServer:
    server = RPCServer()

    async def echo(args: Args) -> dict:
        return {"Datacenter": args.Datacenter, "Key": args.Key.upper()}

    async def raw(body: bytes) -> msgspec.Raw:
        return msgspec.Raw(body)

    async def no_leader(_: bytes) -> None:
        raise ConsulError(ERR_NO_LEADER)

    async def broken(_: bytes) -> None:
        raise KeyError("boom")

    server.register("KVS.Get", echo, Args)
    server.register("Test.Raw", raw)
    server.register("Status.Leader", no_leader)
    server.register("Test.Broken", broken)
    return server


async def serve_pair(conn_pair):
    client_conn, server_conn = conn_pair
    task = asyncio.create_task(make_server().serve_conn(server_conn))
    return ClientCodec(client_conn), task


async def test_sequential_calls_typed_and_raw(conn_pair):
    client, task = await serve_pair(conn_pair)
    assert await client.call("KVS.Get", Args("dc1", "foo")) == {"Datacenter": "dc1", "Key": "FOO"}
    assert await client.call("Test.Raw", [1, "two"]) == [1, "two"]
    reply = await client.call("KVS.Get", {"Datacenter": "dc2"}, reply_type=Args)
    assert reply == Args("dc2", "")
    await conn_pair[0].close()
    await asyncio.wait_for(task, 5)


@pytest.mark.parametrize(
    ("method", "text"),
    [
        ("Nope.Get", "rpc: can't find service Nope.Get"),
        ("KVS.Nope", "rpc: can't find method KVS.Nope"),
        ("NoDot", "rpc: service/method request ill-formed: NoDot"),
        ("Status.Leader", "No cluster leader"),
        ("Test.Broken", "'boom'"),
    ],
)
async def test_errors_keep_consul_text_and_conn_survives(conn_pair, method, text):
    client, _ = await serve_pair(conn_pair)
    with pytest.raises(RPCError) as info:
        await client.call(method, {})
    assert info.value.message == text
    assert await client.call("Test.Raw", 5) == 5


async def test_bad_args_for_typed_method_is_an_error_reply(conn_pair):
    client, _ = await serve_pair(conn_pair)
    with pytest.raises(RPCError, match="can't decode args for KVS.Get"):
        await client.call("KVS.Get", {"Key": 3})
    assert await client.call("Test.Raw", "ok") == "ok"


async def test_error_response_bytes_have_empty_map_body():
    request = msgspec.msgpack.encode(RequestHeader(Seq=3, ServiceMethod="Status.Leader"))
    conn = ChunkConn(request + b"\x80", chunk=4)
    await make_server().serve_conn(conn)
    expected = msgspec.msgpack.encode(
        ResponseHeader(Error=ERR_NO_LEADER, Seq=3, ServiceMethod="Status.Leader")
    )
    assert bytes(conn.written) == expected + b"\x80"


async def test_server_stops_on_garbage_without_raising():
    conn = ChunkConn(b"\xc1garbage", chunk=100)
    await make_server().serve_conn(conn)
    assert conn.written == b""


async def test_client_rejects_mismatched_seq():
    reply = msgspec.msgpack.encode(ResponseHeader(Seq=9, ServiceMethod="Test.Raw")) + b"\x01"
    client = ClientCodec(ChunkConn(reply, chunk=100))
    with pytest.raises(RPCProtocolError, match="seq 9"):
        await client.call("Test.Raw", 1)


async def test_client_sees_server_close_as_connection_error(conn_pair):
    client_conn, server_conn = conn_pair
    await server_conn.close()
    with pytest.raises(RPCConnectionError):
        await ClientCodec(client_conn).call("Test.Raw", 1)


DEEP = b"\x81\xa1a" * 100_000 + b"\xc0"  # 100,000 nested maps


@pytest.mark.parametrize("args", [DEEP, b"\x91" * 100_000 + b"\xc0"], ids=["maps", "arrays"])
async def test_deeply_nested_args_end_the_connection_with_one_line(args, caplog):
    header = msgspec.msgpack.encode(RequestHeader(Seq=1, ServiceMethod="Status.Ping"))
    for chunk in (len(header) + len(args), 4096):  # one read, and a message in pieces
        caplog.clear()
        conn = ChunkConn(header + args, chunk=chunk)
        await make_server().serve_conn(conn)
        assert conn.written == b""
        records = [r for r in caplog.records if r.levelname != "DEBUG"]
        assert [r.getMessage() for r in records] == [
            "rpc: dropping connection: msgpack value nested too deeply"]
        assert records[0].exc_info is None


def test_deeply_nested_reply_is_an_rpc_error():
    with pytest.raises(RPCError, match="nested too deeply"):
        decode_reply("Status.Ping", DEEP, object)
