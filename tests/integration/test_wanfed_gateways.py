"""WAN federation through mesh gateways with real servers on 127.0.0.x and an SNI relay
(tests/support/sni_relay.py) standing in for each datacenter's mesh gateway.

No server is given another datacenter's WAN address: the primary dc1 joins nobody,
the secondaries only know ``primary_gateways``.  The relays record every connection
(SNI, ALPN offered, source host), which shows that gossip and RPC between
datacenters went through them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from proconsul.lib.pki import CLIENT_AUTH, SERVER_AUTH, KeyPair, new_ca, new_leaf
from tests.support.agent_process import AgentProcess, _launch, free_port, next_loopback, wait_until
from tests.support.cli_process import run_cli
from tests.support.sni_relay import SNIRelay

MESH_GATEWAY_SERVICE = {"Kind": "mesh-gateway", "Service": "mesh-gateway",
                        "Meta": {"consul-wan-federation": "1"}}


@dataclass
class DC:
    """One datacenter: its server and the relay acting as its mesh gateway."""

    name: str
    relay: SNIRelay
    server: AgentProcess | None = None
    node: str = ""
    host: str = ""
    server_port: int = 0
    extra_relays: list[SNIRelay] = field(default_factory=list)


class Federation:
    """Datacenters started one at a time, their relays routing each other's names."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.ca: KeyPair = new_ca("Proconsul wanfed test CA", days=1)
        (base / "ca.pem").write_bytes(self.ca.cert_pem)
        self.dcs: dict[str, DC] = {}

    def add(self, name: str) -> DC:
        relay = SNIRelay(next_loopback())
        dc = self.dcs[name] = DC(name, relay)
        host = next_loopback()
        node = f"s-{name}"
        dc.node, dc.host, dc.server_port = node, host, free_port(host)
        self.route()
        pem = self.base / f"{name}.pem"
        leaf = new_leaf(self.ca, f"server.{name}.consul", 1,
                        [f"server.{name}.consul", f"{node}.server.{name}.consul", "localhost"],
                        [host], [SERVER_AUTH, CLIENT_AUTH])
        pem.write_bytes(leaf.cert_pem + leaf.key_pem)
        hcl = f'''
primary_datacenter = "dc1"
connect {{ enabled = true
          enable_mesh_gateway_wan_federation = true }}
tls {{ defaults {{ ca_file = "{self.base / 'ca.pem'}" cert_file = "{pem}"
                  key_file = "{pem}" }} }}
'''
        if name != "dc1":
            hcl += (f'primary_gateways = ["{self.dcs["dc1"].relay.hostport}"]\n'
                    'primary_gateways_interval = "1s"\n')
        http = free_port(host)
        args = ["-server", "-datacenter", name, "-node", node,
                "-data-dir", str(self.base / f"data-{name}"), "-client", host, "-bind", host,
                "-http-port", str(http), "-serf-lan-port", str(free_port(host)),
                "-serf-wan-port", str(free_port(host)), "-server-port", str(dc.server_port),
                "-dns-port", "-1", "-bootstrap-expect", "1", "-raft-multiplier", "1",
                "-hcl", hcl]
        dc.server = _launch(args, AgentProcess(host, http, None), 30)
        wait_until(lambda: dc.server.get("/v1/status/leader").json(), 30, f"{name} leader")
        self.register_gateway(dc, dc.relay)
        return dc

    def register_gateway(self, dc: DC, relay: SNIRelay, node: str = "") -> None:
        host, port = relay.address
        reply = dc.server.put("/v1/catalog/register", {
            "Node": node or f"gw-{dc.name}", "Address": host,
            "Service": {**MESH_GATEWAY_SERVICE, "Port": port}})
        assert reply.status == 200, reply.text

    def route(self) -> None:
        """Every relay: its own DC's names to its server, other DCs' to their relays."""
        for dc in self.dcs.values():
            routes = {}
            for other in self.dcs.values():
                if other is dc:
                    target = [(dc.host, dc.server_port)]
                    routes[f"server.{dc.name}.consul"] = target
                    routes[f"{dc.node}.server.{dc.name}.consul"] = target
                else:
                    routes[f"server.{other.name}.consul"] = [other.relay.address]
                    routes[f"*.server.{other.name}.consul"] = [other.relay.address]
            for relay in (dc.relay, *dc.extra_relays):
                relay.set_routes(routes)

    def close(self) -> None:
        for dc in self.dcs.values():
            if dc.server is not None:
                dc.server.stop()
            for relay in (dc.relay, *dc.extra_relays):
                relay.close()


@pytest.fixture
def fed(tmp_path):
    federation = Federation(tmp_path)
    try:
        yield federation
    finally:
        federation.close()


def wan_members(agent: AgentProcess) -> dict[str, int]:
    return {m["Name"]: m["Status"] for m in agent.get("/v1/agent/members?wan=1").json()}


def converged(dcs: list[DC]) -> bool:
    want = {f"{dc.node}.{dc.name}" for dc in dcs}
    return all({n for n, s in wan_members(dc.server).items() if s == 1} == want for dc in dcs)


def answers(agent: AgentProcess, dc: str) -> bool:
    try:
        reply = agent.get(f"/v1/catalog/nodes?dc={dc}", timeout=15)
    except OSError:
        return False
    return reply.status == 200 and any(n["Node"] == f"s-{dc}" for n in reply.json())


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
    wait_until(lambda: answers(dc2.server, "dc1"), 30, "?dc=dc1 from dc2")
    wait_until(lambda: answers(dc1.server, "dc2"), 30, "?dc=dc2 from dc1")
    for dc in (dc1, dc2):
        wait_until(lambda a=dc.server: states(a) == ["dc1", "dc2"], 60,
                   f"both federation states in {dc.name}")
    # What went through the gateways: dc2's WAN join (any dc1 server), gossip to each
    # server by name, RPC; and nothing else could have carried it (no WAN address given).
    seen_by_dc1 = dc1.relay.names_from(dc2.host)
    assert "server.dc1.consul" in seen_by_dc1, dc1.relay.seen
    assert f"{dc1.node}.server.dc1.consul" in seen_by_dc1
    assert {"consul/wan-gossip/packet", "consul/wan-gossip/stream",
            "consul/rpc-multi"} <= dc1.relay.alpn_seen()
    assert not dc1.relay.refused and not dc2.relay.refused
    assert gateway_of(dc2.server, "dc1") == dc1.relay.hostport
    cli = run_cli(dc2.server, "operator", "federation", "status")
    out = cli.stdout.decode() if isinstance(cli.stdout, bytes) else cli.stdout
    assert cli.returncode == 0 and dc1.relay.hostport in out, out

    # dc3 joins later, the same way; it reaches dc2 through dc2's gateway, which it
    # learned from the federation states (its configuration names only dc1's).
    start = time.monotonic()
    dc3 = fed.add("dc3")
    wait_until(lambda: converged([dc1, dc2, dc3]), 60, "the WAN pool of three datacenters")
    print(f"dc3 in the WAN pool of all three {time.monotonic() - start:.2f}s after its start")
    wait_until(lambda: gateway_of(dc3.server, "dc2") == dc2.relay.hostport, 30,
               "dc3 reaching dc2 through dc2's gateway")
    wait_until(lambda: answers(dc3.server, "dc2"), 30, "?dc=dc2 from dc3")
    assert f"{dc2.node}.server.dc2.consul" in dc2.relay.names_from(dc3.host)
    assert "server.dc2.consul" in dc2.relay.names_from(dc3.host)


def test_a_secondary_survives_the_move_of_all_the_primarys_gateways(fed):
    dc1 = fed.add("dc1")
    dc2 = fed.add("dc2")
    wait_until(lambda: converged([dc1, dc2]), 60, "the WAN pool of dc1 and dc2")
    wait_until(lambda: answers(dc2.server, "dc1"), 30, "?dc=dc1 from dc2")
    # dc1's gateways move: a new one comes up at another address and the old one goes
    # away; dc2 was configured with the old one only.
    new = SNIRelay(next_loopback())
    dc1.extra_relays.append(new)
    fed.route()
    fed.register_gateway(dc1, new, node="gw-dc1-new")
    old = dc1.relay
    wait_until(lambda: new.hostport in state_gateways(dc2.server, "dc1"), 30,
               "dc1's new gateway replicated to dc2")
    reply = dc1.server.put("/v1/catalog/deregister", {"Node": "gw-dc1"})
    assert reply.status == 200
    start = time.monotonic()
    old.close()
    wait_until(lambda: answers(dc2.server, "dc1"), 30, "?dc=dc1 from dc2 after the move")
    rpc_back = time.monotonic() - start
    wait_until(lambda: gateway_of(dc2.server, "dc1") == new.hostport, 30,
               "dc2 reaching dc1 through the new gateway")
    gossip = f"{dc1.node}.server.dc1.consul"
    wait_until(lambda: gossip in new.names_from(dc2.host), 60,
               "dc2's gossip to dc1's server through the new gateway")
    gossip_back = time.monotonic() - start
    wait_until(lambda: converged([dc1, dc2]), 60, "the WAN pool after the move")
    dc2.server.put("/v1/kv/after-move?dc=dc1", "x")
    wait_until(lambda: dc1.server.get("/v1/kv/after-move").status == 200, 30,
               "a write from dc2 landing in dc1")
    print(f"after all of dc1's gateways moved: RPC from dc2 back in {rpc_back:.2f}s, "
          f"gossip through the new gateway in {gossip_back:.2f}s")
    assert not new.refused
