"""Datacenters federated only through real Envoy mesh gateways, in network namespaces.

:class:`WanFed` walls the WAN of a :class:`~tests.support.netns.WanLab` from the start
(only the gateways' WAN ports get through), starts dc1 as the primary and every other
datacenter with only ``primary_gateways`` (dc1's gateway), each with
``connect.enable_mesh_gateway_wan_federation``, TLS (one CA; server certificates for
``server.<dc>.consul`` and ``*.server.<dc>.consul``) and ACLs (default allow, token
replication), and one ``connect envoy -gateway=mesh -register -expose-servers`` per
datacenter. Used by tests/interop/test_wanfed_netns.py and bench/wanfed_bench.py.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from proconsul.lib.pki import new_ca
from tests.support.agent_process import AgentProcess, Reply, wait_until
from tests.support.certs import server_tls_hcl
from tests.support.datacenters import start_datacenters, wan_alive
from tests.support.envoy import Envoy, EnvoyGroup, http_get
from tests.support.netns import WanLab, run

GATEWAY_PORT = 8443  # Consul's default for a registered gateway
PASSING = [{"Name": "ok", "TTL": "24h", "Status": "passing"}]

REACH = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=float(sys.argv[3]))
    print("yes")
except OSError:
    print("no")
"""


def reaches(lab: WanLab, dc: str, host: str, port: int, timeout: float = 2) -> bool:
    """Whether a TCP connection from ``dc``'s namespace to ``host:port`` opens."""
    out = run(sys.executable, "-c", REACH, host, str(port), str(timeout),
              netns=lab.dcs[dc].netns)
    return out.strip() == "yes"


def start_app(lab: WanLab, dc: str, host: str, port: int, name: str) -> None:
    """An HTTP app answering ``<name> <path>`` on ``host:port`` in ``dc``'s namespace."""
    app = lab.spawn(dc, sys.executable, "-m", "tests.support.envoy", host, str(port), name)
    assert app.stdout.readline().strip() == "ready"


def ok(reply: Reply) -> Reply:
    assert reply.status == 200, (reply.status, reply.text)
    return reply


MANAGEMENT = "8b1c7c0e-3f5a-4d0b-9d6e-2a7f4c1e9b30"
ACL = f"""acl {{ enabled = true, default_policy = "allow", enable_token_replication = true,
       tokens {{ initial_management = "{MANAGEMENT}", replication = "{MANAGEMENT}",
                agent = "{MANAGEMENT}" }} }}"""
SIDECAR_ADMIN, GATEWAY_ADMIN = 19000, 19001


def as_manager() -> dict:
    return {"headers": {"X-Consul-Token": MANAGEMENT}}


class WanFed:
    """Datacenters federated only through their mesh gateways: the WAN is walled from the
    start, dc1 is the primary and joins nobody, every other datacenter's servers know
    only ``primary_gateways`` (dc1's gateway). One Envoy gateway per datacenter, on the
    first server's agent, LAN address that server's and WAN address one of its own."""

    def __init__(self, lab: WanLab, base: Path) -> None:
        self.lab, self.base = lab, base
        self.ca = new_ca("Proconsul wanfed netns CA", days=1)
        (base / "ca.pem").write_bytes(self.ca.cert_pem)
        self.envoys = EnvoyGroup()
        self.servers: dict[str, list[AgentProcess]] = {}
        self.wan: dict[str, str] = {}  # dc -> its gateway's WAN address
        self.gateways: dict[str, Envoy] = {}
        self.primary_gateway = ""  # what secondaries are configured with (never changed)
        self.retired: list[str] = []  # old gateways' WAN addresses the wall still passes
        self.upstream = 9191  # web's upstream listener (dc2), once sidecars run

    def wall(self) -> None:
        """Only the gateways' WAN ports (current and :attr:`retired`) get through the WAN."""
        self.lab.isolate([(address, GATEWAY_PORT)
                          for address in [*self.wan.values(), *self.retired]])

    def config(self, dc: str) -> tuple[str, ...]:
        hcl = ("connect { enabled = true, enable_mesh_gateway_wan_federation = true }\n"
               + server_tls_hcl(self.ca, self.base, dc, [f"*.server.{dc}.consul"])
               + ACL + "\n")
        if dc != "dc1":
            hcl += f'primary_gateways = ["{self.primary_gateway}"]\n'
        return ("-grpc-port", "8502", "-hcl", hcl)

    def add(self, dc: str, servers: int) -> float:
        """Start ``dc``'s servers and its gateway; seconds until every server sees every
        server of every datacenter alive in the WAN pool."""
        if dc not in self.lab.dcs:
            self.lab.add(dc)
        self.wan[dc] = self.lab.address(dc)
        self.wall()
        if dc == "dc1":
            self.primary_gateway = f"{self.wan[dc]}:{GATEWAY_PORT}"
        start = time.monotonic()
        fed = start_datacenters(self.lab, {dc: servers}, extra=self.config(dc), join_wan=False)
        self.servers[dc] = fed.servers[dc]
        self.gateways[dc] = self.start_gateway(dc, self.servers[dc][0], self.wan[dc])
        self.wait_converged()
        return time.monotonic() - start

    def start_gateway(self, dc: str, agent: AgentProcess, wan: str,
                      admin_port: int = GATEWAY_ADMIN) -> Envoy:
        wait_until(lambda: agent.get("/v1/connect/ca/roots").json().get("Roots"), 60,
                   f"{dc}'s CA roots")
        return self.envoys.start(agent, "-gateway", "mesh", "-register", "-expose-servers",
                                 "-address", f"{agent.host}:{GATEWAY_PORT}",
                                 "-wan-address", f"{wan}:{GATEWAY_PORT}",
                                 "-token", MANAGEMENT, wrapper=self.lab.inside(dc),
                                 admin_port=admin_port)

    def everyone(self) -> list[AgentProcess]:
        return [a for group in self.servers.values() for a in group
                if a.process.poll() is None]

    def wait_converged(self, timeout: float = 90) -> None:
        want = len(self.everyone())
        for agent in self.everyone():
            wait_until(lambda a=agent: len(wan_alive(a)) == want, timeout,
                       f"all {want} servers alive in the WAN pool of {agent.host}")

    def start_services(self) -> None:
        """``api`` in dc1 and ``web`` in dc2 (upstream: api in dc1), Envoy sidecars, mesh
        gateways in mode local (proxy-defaults)."""
        dc1, dc2 = self.servers["dc1"][0], self.servers["dc2"][0]
        ok(dc1.put("/v1/config", {"Kind": "proxy-defaults", "Name": "global",
                                  "MeshGateway": {"Mode": "local"}}, **as_manager()))
        wait_until(lambda: dc2.get("/v1/config/proxy-defaults/global").status == 200, 30,
                   "proxy-defaults replicated to dc2")
        self.sidecar("dc1", dc1, "api")
        self.sidecar("dc2", dc2, "web", upstreams=[{
            "DestinationName": "api", "Datacenter": "dc1",
            "LocalBindAddress": dc2.host, "LocalBindPort": self.upstream}])

    def sidecar(self, dc: str, agent: AgentProcess, name: str,
                upstreams: list[dict] = ()) -> None:
        app_port, public_port = 9090, 21000
        start_app(self.lab, dc, agent.host, app_port, name)
        proxy = {"LocalServiceAddress": agent.host, "Upstreams": list(upstreams)}
        ok(agent.put("/v1/agent/service/register", {
            "ID": name, "Name": name, "Port": app_port, "Address": agent.host,
            "Connect": {"SidecarService": {"Port": public_port, "Address": agent.host,
                                           "Checks": PASSING, "Proxy": proxy}}},
            **as_manager()))
        self.envoys.start(agent, "-sidecar-for", name, "-token", MANAGEMENT,
                          wrapper=self.lab.inside(dc), admin_port=SIDECAR_ADMIN)

    def call_api(self) -> tuple[int, str]:
        return http_get(self.servers["dc2"][0].host, self.upstream, "/hello")
