"""Single-server datacenters on 127.0.0.x (agents placed by datacenters.py's
:class:`~tests.support.datacenters.Loopback`), federated either through mesh gateways
(an :class:`~tests.support.sni_relay.SNIRelay` per datacenter standing in for its
gateway; servers know only ``primary_gateways``) or directly (``-retry-join-wan`` to
dc1's server, the plain WAN path), for the wanfed tests and bench/wanfed_bench.py.

dc1 is the primary.  Each server has a certificate for ``server.<dc>.consul`` and
``<node>.server.<dc>.consul`` from one CA; with gateways every server turns on
``connect.enable_mesh_gateway_wan_federation`` and its relay is registered in its
catalog as a ``mesh-gateway`` with meta ``consul-wan-federation=1``.  Every relay
routes its own datacenter's server names to its server and other datacenters'
names to their relays, as mesh gateways with ``-expose-servers`` do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from proconsul.lib.pki import KeyPair, new_ca
from tests.support.agent_process import AgentProcess, next_loopback, wait_until
from tests.support.certs import server_tls_hcl
from tests.support.datacenters import Loopback, leader_known, node_name, wan_alive
from tests.support.sni_relay import SNIRelay

MESH_GATEWAY_SERVICE = {"Kind": "mesh-gateway", "Service": "mesh-gateway",
                        "Meta": {"consul-wan-federation": "1"}}


@dataclass
class DC:
    """One datacenter: its server and (with gateways) the relay acting as its gateway."""

    name: str
    relay: SNIRelay | None
    server: AgentProcess | None = None
    node: str = ""
    host: str = ""
    server_port: int = 0
    wan_port: int = 0
    extra_relays: list[SNIRelay] = field(default_factory=list)


class Federation:
    """Datacenters started one at a time (dc1 first)."""

    def __init__(self, base: Path, gateways: bool = True) -> None:
        self.base = base
        self.gateways = gateways
        self.ca: KeyPair = new_ca("Proconsul wanfed test CA", days=1)
        (base / "ca.pem").write_bytes(self.ca.cert_pem)
        self.net = Loopback()
        self.dcs: dict[str, DC] = {}

    def add(self, name: str) -> DC:
        """Start ``name``'s server; return once it has a leader (and its gateway is
        registered)."""
        relay = SNIRelay(next_loopback()) if self.gateways else None
        dc = self.dcs[name] = DC(name, relay)
        dc.host = self.net.address(name)
        slot = self.net.slot(dc.host)
        dc.node, dc.server_port, dc.wan_port = node_name(name, dc.host), slot.server, slot.wan
        self.route()
        join_wan = [self.dcs["dc1"].host] if not self.gateways and name != "dc1" else []
        dc.server = self.net.start_agent(name, "-raft-multiplier", "1", "-hcl", self._hcl(dc),
                                         host=dc.host, join_wan=join_wan, timeout=30)
        wait_until(lambda: leader_known(dc.server), 30, f"{name} leader")
        if relay is not None:
            self.register_gateway(dc, relay)
        return dc

    def _hcl(self, dc: DC) -> str:
        hcl = 'primary_datacenter = "dc1"\n' + server_tls_hcl(
            self.ca, self.base, dc.name, [f"{dc.node}.server.{dc.name}.consul"], [dc.host])
        if not self.gateways:
            return hcl
        hcl += "connect { enabled = true\n enable_mesh_gateway_wan_federation = true }\n"
        if dc.name != "dc1":
            hcl += (f'primary_gateways = ["{self.dcs["dc1"].relay.hostport}"]\n'
                    'primary_gateways_interval = "1s"\n')
        return hcl


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
                elif other.relay is not None:
                    routes[f"server.{other.name}.consul"] = [other.relay.address]
                    routes[f"*.server.{other.name}.consul"] = [other.relay.address]
            for relay in (dc.relay, *dc.extra_relays):
                if relay is not None:
                    relay.set_routes(routes)

    def close(self) -> None:
        self.net.close()
        for dc in self.dcs.values():
            for relay in (dc.relay, *dc.extra_relays):
                if relay is not None:
                    relay.close()


def converged(dcs: list[DC]) -> bool:
    """Whether every server of ``dcs`` sees exactly those servers alive on the WAN."""
    want = sorted(f"{dc.node}.{dc.name}" for dc in dcs)
    return all(wan_alive(dc.server) == want for dc in dcs)
