"""Forwarder: where each request runs, holding while there is no leader."""

from __future__ import annotations

import asyncio
import random

import pytest

from proconsul.rpc.errors import RPCConnectionError, RPCError
from proconsul.rpc.pool import FakePool
from proconsul.server import forward
from proconsul.server.forward import Forwarder, LeaderUnavailable
from proconsul.server.reconcile import MemberState
from proconsul.server.wan_router import WANRouter
from proconsul.structs.errors import (
    ERR_DC_NOT_AVAILABLE,
    ERR_NO_PATH_TO_DC,
    ERR_SERVER_LEAVING,
    ConsulError,
)
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


# ---- other datacenters -------------------------------------------------------

DC2_A, DC2_B = "10.0.2.1:8300", "10.0.2.2:8300"


def wan_forwarder(pool: FakePool, *servers: str, hold: float = 7.0) -> Forwarder:
    fwd = forwarder(Consensus(leader=LEADER), pool, hold=hold)
    fwd.wan = WANRouter("dc1", random.Random(1))
    fwd.wan.update([MemberState(f"s{i}.dc2", address.partition(":")[0],
                                {"role": "consul", "dc": "dc2", "port": "8300"}, "alive")
                    for i, address in enumerate(servers)])
    return fwd


def dc2_pool(*addresses: str) -> tuple[FakePool, list]:
    seen: list = []
    pool = FakePool()

    async def remote(request):
        seen.append(request)
        if isinstance(request, KVSRequest):
            return True
        return IndexedDirEntries(Index=42, KnownLeader=True, LastContact=5)

    for address in addresses:
        pool.register(address, "KVS.Get", remote, KeyRequest)
        pool.register(address, "KVS.Apply", remote, KVSRequest)
    return pool, seen


async def test_a_request_for_another_datacenter_runs_on_one_of_its_servers() -> None:
    pool, seen = dc2_pool(DC2_A, DC2_B)
    local = Local()
    reply = await wan_forwarder(pool, DC2_A, DC2_B).run(
        "KVS.Get", KeyRequest(Key="k", Datacenter="dc2", AllowStale=True), local)
    assert (reply.Index, reply.KnownLeader, reply.LastContact) == (42, True, 5)
    assert not local.calls and seen[0].Datacenter == "dc2"
    assert pool.calls[0][0] in (DC2_A, DC2_B)


async def test_an_unknown_datacenter_has_no_path() -> None:
    pool, _ = dc2_pool(DC2_A)
    with pytest.raises(ConsulError, match=ERR_NO_PATH_TO_DC):
        await wan_forwarder(pool, DC2_A).run("KVS.Get", KeyRequest(Datacenter="dc9"), Local())


async def test_a_server_that_cannot_be_dialled_is_skipped_for_the_next() -> None:
    pool, seen = dc2_pool(DC2_A, DC2_B)
    fwd = wan_forwarder(pool, DC2_A, DC2_B)
    first = fwd.wan.find("dc2")
    pool.down(first)
    await fwd.run("KVS.Apply", KVSRequest(Op="set", Datacenter="dc2",
                                          DirEnt=DirEntry(Key="k")), Local())
    assert len(seen) == 1 and fwd.wan.unreachable() == [("dc2", first)]
    # The next request goes straight to the server that answers.
    await fwd.run("KVS.Get", KeyRequest(Datacenter="dc2"), Local())
    assert [c[0] for c in pool.calls].count(first) == 1


async def test_when_no_server_answers_the_datacenter_fails_fast() -> None:
    pool, _ = dc2_pool(DC2_A, DC2_B)
    fwd = wan_forwarder(pool, DC2_A, DC2_B)
    pool.down(DC2_A)
    pool.down(DC2_B)
    with pytest.raises(ConsulError, match="rpc error forwarding KVS.Get to datacenter dc2"):
        await fwd.run("KVS.Get", KeyRequest(Datacenter="dc2"), Local())
    calls = len(pool.calls)
    with pytest.raises(ConsulError, match=ERR_DC_NOT_AVAILABLE):
        await fwd.run("KVS.Get", KeyRequest(Datacenter="dc2"), Local())
    assert len(pool.calls) == calls  # nothing dialled: failed at once


async def test_a_remote_call_that_times_out_marks_the_server_and_drops_its_connection(
        monkeypatch) -> None:
    monkeypatch.setattr(forward, "WAN_WATCH_INTERVAL", 0.02)
    pool = FakePool()

    async def stuck(request):
        await asyncio.sleep(10)

    async def pong(request):
        return True

    pool.register(DC2_A, "KVS.Get", stuck, KeyRequest)
    pool.register(DC2_A, "Status.Ping", pong)
    fwd = wan_forwarder(pool, DC2_A, hold=0.05)
    with pytest.raises(ConsulError, match="rpc error forwarding KVS.Get to datacenter dc2"):
        await fwd.run("KVS.Get", KeyRequest(Datacenter="dc2"), Local())
    assert pool.dropped == [DC2_A] and fwd.wan.unreachable() == [("dc2", DC2_A)]
    assert [c[1] for c in pool.calls].count("Status.Ping") > 5  # it answered while waiting


async def test_a_server_that_goes_silent_fails_the_call_early_and_its_dc_is_probed(
        monkeypatch) -> None:
    monkeypatch.setattr(forward, "WAN_WATCH_INTERVAL", 0.02)
    monkeypatch.setattr(forward, "WAN_PING_TIMEOUT", 0.05)
    pool = FakePool()

    async def stuck(request):
        await asyncio.sleep(10)

    for address in (DC2_A, DC2_B):
        pool.register(address, "KVS.Apply", stuck, KVSRequest)
        pool.register(address, "Status.Ping", stuck)
    fwd = wan_forwarder(pool, DC2_A, DC2_B)  # hold 7 s: the call's own timeout is 9 s
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(ConsulError, match="stopped answering while KVS.Apply waited"):
        await fwd.run("KVS.Apply", KVSRequest(Op="set", Datacenter="dc2",
                                              DirEnt=DirEntry(Key="k")), Local())
    assert loop.time() - started < 1.0
    assert sorted(pool.dropped) == [DC2_A, DC2_B]  # the other was probed, silent too
    with pytest.raises(ConsulError, match=ERR_DC_NOT_AVAILABLE):
        await fwd.run("KVS.Get", KeyRequest(Datacenter="dc2"), Local())


async def test_a_broken_connection_fails_a_remote_write_but_retries_a_read() -> None:
    pool, seen = dc2_pool(DC2_A, DC2_B)
    fwd = wan_forwarder(pool, DC2_A, DC2_B)
    first = fwd.wan.find("dc2")
    pool.fail(first, RPCConnectionError("connection reset"))
    with pytest.raises(ConsulError, match="connection reset"):
        await fwd.run("KVS.Apply", KVSRequest(Op="set", Datacenter="dc2",
                                              DirEnt=DirEntry(Key="k")), Local())
    assert not seen
    second = fwd.wan.find("dc2")
    pool.fail(second, RPCConnectionError("connection reset"))
    await fwd.run("KVS.Get", KeyRequest(Datacenter="dc2"), Local())
    assert len(seen) == 1


async def test_remote_errors_come_back_as_they_are() -> None:
    pool = FakePool()

    async def refuse(request):
        raise ConsulError("Permission denied")

    pool.register(DC2_A, "KVS.Get", refuse, KeyRequest)
    with pytest.raises(RPCError, match="Permission denied") as caught:
        await wan_forwarder(pool, DC2_A).run("KVS.Get", KeyRequest(Datacenter="dc2"), Local())
    assert caught.value.status == 403


async def test_a_status_request_as_a_dict_names_its_datacenter() -> None:
    pool = FakePool()

    async def leader(request):
        return "10.0.2.1:8300"

    pool.register(DC2_A, "Status.Leader", leader)
    reply = await wan_forwarder(pool, DC2_A).run("Status.Leader", {"Datacenter": "dc2"},
                                                 Local("local"))
    assert reply == "10.0.2.1:8300"


async def test_calls_waiting_on_one_server_share_its_pings(monkeypatch) -> None:
    monkeypatch.setattr(forward, "WAN_WATCH_INTERVAL", 0.05)
    pool = FakePool()
    release = asyncio.Event()

    async def blocked(request):
        await release.wait()
        return IndexedDirEntries(Index=2)

    async def pong(request):
        return True

    pool.register(DC2_A, "KVS.Get", blocked, KeyRequest)
    pool.register(DC2_A, "Status.Ping", pong)
    fwd = wan_forwarder(pool, DC2_A)
    calls = [asyncio.create_task(fwd.run("KVS.Get", KeyRequest(Datacenter="dc2"), Local()))
             for _ in range(50)]
    await asyncio.sleep(0.5)  # about ten watch intervals
    release.set()
    assert all(reply.Index == 2 for reply in await asyncio.gather(*calls))
    pings = [c for c in pool.calls if c[1] == "Status.Ping"]
    assert 3 <= len(pings) <= 12  # one per interval, not one per call per interval
