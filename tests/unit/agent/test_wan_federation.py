"""A wanfed server's glue: forwarding to a datacenter no gateway leads to fails with
Consul's error, dialling through a gateway needs TLS, a dial that fails rotates the
locator, and the secondary's WAN join waits for a gateway of the primary."""

from __future__ import annotations

import asyncio

import pytest

from proconsul.agent.config.builder import build
from proconsul.agent.wan_federation import NO_TLS, WANFederation
from proconsul.gossip.transport import NetTransport
from proconsul.rpc.errors import RPCDialError
from proconsul.server.server import Server, ServerConfig
from proconsul.structs.errors import ConsulError
from proconsul.structs.requests import DCSpecificRequest

TREE = {"data_dir": "/d", "server": True, "datacenter": "dc2", "primary_datacenter": "dc1",
        "connect": {"enabled": True, "enable_mesh_gateway_wan_federation": True},
        "primary_gateways": ["127.0.0.1:1"]}


@pytest.fixture
async def wanfed():
    config = build(dict(TREE)).finish()
    server = Server(ServerConfig(datacenter="dc2", primary_datacenter="dc1"))
    server.start()
    fed = WANFederation(config, server)
    yield fed
    await fed.close()
    await server.stop()


async def test_no_gateway_for_a_datacenter_is_consuls_error(wanfed):
    assert wanfed.joins_primary
    with pytest.raises(ConsulError, match="Remote DC has no server currently reachable"):
        await wanfed.server.forwarder.forward_dc("dc3", "Status.Leader",
                                                 DCSpecificRequest(Datacenter="dc3"))
    with pytest.raises(ConnectionError, match="Remote DC has no server currently reachable"):
        await wanfed.dial("dc3", "s1", "consul/wan-gossip/packet")


async def test_without_tls_the_dial_fails_and_the_gateway_is_rotated(wanfed):
    assert wanfed.locator.fallback == ("127.0.0.1:1",)  # from primary_gateways
    wanfed.locator.set_fallback(["127.0.0.1:1", "127.0.0.1:2"])
    first = wanfed.locator.pick("dc1")
    with pytest.raises(RPCDialError, match=NO_TLS):
        await wanfed.dial("dc1", "*", "consul/wan-gossip/stream")
    assert wanfed.locator.pick("dc1") != first
    with pytest.raises(ConsulError, match="through gateway"):
        await wanfed.server.forwarder.forward_dc("dc1", "Status.Leader",
                                                 DCSpecificRequest(Datacenter="dc1"))


async def test_the_wan_join_waits_for_a_gateway_of_the_primary(wanfed):
    transport = wanfed.wan_transport(NetTransport("127.0.0.1", 0), NoMembers())
    assert transport.route(transport.placeholder("dc1")) == ("*", "dc1")
    assert transport.route(("127.0.0.1", 8302)) is None  # nobody known there: direct
    joins: list = []

    class Driver:
        async def join(self, addresses):
            joins.append(addresses)
            return 1

    wanfed.locator.set_fallback([])  # as if primary_gateways had no usable entry
    task = asyncio.create_task(wanfed._join_primary(Driver()))
    await asyncio.sleep(0.05)
    assert not joins  # no gateway of dc1 known yet
    wanfed.locator.set_fallback(["127.0.0.1:1"])
    await asyncio.wait_for(task, 5)
    assert joins == [[transport.placeholder("dc1")]]


class NoMembers:
    """A serf core with no members yet."""

    def __init__(self) -> None:
        self.members: dict = {}
