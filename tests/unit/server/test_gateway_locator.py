"""The gateway locator: its pure core (which gateway for which datacenter, rotation on
failure, nothing stale kept) and its driver on an in-process server (follows the
federation states, resolves ``primary_gateways``, leaks no task under churn)."""

from __future__ import annotations

import asyncio
import random

import pytest

from proconsul.lib.routine import RoutineManager
from proconsul.server.federation.locator import (
    GatewayLocator,
    LocatorDriver,
    gateway_address,
    resolve_gateways,
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
    assert gateway_address(row, wan=True) == "192.0.2.9:443"
    assert gateway_address(row, wan=False) == "10.0.0.1:8443"
    assert gateway_address(gateway("10.0.0.1:8443", meta={}), wan=True) is None
    assert gateway_address(gateway("10.0.0.1:8443", status="critical"), wan=True) is None
    assert gateway_address(gateway("10.0.0.1:8443", status="warning"), wan=True) == \
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


def test_own_datacenter_never_goes_through_a_gateway():
    loc = locator()
    loc.update([state("dc2", gateway("10.2.0.1:8443"))], [gateway("10.2.0.1:8443")])
    assert loc.pick("dc2") is None
    assert loc.candidates("dc2") == ()


def test_other_datacenters_through_their_own_gateways_else_ours():
    loc = locator()
    loc.update([state("dc1", gateway("10.1.0.1:8443")), state("dc3")],
               [gateway("10.2.0.5:8443")])
    assert loc.pick("dc3") == "10.2.0.5:8443"  # dc3 lists none: our gateway routes it
    loc.update([state("dc1", gateway("10.1.0.1:8443")), state("dc3", gateway("10.3.0.1:1"))],
               [gateway("10.2.0.5:8443")])
    assert loc.pick("dc3") == "10.3.0.1:1"
    assert loc.pick("dc4") == "10.2.0.5:8443"


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
    assert not loc.lost_primary()
    loc.failed("dc1", seen[-1])
    assert loc.lost_primary()
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


def test_lost_primary_only_in_a_secondary_and_counts_the_fallback():
    primary = locator("dc1")
    assert not primary.lost_primary()
    loc = locator()
    assert loc.lost_primary()  # nothing known at all
    loc.set_fallback(["127.0.0.9:443"])
    loc.update([state("dc1", gateway("10.1.0.1:8443"))], [])
    loc.failed("dc1", "10.1.0.1:8443")
    assert not loc.lost_primary()
    loc.failed("dc1", "127.0.0.9:443")
    assert loc.lost_primary()


async def test_resolve_gateways_takes_names_and_ips_and_skips_what_does_not_resolve():
    got = await resolve_gateways(["127.0.0.5:8443", "localhost:9", "[::1]:7", "127.0.0.6",
                                  "no-such-host.invalid:1", "provider=aws tag_key=x"])
    assert "127.0.0.5:8443" in got and "127.0.0.1:9" in got and "[::1]:7" in got
    assert "127.0.0.6:443" in got
    assert not any("invalid" in g or "provider" in g for g in got)


async def wait_for(condition, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@pytest.fixture
async def server():
    srv = Server(ServerConfig(datacenter="dc2", primary_datacenter="dc1"))
    srv.start()
    yield srv
    await srv.stop()


async def apply_state(server: Server, dc: str, *rows: CheckServiceNode) -> None:
    await server.rpc("FederationState.Apply", FederationStateRequest(
        Op="upsert", State=state(dc, *rows)))


def make_driver(server: Server, resolved: list[str] | None = None,
                interval: float = 0.05) -> tuple[LocatorDriver, list[int]]:
    calls: list[int] = []

    async def resolve() -> list[str]:
        calls.append(1)
        return list(resolved or [])

    loc = GatewayLocator("dc2", "dc1", random.Random(1))
    return LocatorDriver(server, loc, resolve, interval), calls


async def primary_server():
    srv = Server(ServerConfig(datacenter="dc1"))
    srv.start()
    return srv


async def test_driver_follows_states_and_local_gateways():
    srv = await primary_server()  # dc1 is the primary here: states are written locally
    try:
        loc = GatewayLocator("dc1", "dc1", random.Random(1))
        driver = LocatorDriver(srv, loc, lambda: asyncio.sleep(0, []))
        task = asyncio.create_task(driver.watch())
        await apply_state(srv, "dc2", gateway("10.2.0.1:8443", wan="198.51.100.2:443"))
        await wait_for(lambda: loc.pick("dc2") == "198.51.100.2:443")
        await srv.rpc("Catalog.Register", RegisterRequest(
            Node="gw1", Address="10.1.0.1", Service=NodeService(
                Service="mesh-gateway", Kind="mesh-gateway", Port=8443, Meta=WANFED)))
        await wait_for(lambda: loc.local == ("10.1.0.1:8443",))
        await apply_state(srv, "dc2", gateway("10.2.0.2:8443", wan="198.51.100.3:443"))
        await wait_for(lambda: loc.pick("dc2") == "198.51.100.3:443")
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        await srv.stop()


async def test_fallback_is_resolved_until_it_resolves_and_again_once_the_primary_is_lost(
        server):
    answers = [[], [], ["127.0.0.9:443"], ["127.0.0.10:443"]]

    async def resolve() -> list[str]:
        return answers.pop(0)

    loc = GatewayLocator("dc2", "dc1", random.Random(1))
    driver = LocatorDriver(server, loc, resolve, interval=0.01)
    task = asyncio.create_task(driver.resolve_fallback())
    await wait_for(lambda: loc.fallback == ("127.0.0.9:443",))
    await asyncio.sleep(0.05)
    assert answers == [["127.0.0.10:443"]]  # resolved, then it stopped resolving
    driver.failed("dc1", "127.0.0.9:443")  # the only one: the primary is lost
    await wait_for(lambda: loc.fallback == ("127.0.0.10:443",))
    assert loc.pick("dc1") == "127.0.0.10:443"
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_locator_churn_leaks_no_task():
    srv = await primary_server()
    try:
        await asyncio.sleep(0.1)  # let the server's own start-up tasks settle
        before = {t for t in asyncio.all_tasks() if not t.done()}
        blocking = srv.blocking_queries  # the leader's anti-entropy waits on the store too
        for round_ in range(20):
            loc = GatewayLocator("dc1", "dc1", random.Random(round_))
            driver = LocatorDriver(srv, loc, lambda: asyncio.sleep(0, ["127.0.0.9:1"]))
            routines = RoutineManager()
            routines.start("gateway-locator", driver.watch)
            routines.start("primary-gateways", driver.resolve_fallback)
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
