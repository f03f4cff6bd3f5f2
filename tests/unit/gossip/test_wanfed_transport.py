"""The wanfed transport over real sockets: same-datacenter gossip goes out directly,
other-datacenter gossip only through the dialer (here plain TCP to per-member
listeners that serve the packet and stream protocols as the server port does),
packets framed on one reused connection per destination."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from proconsul.gossip.driver import GossipDriver
from proconsul.gossip.memberlist import MemberlistConfig
from proconsul.gossip.serf import MemberStatus, Serf, SerfConfig
from proconsul.gossip.transport import NetTransport
from proconsul.gossip.wanfed import (
    ALPN_PACKET,
    ALPN_STREAM,
    WanfedTransport,
    split_node_name,
)
from proconsul.rpc import wanfed as rpc_wanfed
from proconsul.rpc.conn import StreamConn

HOST = "127.0.0.1"
ROUNDS = 3  # writes awaited on every link before checking which way gossip went


def test_split_node_name_needs_exactly_one_dot():
    assert split_node_name("s1.dc2") == ("s1", "dc2")
    assert split_node_name("*.dc1") == ("*", "dc1")
    for bad in ("s1", "s1.example.dc2", ".dc1", "s1."):
        with pytest.raises(ValueError, match="node name does not encode a datacenter"):
            split_node_name(bad)


class CountingTransport(NetTransport):
    """The plain transport, remembering where it sent packets and streams."""

    def __init__(self) -> None:
        super().__init__(HOST, 0)
        self.sent: Counter = Counter()

    def send_packet(self, addr, data) -> None:
        self.sent[addr] += 1
        super().send_packet(addr, data)

    async def connect(self, addr, timeout):
        self.sent[addr] += 1
        return await super().connect(addr, timeout)


class Site:
    """One WAN member: its driver and the listeners standing in for its server port."""

    def __init__(self, name: str, hub: Hub) -> None:
        self.name = name
        self.dc = split_node_name(name)[1]
        self.direct = CountingTransport()
        ml = MemberlistConfig.local(name, bind_addr=HOST, bind_port=0)
        self.serf = Serf(SerfConfig(memberlist=ml), random.Random(name))
        self.transport = WanfedTransport(self.direct, self.dc,
                                         lambda dc, node, alpn: hub.dial(name, dc, node, alpn),
                                         self.name_of, idle_timeout=30)
        self.driver = GossipDriver(self.serf, self.transport)
        self.servers: dict[str, asyncio.base_events.Server] = {}

    def name_of(self, addr):
        return next((m.name for m in self.serf.members.values()
                     if (m.addr, m.port) == addr), None)

    @property
    def address(self):
        return (HOST, self.transport.port)

    async def start(self) -> None:
        await self.driver.start()
        for alpn in (ALPN_PACKET, ALPN_STREAM):
            self.servers[alpn] = await asyncio.start_server(
                lambda r, w, alpn=alpn: self._serve(alpn, StreamConn(r, w)), HOST, 0)

    async def _serve(self, alpn: str, conn: StreamConn) -> None:
        try:
            if alpn == ALPN_PACKET:
                await rpc_wanfed.serve_packets(conn, self.transport, conn.peername)
            else:
                await rpc_wanfed.serve_stream(conn, self.transport)
        finally:
            await conn.close()

    async def stop(self) -> None:
        for server in self.servers.values():
            server.close()
        await self.driver.stop()


class Hub:
    """Dials members of other datacenters, counting (datacenter, node, alpn), and the
    writes on each packet link by (from, to)."""

    def __init__(self) -> None:
        self.sites: dict[str, Site] = {}
        self.dials: Counter = Counter()
        self.carried: Counter = Counter()
        self.written = asyncio.Event()  # set by every write on a packet link

    async def dial(self, origin: str, dc: str, node: str, alpn: str):
        self.dials[(dc, node, alpn)] += 1
        site = self.sites.get(f"{node}.{dc}") if node != "*" else next(
            s for s in self.sites.values() if s.dc == dc)
        port = site.servers[alpn].sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection(HOST, port)
        if alpn == ALPN_STREAM:
            return StreamConn(reader, writer)
        return CountedLink(reader, writer, self, (origin, site.name))

    async def wait_for(self, predicate, timeout: float) -> None:
        """Until ``predicate()`` holds, checked after each write on a packet link."""
        async with asyncio.timeout(timeout):
            while not predicate():
                self.written.clear()
                await self.written.wait()


class CountedLink(StreamConn):
    """A packet link's connection, counting its writes in the hub."""

    def __init__(self, reader, writer, hub: Hub, route: tuple[str, str]) -> None:
        super().__init__(reader, writer)
        self.hub, self.route = hub, route

    async def write(self, data: bytes) -> None:
        await super().write(data)
        self.hub.carried[self.route] += 1
        self.hub.written.set()


def all_alive(site: Site, names: list[str]) -> bool:
    members = site.serf.members
    return all(n in members and members[n].status == MemberStatus.ALIVE for n in names)


async def test_other_datacenter_gossip_goes_only_through_the_dialer():
    hub = Hub()
    names = ["a.dc1", "c.dc1", "b.dc2"]
    for name in names:
        hub.sites[name] = Site(name, hub)
    a, c, b = (hub.sites[n] for n in names)
    for site in hub.sites.values():
        await site.start()
    try:
        assert await c.driver.join([a.address]) == 1  # same datacenter: direct
        assert not hub.dials
        assert await b.driver.join([b.transport.placeholder("dc1")]) == 1
        assert hub.dials[("dc1", "*", ALPN_STREAM)] == 1
        for site in (a, b, c):
            assert await site.driver.wait_for(lambda s=site: all_alive(s, names), 10)
        # a few probe rounds: every member of the other datacenter reached through its
        # packet link several times (and dc1's members each other directly), then none
        # of them was ever reached directly
        links = [(x, y) for x in names for y in names
                 if split_node_name(x)[1] != split_node_name(y)[1]]
        await hub.wait_for(lambda: all(hub.carried[link] >= ROUNDS for link in links)
                           and a.direct.sent[c.address] and c.direct.sent[a.address], 20)
        for site in (a, b, c):
            assert all_alive(site, names)
        assert not a.direct.sent[b.address] and not c.direct.sent[b.address]
        assert not b.direct.sent[a.address] and not b.direct.sent[c.address]
        assert a.direct.sent[c.address] and c.direct.sent[a.address]
        for dc, node in (("dc1", "a"), ("dc1", "c"), ("dc2", "b")):
            assert hub.dials[(dc, node, ALPN_PACKET)] == (2 if dc == "dc2" else 1), hub.dials
        assert b.transport.packet_links == ["a.dc1", "c.dc1"]
    finally:
        for site in hub.sites.values():
            await site.stop()
    assert all(not s.transport.packet_links for s in hub.sites.values())


async def test_packet_link_frames_reuses_and_drops_on_dial_failure():
    received: list[bytes] = []
    framer = rpc_wanfed.PacketFramer()
    dials: list[str] = []

    async def serve(reader, writer):
        while data := await reader.read(65536):
            received.extend(framer.feed(data))
        writer.close()

    server = await asyncio.start_server(serve, HOST, 0)
    port = server.sockets[0].getsockname()[1]

    async def dial(dc: str, node: str, alpn: str):
        dials.append(node)
        if node == "down":
            raise ConnectionRefusedError("gateway refused")
        return StreamConn(*await asyncio.open_connection(HOST, port))

    tasks_before = asyncio.all_tasks()
    names = {("10.0.0.1", 1): "s1.dc2", ("10.0.0.2", 1): "down.dc2"}
    transport = WanfedTransport(NetTransport(HOST, 0), "dc1", dial, names.get,
                                idle_timeout=0.3)
    await transport.start(lambda d, a: None, lambda r, w: asyncio.sleep(0))
    try:
        packets = [bytes([i]) * (i * 100) for i in range(1, 30)]
        for packet in packets:
            transport.send_packet(("10.0.0.1", 1), packet)
        transport.send_packet(("10.0.0.2", 1), b"lost")
        async with asyncio.timeout(5):
            while len(received) < len(packets) or transport.packet_links:
                await asyncio.sleep(0.01)
        assert received == packets
        assert sorted(dials) == ["down", "s1"]  # one connection for all 29 packets
        transport.send_packet(("10.0.0.1", 1), b"again")  # the idle link closed: a new one
        async with asyncio.timeout(5):
            while received[-1] != b"again":
                await asyncio.sleep(0.01)
        assert dials.count("s1") == 2
    finally:
        await transport.close()
        server.close()
        await server.wait_closed()
    await asyncio.sleep(0.01)
    leaked = {t for t in asyncio.all_tasks() if not t.done()} - tasks_before
    assert not leaked, leaked
