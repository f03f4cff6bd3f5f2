"""The asyncio driver over real sockets on 127.0.0.1 (two Proconsul serf pools)."""

import asyncio
import random

import pytest

from proconsul.gossip.driver import GossipDriver, JoinError, SnapshotFile
from proconsul.gossip.keyring import Keyring
from proconsul.gossip.memberlist import MemberlistConfig
from proconsul.gossip.serf import (
    MemberStatus,
    QueryEvent,
    QueryParams,
    QueryResponseEvent,
    Serf,
    SerfConfig,
    UserEvent,
)
from proconsul.gossip.transport import NetTransport
from proconsul.gossip.wire import NodeState


def make_driver(name: str, tmp_path=None, key: bytes | None = None) -> tuple[GossipDriver, list]:
    ml = MemberlistConfig.local(name, bind_addr="127.0.0.1", bind_port=0,
                                keyring=Keyring([key]) if key else None)
    serf = Serf(SerfConfig(memberlist=ml, tags={"name": name}, leave_propagate_delay=0.2),
                random.Random(name))
    snapshot = SnapshotFile(tmp_path / f"{name}.snapshot") if tmp_path else None
    driver = GossipDriver(serf, NetTransport("127.0.0.1", 0), snapshot=snapshot)
    events: list = []
    driver.subscribe(events.append)
    return driver, events


def status(driver: GossipDriver, name: str):
    member = driver.serf.members.get(name)
    return None if member is None else member.status


async def test_two_pools_join_event_query_leave(tmp_path):
    a, a_events = make_driver("a", tmp_path, key=bytes(16))
    b, b_events = make_driver("b", tmp_path, key=bytes(16))
    await a.start()
    await b.start()
    try:
        assert await b.join([("127.0.0.1", a.transport.port)]) == 1
        assert await a.wait_for(lambda: status(a, "b") == MemberStatus.ALIVE, 5.0)
        assert a.serf.members["b"].tags == {"name": "b"}

        b.user_event("hello", b"world")
        assert await a.wait_for(
            lambda: any(isinstance(e, UserEvent) and e.name == "hello" for e in a_events), 5.0)

        a.query("ask", b"", QueryParams(timeout=2.0))
        assert await b.wait_for(lambda: any(isinstance(e, QueryEvent) for e in b_events), 5.0)
        query = next(e for e in b_events if isinstance(e, QueryEvent))
        b.respond(query, b"answer")
        assert await a.wait_for(lambda: any(
            isinstance(e, QueryResponseEvent) and e.payload == b"answer" for e in a_events), 5.0)

        await b.leave()
        assert await a.wait_for(lambda: status(a, "b") == MemberStatus.LEFT, 5.0)
    finally:
        await a.stop()
        await b.stop()
    text = (tmp_path / "a.snapshot").read_text()
    assert "alive: b 127.0.0.1:" in text and "not-alive: b" in text
    assert "leave" in (tmp_path / "b.snapshot").read_text().splitlines()


async def test_join_nothing_listening_raises():
    a, _ = make_driver("solo")
    await a.start()
    try:
        probe = NetTransport("127.0.0.1", 0)
        await probe.start(lambda d, s: None, lambda r, w: None)
        dead_port = probe.port
        await probe.close()
        with pytest.raises(JoinError):
            await a.join([("127.0.0.1", dead_port)])
    finally:
        await a.stop()


async def test_snapshot_restart_rejoins(tmp_path):
    a, _ = make_driver("a", tmp_path)
    b, _ = make_driver("b", tmp_path)
    await a.start()
    await b.start()
    try:
        await b.join([("127.0.0.1", a.transport.port)])
        assert await a.wait_for(lambda: status(a, "b") == MemberStatus.ALIVE, 5.0)
        await b.stop()  # crash: no leave record
        snap = SnapshotFile(tmp_path / "b.snapshot")
        state = snap.load()
        assert "a" in state.alive
        ml = MemberlistConfig.local("b", bind_addr="127.0.0.1", bind_port=0)
        serf = Serf(SerfConfig(memberlist=ml), random.Random(5), snapshot=state)
        b = GossipDriver(serf, NetTransport("127.0.0.1", 0), snapshot=snap)
        await b.start()
        assert await b.wait_for(lambda: status(b, "a") == MemberStatus.ALIVE, 5.0)
    finally:
        await a.stop()
        await b.stop()


async def test_transport_reports_port_unreachable_for_a_closed_port():
    closed = NetTransport("127.0.0.1", 0)
    await closed.start(lambda d, s: None, lambda r, w: None)
    dead_port = closed.port
    await closed.close()
    reports: asyncio.Queue = asyncio.Queue()
    sender = NetTransport("127.0.0.1", 0)
    await sender.start(lambda d, s: None, lambda r, w: None, reports.put_nowait)
    try:
        sender.send_packet(("127.0.0.1", dead_port), b"ping")
        assert await asyncio.wait_for(reports.get(), 5.0) == ("127.0.0.1", dead_port)
    finally:
        await sender.close()


async def test_stopped_pool_is_suspected_through_port_unreachable():
    a, _ = make_driver("a")
    b, _ = make_driver("b")
    await a.start()
    await b.start()
    try:
        await b.join([("127.0.0.1", a.transport.port)])
        assert await a.wait_for(lambda: status(a, "b") == MemberStatus.ALIVE, 5.0)
        await b.stop()  # its sockets close: the host now answers port unreachable
        ml = a.serf.memberlist
        assert await a.wait_for(lambda: ml.nodes["b"].state != NodeState.ALIVE, 10.0)
        assert ml.stats.probes_unreachable >= 1 and ml.awareness.score == 0
    finally:
        await a.stop()
