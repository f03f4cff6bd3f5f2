"""Forwarder: where each request runs, holding while there is no leader."""

from __future__ import annotations

import asyncio
import random

import pytest

from proconsul.rpc.errors import RPCConnectionError, RPCError
from proconsul.rpc.pool import FakePool
from proconsul.server.forward import Forwarder, LeaderUnavailable
from proconsul.structs.errors import ERR_NO_PATH_TO_DC, ERR_SERVER_LEAVING, ConsulError
from proconsul.structs.kv import DirEntry, KVSRequest
from proconsul.structs.requests import IndexedDirEntries, KeyRequest

LEADER = "10.0.0.1:8300"
WRITE = KVSRequest(Op="set", DirEnt=DirEntry(Key="k"))


class Consensus:
    """Just the leadership questions the forwarder asks."""

    def __init__(self, leader: str | None = None, is_leader: bool = False) -> None:
        self.leader = leader
        self.leading = is_leader

    def is_leader(self) -> bool:
        return self.leading

    def leader_address(self) -> str | None:
        return self.leader


class Local:
    """The endpoint as run on this server; records what it was given."""

    def __init__(self, reply=True) -> None:
        self.calls: list = []
        self.reply = reply

    async def __call__(self, request):
        self.calls.append(request)
        return self.reply


def forwarder(consensus: Consensus, pool: FakePool | None = None,
              hold: float = 7.0) -> Forwarder:
    return Forwarder(consensus, pool or FakePool(), datacenter="dc1", hold_timeout=hold,
                     rng=random.Random(1))


def leader_pool(handler) -> FakePool:
    pool = FakePool()
    pool.register(LEADER, "KVS.Apply", handler, KVSRequest)
    pool.register(LEADER, "KVS.Get", handler, KeyRequest)
    return pool


async def test_another_datacenter_has_no_path() -> None:
    with pytest.raises(ConsulError, match=ERR_NO_PATH_TO_DC):
        await forwarder(Consensus()).run("KVS.Get", KeyRequest(Datacenter="dc2"), Local())


async def test_stale_reads_and_status_calls_are_served_without_a_leader() -> None:
    local = Local(IndexedDirEntries())
    fwd = forwarder(Consensus(leader=None))
    await fwd.run("KVS.Get", KeyRequest(Key="k", AllowStale=True), local)
    await fwd.run("Status.Leader", None, local)
    assert len(local.calls) == 2


async def test_a_follower_forwards_writes_and_default_reads_to_the_leader() -> None:
    seen = []

    async def on_leader(request):
        seen.append(request)
        return True if isinstance(request, KVSRequest) else IndexedDirEntries(Index=7)

    fwd = forwarder(Consensus(leader=LEADER), leader_pool(on_leader))
    local = Local()
    assert await fwd.run("KVS.Apply", WRITE, local) is True
    reply = await fwd.run("KVS.Get", KeyRequest(Key="k", RequireConsistent=True), local)
    assert reply.Index == 7
    assert [type(r) for r in seen] == [KVSRequest, KeyRequest] and local.calls == []


async def test_the_leader_runs_requests_itself() -> None:
    local = Local()
    await forwarder(Consensus(leader=LEADER, is_leader=True)).run(
        "KVS.Apply", WRITE, local)
    assert len(local.calls) == 1


async def test_a_request_is_held_until_a_leader_appears() -> None:
    consensus = Consensus(leader=None)
    fwd = forwarder(consensus, leader_pool(Local()))
    call = asyncio.create_task(fwd.run("KVS.Apply", WRITE, Local()))
    await asyncio.sleep(0.05)
    assert not call.done()
    consensus.leader = LEADER
    assert await call is True


async def test_without_a_leader_the_hold_ends_with_no_cluster_leader() -> None:
    with pytest.raises(LeaderUnavailable, match="No cluster leader"):
        await forwarder(Consensus(), hold=0.05).run("KVS.Apply", WRITE, Local())


async def test_a_leaving_server_stops_holding_at_once() -> None:
    fwd = forwarder(Consensus())
    call = asyncio.create_task(fwd.run("KVS.Apply", WRITE, Local()))
    await asyncio.sleep(0.05)
    fwd.stop_holding()
    with pytest.raises(LeaderUnavailable):
        await call


async def test_leader_unreachable_or_leaving_is_retried() -> None:
    pool = leader_pool(Local())
    pool.fail(LEADER, RPCError(ERR_SERVER_LEAVING))
    pool.down(LEADER)
    fwd = forwarder(Consensus(leader=LEADER), pool)
    call = asyncio.create_task(fwd.run("KVS.Apply", WRITE, Local()))
    while len(pool.calls) < 3:  # leaving, then dial errors: the write was never sent
        await asyncio.sleep(0.01)
    pool.up(LEADER)
    assert await call is True


async def test_a_write_cut_off_mid_call_is_not_retried_but_a_read_is() -> None:
    pool = leader_pool(Local(IndexedDirEntries(Index=3)))
    pool.fail(LEADER, RPCConnectionError("connection closed awaiting reply"), times=2)
    fwd = forwarder(Consensus(leader=LEADER), pool)
    with pytest.raises(ConsulError, match="rpc error forwarding KVS.Apply"):
        await fwd.run("KVS.Apply", WRITE, Local())
    assert (await fwd.run("KVS.Get", KeyRequest(Key="k"), Local())).Index == 3
    assert len(pool.calls) == 3


async def test_other_remote_errors_reach_the_caller_once() -> None:
    pool = leader_pool(Local())
    pool.fail(LEADER, RPCError("Invalid KVS operation 'bogus'"))
    with pytest.raises(RPCError, match="Invalid KVS operation"):
        await forwarder(Consensus(leader=LEADER), pool).run("KVS.Apply", KVSRequest(Op="bogus", DirEnt=DirEntry(Key="k")), Local())
    assert len(pool.calls) == 1
