"""The gateway locator: its pure core (which gateway for which datacenter, rotation on
failure, nothing stale kept, the ``primary_gateways`` entries it takes) and its driver
on an in-process server (follows the federation states, leaks no task under churn)."""

from __future__ import annotations

import asyncio
import random

from proconsul.lib.routine import RoutineManager
from proconsul.server.federation.locator import (
    GatewayLocator,
    LocatorDriver,
    dial_address,
    primary_gateway_entries,
)
from proconsul.server.server import Server, ServerConfig
from proconsul.structs.catalog import (
    CheckServiceNode,
    HealthCheck,
    Node,
    NodeService,
    RegisterRequest,
    ServiceAddress,
)
from proconsul.structs.federation_state import FederationState, FederationStateRequest
from tests.support.in_process_server import wait_for

WANFED = {"consul-wan-federation": "1"}


def gateway(address: str, wan: str = "", meta=WANFED, status: str = "passing",
            node: str = "gw") -> CheckServiceNode:
    host, port = address.split(":")
    tagged = {}
    if wan:
        wan_host, wan_port = wan.split(":")
        tagged = {"wan": ServiceAddress(Address=wan_host, Port=int(wan_port))}
    return CheckServiceNode(
        Node=Node(Node=node, Address=host),
        Service=NodeService(Kind="mesh-gateway", Service="mesh-gateway", Address=host,
                            Port=int(port), Meta=dict(meta), TaggedAddresses=tagged),
        Checks=[HealthCheck(Node=node, CheckID="c", Status=status)])


def state(dc: str, *rows: CheckServiceNode) -> FederationState:
    return FederationState(Datacenter=dc, MeshGateways=list(rows))


def locator(dc: str = "dc2", primary: str = "dc1") -> GatewayLocator:
    return GatewayLocator(dc, primary, random.Random(7))


def test_address_is_wan_for_remote_lan_for_local_and_only_for_healthy_wanfed_gateways():
    row = gateway("10.0.0.1:8443", wan="192.0.2.9:443")
    assert dial_address(row, wan=True) == "192.0.2.9:443"
    assert dial_address(row, wan=False) == "10.0.0.1:8443"
    assert dial_address(gateway("10.0.0.1:8443", meta={}), wan=True) is None
    assert dial_address(gateway("10.0.0.1:8443", status="critical"), wan=True) is None
    assert dial_address(gateway("10.0.0.1:8443", status="warning"), wan=True) == \
        "10.0.0.1:8443"


def test_the_primary_is_reached_through_its_state_else_the_fallback():
    loc = locator()
    assert loc.pick("dc1") is None
    loc.set_fallback(["127.0.0.9:443"])
    assert loc.pick("dc1") == "127.0.0.9:443"
    loc.update([state("dc1", gateway("10.1.0.1:8443"))], [])
    assert loc.pick("dc1") == "10.1.0.1:8443"  # the listed gateway, not the fallback
    loc.failed("dc1", "10.1.0.1:8443")
    assert loc.pick("dc1") == "127.0.0.9:443"  # the listed one failed: the fallback too
    assert loc.chosen("dc1") == "127.0.0.9:443"


def test_the_primarys_gateways_listed_critical_are_tried_once_nothing_else_answers():
    """A secondary's copy of the primary's state comes through the primary's gateways:
    if it lists the only gateway left with a critical check (one whose first check had
    not run yet when the old one went away), that one must still be tried, or the
    secondary never learns that the check passed."""
    loc = locator()
    loc.set_fallback(["127.0.0.9:443"])
    loc.update([state("dc1", gateway("10.1.0.1:8443"),
                      gateway("10.1.0.7:8443", status="critical", node="gw7"))], [])
    assert loc.candidates("dc1") == ("10.1.0.1:8443",)  # a healthy one: only that one
    loc.update([state("dc1", gateway("10.1.0.7:8443", status="critical", node="gw7"))], [])
    first = loc.pick("dc1")
    loc.failed("dc1", first)
    assert {first, loc.pick("dc1")} == {"127.0.0.9:443", "10.1.0.7:8443"}
    loc.update([state("dc1", gateway("10.1.0.7:8443", node="gw7"))], [])  # it passed
    assert loc.candidates("dc1") == ("10.1.0.7:8443",)
    assert loc.critical == ()


def test_own_datacenter_never_goes_through_a_gateway():
    loc = locator()
    loc.update([state("dc2", gateway("10.2.0.1:8443"))], [gateway("10.2.0.1:8443")])
    assert loc.pick("dc2") is None
    assert loc.candidates("dc2") == ()


def test_other_datacenters_through_our_gateways_else_their_own():
    loc = locator()
    loc.update([state("dc1", gateway("10.1.0.1:8443")), state("dc3", gateway("10.3.0.1:1"))],
               [])
    assert loc.pick("dc3") == "10.3.0.1:1"  # no gateway of ours yet: dc3's own
    loc.update([state("dc1", gateway("10.1.0.1:8443")), state("dc3", gateway("10.3.0.1:1"))],
               [gateway("10.2.0.5:8443")])
    assert loc.pick("dc3") == "10.2.0.5:8443"  # ours routes server.dc3.<domain> on
    assert loc.pick("dc4") == "10.2.0.5:8443"
    assert loc.pick("dc1") == "10.1.0.1:8443"  # the primary: through its own gateways


def test_choice_sticks_until_a_dial_fails_then_rotates_through_all():
    loc = locator()
    three = [gateway(f"10.1.0.{i}:8443", node=f"gw{i}") for i in (1, 2, 3)]
    loc.update([state("dc1", *three)], [])
    first = loc.pick("dc1")
    assert all(loc.pick("dc1") == first for _ in range(10))
    seen = [first]
    for _ in range(2):
        loc.failed("dc1", seen[-1])
        seen.append(loc.pick("dc1"))
    assert sorted(seen) == ["10.1.0.1:8443", "10.1.0.2:8443", "10.1.0.3:8443"]
    loc.failed("dc1", seen[-1])
    assert loc.pick("dc1") in seen  # every one failed: a new round over all of them


def test_gateways_that_move_are_forgotten_with_their_failures():
    loc = locator()
    loc.update([state("dc1", gateway("10.1.0.1:8443"))], [])
    loc.failed("dc1", "10.1.0.1:8443")
    loc.update([state("dc1", gateway("10.1.0.7:8443"))], [])  # all of dc1's gateways moved
    assert loc.pick("dc1") == "10.1.0.7:8443"
    assert loc._choices["dc1"].failed == set()
    loc.update([state("dc1", gateway("10.1.0.1:8443"))], [])  # back at the old address
    assert loc.pick("dc1") == "10.1.0.1:8443"  # its old failure was not kept


def test_primary_gateways_entries_are_kept_as_given_when_they_are_host_port():
    got = primary_gateway_entries(["127.0.0.5:8443", "gw.example.com:443", "[::1]:7",
                                  "127.0.0.6", "::1", "provider=aws tag_key=x"])
    assert got == ["127.0.0.5:8443", "[::1]:7", "gw.example.com:443"]


async def apply_state(server: Server, dc: str, *rows: CheckServiceNode) -> None:
    await server.rpc("FederationState.Apply", FederationStateRequest(
        Op="upsert", State=state(dc, *rows)))


async def primary_server():
    srv = Server(ServerConfig(datacenter="dc1"))
    srv.start()
    return srv


async def test_driver_follows_states_and_local_gateways():
    srv = await primary_server()  # dc1 is the primary here: states are written locally
    try:
        loc = GatewayLocator("dc1", "dc1", random.Random(1))
        driver = LocatorDriver(srv, loc)
        task = asyncio.create_task(driver.watch())
        await apply_state(srv, "dc2", gateway("10.2.0.1:8443", wan="198.51.100.2:443"))
        await wait_for(lambda: loc.pick("dc2") == "198.51.100.2:443")
        await srv.rpc("Catalog.Register", RegisterRequest(
            Node="gw1", Address="10.1.0.1", Service=NodeService(
                Service="mesh-gateway", Kind="mesh-gateway", Port=8443, Meta=WANFED)))
        await wait_for(lambda: loc.local == ("10.1.0.1:8443",))
        assert loc.pick("dc2") == "10.1.0.1:8443"  # our own gateway now routes dc2
        await apply_state(srv, "dc2", gateway("10.2.0.2:8443", wan="198.51.100.3:443"))
        await wait_for(lambda: loc.remote.get("dc2") == ("198.51.100.3:443",))
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        await srv.stop()


async def test_locator_churn_leaks_no_task():
    srv = await primary_server()
    try:
        await asyncio.sleep(0.1)  # let the server's own start-up tasks settle
        before = {t for t in asyncio.all_tasks() if not t.done()}
        blocking = srv.blocking_queries  # the leader's anti-entropy waits on the store too
        for round_ in range(20):
            loc = GatewayLocator("dc1", "dc1", random.Random(round_))
            driver = LocatorDriver(srv, loc)
            routines = RoutineManager()
            routines.start("gateway-locator", driver.watch)
            await apply_state(srv, f"dc{round_ + 10}", gateway(f"10.9.0.{round_}:8443"))
            await wait_for(lambda r=round_, lo=loc: lo.pick(f"dc{r + 10}") is not None)
            await routines.stop_all()
        await asyncio.sleep(0.05)
        after = {t for t in asyncio.all_tasks() if not t.done()}
        leaked = after - before - {asyncio.current_task()}
        assert not leaked, leaked
        assert srv.blocking_queries == blocking
    finally:
        await srv.stop()
