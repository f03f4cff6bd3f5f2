from __future__ import annotations

import asyncio
import socket

import msgspec
import pytest

from proconsul.rpc.codec import RPCServer
from proconsul.rpc.errors import RPCConnectionError, RPCError, RPCTimeout
from proconsul.rpc.mux import ConnType, PortMux
from proconsul.rpc.pool import CallTimeouts, ConnPool, FakePool, MuxPool, split_address
from proconsul.structs.errors import ERR_NO_LEADER, ConsulError

HOST = "127.0.0.1"


class Args(msgspec.Struct):
    Datacenter: str


class Reply(msgspec.Struct):
    Datacenter: str
    Index: int


class Server:
    """A PortMux serving a few endpoints, restartable on the same port."""

    def __init__(self) -> None:
        self.port = 0
        self.mux: PortMux | None = None
        self.release = asyncio.Event()
        self.entered = asyncio.Event()

    async def start(self) -> None:
        rpc = RPCServer()

        async def get(args: Args) -> Reply:
            return Reply(args.Datacenter, 42)

        async def leader(_: bytes) -> str:
            raise ConsulError(ERR_NO_LEADER)

        async def block(_: bytes) -> str:
            self.entered.set()
            await self.release.wait()
            return "released"

        rpc.register("Catalog.Get", get, Args)
        rpc.register("Status.Leader", leader)
        rpc.register("Test.Block", block)
        self.mux = PortMux()
        self.mux.handle(ConnType.CONSUL, rpc.serve_conn)
        _, self.port = await self.mux.start(HOST, self.port)

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    async def stop(self) -> None:
        assert self.mux is not None
        await self.mux.close()


@pytest.fixture
async def server():
    srv = Server()
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def pool():
    p = MuxPool()
    yield p
    await p.close()


def test_pools_satisfy_the_protocol():
    assert isinstance(MuxPool(), ConnPool)
    assert isinstance(FakePool(), ConnPool)
    assert not isinstance(RPCServer(), ConnPool)


def test_split_address():
    assert split_address("10.0.0.1:8300") == ("10.0.0.1", 8300)
    assert split_address("[::1]:8300") == ("::1", 8300)
    with pytest.raises(RPCConnectionError):
        split_address("nohost")


async def test_call_typed_and_remote_errors(server, pool):
    reply = await pool.call(server.address, "Catalog.Get", Args("dc1"), Reply)
    assert reply == Reply("dc1", 42)
    with pytest.raises(RPCError) as info:
        await pool.call(server.address, "Status.Leader", {})
    assert info.value.message == "No cluster leader"
    with pytest.raises(RPCError, match="rpc: can't find method Catalog.Nope"):
        await pool.call(server.address, "Catalog.Nope", {})
    assert server.mux.counts["MULTIPLEX_V2"] == 1


async def test_concurrent_calls_share_one_connection(server, pool):
    replies = await asyncio.gather(
        *(pool.call(server.address, "Catalog.Get", Args(f"dc{i}"), Reply) for i in range(30))
    )
    assert [r.Datacenter for r in replies] == [f"dc{i}" for i in range(30)]
    assert server.mux.counts["MULTIPLEX_V2"] == 1


async def test_calls_reuse_idle_streams(server, pool):
    for i in range(3):
        assert (await pool.call(server.address, "Catalog.Get", Args(f"dc{i}"), Reply)).Index == 42
    session = pool._sessions[server.address]
    assert session.num_streams == 1
    await asyncio.gather(
        *(pool.call(server.address, "Catalog.Get", Args("x"), Reply) for _ in range(10))
    )
    await asyncio.gather(
        *(pool.call(server.address, "Catalog.Get", Args("y"), Reply) for _ in range(10))
    )
    assert session.num_streams == 10
    with pytest.raises(RPCError):
        await pool.call(server.address, "Status.Leader", {})
    assert session.num_streams == 10  # a remote error leaves the stream usable


async def test_a_stream_reset_while_idle_is_not_reused(server, pool):
    await pool.call(server.address, "Catalog.Get", Args("a"), Reply)
    session = pool._sessions[server.address]
    (idle,) = pool._idle[session]
    await idle.conn.reset()
    assert (await pool.call(server.address, "Catalog.Get", Args("b"), Reply)).Datacenter == "b"
    assert [codec.conn.id for codec in pool._idle[session]] == [3]


async def test_refused_connection_is_a_connection_error(pool):
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port = sock.getsockname()[1]  # bound but not listening
        with pytest.raises(RPCConnectionError, match="dial"):
            await pool.call(f"{HOST}:{port}", "Status.Ping", {})


async def test_redial_after_server_drops_idle_connection(server, pool):
    assert (await pool.call(server.address, "Catalog.Get", Args("a"), Reply)).Index == 42
    session = pool._sessions[server.address]
    await server.stop()
    await asyncio.wait_for(session.wait_closed(), 5)
    await server.start()
    assert (await pool.call(server.address, "Catalog.Get", Args("b"), Reply)).Datacenter == "b"
    assert server.mux.counts["MULTIPLEX_V2"] == 1


async def test_drop_during_call_fails_it_and_next_call_redials(server, pool):
    call = asyncio.create_task(pool.call(server.address, "Test.Block", {}))
    await server.entered.wait()
    await server.stop()
    with pytest.raises(RPCConnectionError):
        await call
    assert server.address not in pool._sessions
    server.release.set()
    await server.start()
    assert await pool.call(server.address, "Test.Block", {}) == "released"


async def test_timeout_resets_stream_but_keeps_connection(server, pool):
    with pytest.raises(RPCTimeout):
        await pool.call(server.address, "Test.Block", {}, timeout=0.05)
    assert (await pool.call(server.address, "Catalog.Get", Args("x"), Reply)).Index == 42
    assert server.mux.counts["MULTIPLEX_V2"] == 1


async def test_closed_pool_refuses_calls(server):
    pool = MuxPool()
    await pool.call(server.address, "Catalog.Get", Args("x"))
    await pool.close()
    with pytest.raises(RPCConnectionError, match="closed"):
        await pool.call(server.address, "Catalog.Get", Args("x"))


# CallTimeouts


async def test_call_timeouts_expire_in_deadline_order_not_start_order():
    timeouts = CallTimeouts()
    never = asyncio.Event()
    slow = asyncio.create_task(timeouts.run(never.wait(), 30, "slow"))
    await asyncio.sleep(0)
    with pytest.raises(RPCTimeout, match="fast: timed out after 0.01s"):
        await timeouts.run(never.wait(), 0.01, "fast")
    assert not slow.done()
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow


async def test_call_timeouts_let_finished_calls_and_outer_cancels_through():
    timeouts = CallTimeouts()
    for i in range(500):  # finished calls are dropped from the heap as they pile up
        assert await timeouts.run(asyncio.sleep(0, i), 30, "quick") == i
    assert len(timeouts._heap) <= 64
    started = asyncio.Event()

    async def wait_forever():
        started.set()
        await asyncio.Event().wait()

    outer = asyncio.create_task(timeouts.run(wait_forever(), 30, "outer"))
    await started.wait()
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer


# FakePool


def fake() -> FakePool:
    pool = FakePool()

    async def get(args: Args) -> Reply:
        return Reply(args.Datacenter, 7)

    async def leader(_: bytes) -> None:
        raise ConsulError(ERR_NO_LEADER)

    pool.register("10.0.0.1:8300", "Catalog.Get", get, Args)
    pool.register("10.0.0.1:8300", "Status.Leader", leader)
    pool.register("10.0.0.2:8300", "Catalog.Get", get, Args)
    return pool


async def test_fake_round_trips_through_msgpack():
    pool = fake()
    assert await pool.call("10.0.0.1:8300", "Catalog.Get", Args("dc1"), Reply) == Reply("dc1", 7)
    assert await pool.call("10.0.0.1:8300", "Catalog.Get", {"Datacenter": "d"}) == {
        "Datacenter": "d",
        "Index": 7,
    }
    with pytest.raises(RPCError, match="can't decode reply"):
        await pool.call("10.0.0.1:8300", "Catalog.Get", Args("dc1"), int)
    assert pool.calls[0] == ("10.0.0.1:8300", "Catalog.Get", Args("dc1"))


async def test_fake_errors_match_the_wire():
    pool = fake()
    with pytest.raises(RPCError) as info:
        await pool.call("10.0.0.1:8300", "Status.Leader", {})
    assert info.value.message == ERR_NO_LEADER
    with pytest.raises(RPCError, match="rpc: can't find service Nope.X"):
        await pool.call("10.0.0.1:8300", "Nope.X", {})
    with pytest.raises(RPCConnectionError):
        await pool.call("10.0.0.9:8300", "Catalog.Get", Args("dc1"))


async def test_fake_injected_failures():
    pool = fake()
    pool.fail("10.0.0.1:8300", RPCError("Permission denied"), times=2)
    for _ in range(2):
        with pytest.raises(RPCError, match="Permission denied"):
            await pool.call("10.0.0.1:8300", "Catalog.Get", Args("dc1"))
    assert (await pool.call("10.0.0.1:8300", "Catalog.Get", Args("dc1"), Reply)).Index == 7
    pool.down("10.0.0.2:8300")
    for _ in range(3):
        with pytest.raises(RPCConnectionError):
            await pool.call("10.0.0.2:8300", "Catalog.Get", Args("dc1"))
    pool.up("10.0.0.2:8300")
    assert (await pool.call("10.0.0.2:8300", "Catalog.Get", Args("dc1"), Reply)).Index == 7
    await pool.close()
    with pytest.raises(RPCConnectionError):
        await pool.call("10.0.0.1:8300", "Catalog.Get", Args("dc1"))


async def test_fake_timeout():
    pool = FakePool()
    never = asyncio.Event()

    async def block(_: bytes) -> None:
        await never.wait()

    pool.register("a:1", "Test.Block", block)
    with pytest.raises(RPCTimeout):
        await pool.call("a:1", "Test.Block", {}, timeout=0.01)
