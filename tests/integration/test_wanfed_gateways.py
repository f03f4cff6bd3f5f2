"""WAN federation through mesh gateways with real servers on 127.0.0.x and an SNI relay
(tests/support/sni_relay.py) standing in for each datacenter's mesh gateway.

No server is given another datacenter's WAN address: the primary dc1 joins nobody,
the secondaries only know ``primary_gateways``.  The relays record every connection
(SNI, ALPN offered, source host), which shows that gossip and RPC between
datacenters went through them."""

from __future__ import annotations

import time

import pytest

from tests.support.agent_process import AgentProcess, next_loopback, wait_until
from tests.support.cli_process import run_cli
from tests.support.sni_relay import SNIRelay
from tests.support.wanfed_lab import DC, Federation, converged


@pytest.fixture
def fed(tmp_path):
    federation = Federation(tmp_path)
    try:
        yield federation
    finally:
        federation.close()


def answers(agent: AgentProcess, dc: DC) -> bool:
    """Whether ``agent`` lists ``dc``'s server among the nodes of ``?dc=<dc>``."""
    try:
        reply = agent.get(f"/v1/catalog/nodes?dc={dc.name}", timeout=15)
    except OSError:
        return False
    return reply.status == 200 and any(n["Node"] == dc.node for n in reply.json())


def states(agent: AgentProcess) -> list[str]:
    reply = agent.get("/v1/internal/federation-states")
    return sorted(s["Datacenter"] for s in reply.json()) if reply.status == 200 else []


def state_gateways(agent: AgentProcess, dc: str) -> list[str]:
    """The gateways (host:port) of ``dc``'s federation state as ``agent`` holds it."""
    reply = agent.get(f"/v1/internal/federation-state/{dc}")
    if reply.status != 200:
        return []
    return [f"{row['Service']['Address'] or row['Node']['Address']}:{row['Service']['Port']}"
            for row in reply.json()["State"]["MeshGateways"]]


def gateway_of(agent: AgentProcess, dc: str) -> str:
    status = agent.get("/v1/operator/federation").json()
    return next(d.get("Gateway", "") for d in status["Datacenters"] if d["Datacenter"] == dc)


def test_secondaries_federate_only_through_gateways(fed):
    start = time.monotonic()
    dc1 = fed.add("dc1")
    dc2 = fed.add("dc2")
    wait_until(lambda: converged([dc1, dc2]), 60, "the WAN pool of dc1 and dc2")
    print(f"dc1+dc2 WAN pool converged {time.monotonic() - start:.2f}s after the first start")
    wait_until(lambda: answers(dc2.server, dc1), 30, "?dc=dc1 from dc2")
    wait_until(lambda: answers(dc1.server, dc2), 30, "?dc=dc2 from dc1")
    for dc in (dc1, dc2):
        wait_until(lambda a=dc.server: states(a) == ["dc1", "dc2"], 60,
                   f"both federation states in {dc.name}")
    # Config entries written in the primary replicate to dc2 through the gateways.
    entry = {"Kind": "service-defaults", "Name": "web", "Protocol": "http"}
    assert dc1.server.put("/v1/config", entry).status == 200
    wait_until(lambda: dc2.server.get("/v1/config/service-defaults/web").status == 200, 30,
               "dc1's config entry replicated to dc2")
    # What went through the gateways: dc2's WAN join (any dc1 server), gossip to each
    # server by name, RPC; and nothing else could have carried it (no WAN address given).
    seen_by_dc1 = dc1.relay.names_from(dc2.host)
    assert "server.dc1.consul" in seen_by_dc1, dc1.relay.seen
    # Gossip to a server by name comes with the next WAN probe or gossip round, which
    # may follow the replication above.
    wait_until(lambda: f"{dc1.node}.server.dc1.consul" in dc1.relay.names_from(dc2.host), 30,
               "gossip from dc2 to dc1's server by name")
    wait_until(lambda: {"consul/wan-gossip/packet", "consul/wan-gossip/stream",
                        "consul/rpc-multi"} <= dc1.relay.alpn_seen(), 30,
               "packet gossip, stream gossip and RPC through dc1's gateway")
    assert not dc1.relay.refused and not dc2.relay.refused
    assert gateway_of(dc2.server, "dc1") == dc1.relay.hostport
    cli = run_cli(dc2.server, "operator", "federation", "status")
    out = cli.stdout.decode() if isinstance(cli.stdout, bytes) else cli.stdout
    assert cli.returncode == 0 and dc1.relay.hostport in out, out

    # dc3 joins later, the same way (its configuration names only dc1's gateway): it
    # reaches dc2 through its own gateway, which routes dc2's names on to dc2's.
    start = time.monotonic()
    dc3 = fed.add("dc3")
    wait_until(lambda: converged([dc1, dc2, dc3]), 60, "the WAN pool of three datacenters")
    print(f"dc3 in the WAN pool of all three {time.monotonic() - start:.2f}s after its start")
    wait_until(lambda: gateway_of(dc3.server, "dc2") == dc3.relay.hostport, 30,
               "dc3 reaching dc2 through its own gateway")
    wait_until(lambda: answers(dc3.server, dc2), 30, "?dc=dc2 from dc3")
    assert "server.dc2.consul" in dc3.relay.names_from(dc3.host)
    assert "server.dc2.consul" in dc2.relay.names_from(dc3.relay.address[0])
    assert "server.dc2.consul" not in dc2.relay.names_from(dc3.host)
    wait_until(lambda: f"{dc2.node}.server.dc2.consul" in
               dc2.relay.names_from(dc3.relay.address[0]), 30,
               "gossip from dc3 to dc2's server through both gateways")


def test_a_secondary_survives_the_move_of_all_the_primarys_gateways(fed):
    dc1 = fed.add("dc1")
    dc2 = fed.add("dc2")
    wait_until(lambda: converged([dc1, dc2]), 60, "the WAN pool of dc1 and dc2")
    wait_until(lambda: answers(dc2.server, dc1), 30, "?dc=dc1 from dc2")
    # dc1's gateways move: a new one comes up at another address and the old one goes
    # away; dc2 was configured with the old one only and learns the new one from the
    # replicated federation state.
    new = SNIRelay(next_loopback())
    dc1.extra_relays.append(new)
    fed.route()
    fed.register_gateway(dc1, new, node="gw-dc1-new")
    old = dc1.relay
    wait_until(lambda: new.hostport in state_gateways(dc2.server, "dc1"), 30,
               "dc1's new gateway replicated to dc2")
    start = time.monotonic()
    old.close()  # gone before anybody deregisters it: dc2 finds out by dialling it
    wait_until(lambda: answers(dc2.server, dc1), 30, "?dc=dc1 from dc2 after the move")
    rpc_back = time.monotonic() - start
    wait_until(lambda: gateway_of(dc2.server, "dc1") == new.hostport, 30,
               "dc2 reaching dc1 through the new gateway")
    gossip = f"{dc1.node}.server.dc1.consul"
    wait_until(lambda: gossip in new.names_from(dc2.host), 60,
               "dc2's gossip to dc1's server through the new gateway")
    gossip_back = time.monotonic() - start
    reply = dc1.server.put("/v1/catalog/deregister", {"Node": "gw-dc1"})
    assert reply.status == 200
    wait_until(lambda: state_gateways(dc2.server, "dc1") == [new.hostport], 30,
               "the old gateway gone from dc2's copy of dc1's state")
    wait_until(lambda: converged([dc1, dc2]), 60, "the WAN pool after the move")
    dc2.server.put("/v1/kv/after-move?dc=dc1", "x")
    wait_until(lambda: dc1.server.get("/v1/kv/after-move").status == 200, 30,
               "a write from dc2 landing in dc1")
    print(f"after all of dc1's gateways moved: RPC from dc2 back in {rpc_back:.2f}s, "
          f"gossip through the new gateway in {gossip_back:.2f}s")
    assert not new.refused
