"""The server port with a real socket: endpoints over msgpack-RPC, and leave draining."""

from __future__ import annotations

import asyncio

import pytest

from proconsul.rpc.codec import ClientCodec
from proconsul.rpc.conn import StreamConn
from proconsul.rpc.errors import RPCError
from proconsul.rpc.mux import ConnType
from proconsul.rpc.pool import MuxPool
from proconsul.server.rpc_endpoints import ServerPort
from proconsul.server.server import Server, ServerConfig
from proconsul.structs.errors import ERR_SERVER_LEAVING
from proconsul.structs.kv import DirEntry, KVSRequest
from proconsul.structs.requests import IndexedDirEntries, KeyRequest
from tests.support.agent_process import next_loopback


@pytest.fixture
async def port():
    server = Server(ServerConfig())
    server.start()
    server_port = ServerPort(server)
    host, bound = await server_port.start(next_loopback(), 0)
    pool = MuxPool()
    yield server_port, pool, f"{host}:{bound}"
    await pool.close()
    await server_port.close()
    await server.stop()


def put(key: str, value: bytes) -> KVSRequest:
    return KVSRequest(Op="set", DirEnt=DirEntry(Key=key, Value=value))


async def test_every_endpoint_is_served_with_its_request_and_reply_types(port) -> None:
    _, pool, address = port
    assert await pool.call(address, "KVS.Apply", put("k", b"v"), bool) is True
    reply = await pool.call(address, "KVS.Get", KeyRequest(Key="k"), IndexedDirEntries)
    assert [(e.Key, e.Value) for e in reply.Entries] == [("k", b"v")]
    assert reply.KnownLeader and reply.Index > 0
    with pytest.raises(RPCError, match="rpc: can't find method KVS.Nope"):
        await pool.call(address, "KVS.Nope", None)


async def test_a_plain_type_0_connection_is_served_too(port) -> None:
    _, _, address = port
    host, _, number = address.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(number))
    conn = StreamConn(reader, writer)
    await conn.write(bytes([ConnType.CONSUL]))
    codec = ClientCodec(conn)
    assert await codec.call("Status.Ping", None, bool) is True
    assert await codec.call("Status.Leader", None, str) == "127.0.0.1:8300"
    await conn.close()


async def test_draining_answers_calls_under_way_and_refuses_new_ones(port) -> None:
    server_port, pool, address = port
    await pool.call(address, "KVS.Apply", put("w", b"1"), bool)
    index = (await pool.call(address, "KVS.Get", KeyRequest(Key="w"), IndexedDirEntries)).Index
    blocked = asyncio.create_task(pool.call(
        address, "KVS.Get", KeyRequest(Key="w", MinQueryIndex=index, MaxQueryTime=60 * 10**9),
        IndexedDirEntries))
    while server_port.in_flight == 0:  # the blocking query has reached the server
        await asyncio.sleep(0.01)
    server_port.start_draining()
    with pytest.raises(RPCError, match=ERR_SERVER_LEAVING):
        await pool.call(address, "KVS.Get", KeyRequest(Key="w"), IndexedDirEntries)
    await server_port.server.rpc("KVS.Apply", put("w", b"2"))  # the agent's own write
    assert (await blocked).Entries[0].Value == b"2"
