"""RPCClient: which errors send a client agent's call to another server."""

from __future__ import annotations

import random

import pytest

from proconsul.agent.router import Router
from proconsul.agent.rpc_client import RPCClient, ping
from proconsul.gossip.serf import Member, MemberStatus
from proconsul.rpc.errors import RPCConnectionError, RPCError
from proconsul.rpc.pool import FakePool
from proconsul.structs.errors import (
    ERR_NO_LEADER,
    ERR_NO_SERVERS,
    ERR_SERVER_LEAVING,
    ConsulError,
)
from proconsul.structs.kv import DirEntry, KVSRequest
from proconsul.structs.requests import IndexedDirEntries, KeyRequest

WRITE = KVSRequest(Op="set", DirEnt=DirEntry(Key="k"))


async def _pong(request):
    return True


def setup(servers: int) -> tuple[RPCClient, FakePool, list[str]]:
    pool = FakePool()
    addresses = [f"10.0.0.{i}:8300" for i in range(servers)]
    for address in addresses:
        pool.register(address, "KVS.Apply", _pong, KVSRequest)

        async def get(request, address=address):
            return IndexedDirEntries(Index=int(address.split(".")[3].split(":")[0]) + 1)

        pool.register(address, "KVS.Get", get, KeyRequest)
    router = Router("dc1", lambda a: ping(pool, a), rng=random.Random(3))
    router.update([Member(f"s{i}", f"10.0.0.{i}", 8301,
                          {"role": "consul", "dc": "dc1", "port": "8300"}, MemberStatus.ALIVE)
                   for i in range(servers)])
    return RPCClient(router, pool, no_leader_backoff=0.01), pool, router.servers()


async def test_an_unreachable_or_leaving_server_sends_the_call_to_the_next() -> None:
    client, pool, order = setup(3)
    pool.down(order[0])
    pool.fail(order[1], RPCError(ERR_SERVER_LEAVING))
    assert await client.call("KVS.Apply", WRITE) is True
    assert [a for a, _, _ in pool.calls] == order
    assert client.router.find() == order[2]


async def test_no_cluster_leader_is_retried_once() -> None:
    client, pool, order = setup(2)
    pool.fail(order[0], RPCError(ERR_NO_LEADER))
    assert await client.call("KVS.Apply", WRITE) is True
    for address in order:
        pool.fail(address, RPCError(ERR_NO_LEADER))
    with pytest.raises(RPCError, match=ERR_NO_LEADER):
        await client.call("KVS.Apply", WRITE)


async def test_a_broken_connection_retries_reads_but_not_writes() -> None:
    client, pool, order = setup(2)
    pool.fail(order[0], RPCConnectionError("connection closed awaiting reply"))
    with pytest.raises(ConsulError, match="rpc error making call"):
        await client.call("KVS.Apply", WRITE)
    pool.fail(order[1], RPCConnectionError("connection closed awaiting reply"))
    assert (await client.call("KVS.Get", KeyRequest(Key="k"))).Index > 0


async def test_every_server_down_fails_after_trying_each_once() -> None:
    client, pool, order = setup(2)
    for address in order:
        pool.down(address)
    with pytest.raises(ConsulError, match="rpc error making call: dial"):
        await client.call("KVS.Get", KeyRequest(Key="k"))
    assert len(pool.calls) == 2


async def test_without_known_servers_the_call_fails_at_once() -> None:
    client, _, _ = setup(0)
    with pytest.raises(ConsulError, match=ERR_NO_SERVERS):
        await client.call("KVS.Get", KeyRequest(Key="k"))
