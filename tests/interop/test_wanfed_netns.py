"""Datacenters federated through mesh gateways, each in its own network namespace, behind
a WAN that drops every packet between datacenters except TCP to and from the gateways'
WAN ports (tests/support/netns.py ``WanLab.isolate``), so that no direct path between
servers can be what made a test pass. Real Envoy runs every gateway and sidecar.

The wall itself is proven first: a plain WAN join between two datacenters fails behind
it and works once it is taken down, and only the listed gateway port gets through.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.test_multidc import ok
from tests.support.agent_process import AgentProcess, wait_until
from tests.support.datacenters import network, start_datacenters, wan_alive
from tests.support.envoy import EnvoyGroup, http_get
from tests.support.netns import WanLab, run

GATEWAY_PORT = 8443  # Consul's default for a registered gateway
CONNECT = ("-hcl", "connect { enabled = true }", "-grpc-port", "8502")
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


def node_name(agent: AgentProcess) -> str:
    return agent.get("/v1/agent/self").json()["Config"]["NodeName"]


def test_the_wall_drops_a_direct_wan_join_but_lets_the_gateway_port_through():
    with network(["dc1", "dc2"]) as lab:
        fed = start_datacenters(lab, {"dc1": 1, "dc2": 1}, join_wan=False)
        dc1, dc2 = fed.servers["dc1"][0], fed.servers["dc2"][0]
        gateway = lab.address("dc1")
        start_app(lab, "dc1", gateway, GATEWAY_PORT, "gateway")
        start_app(lab, "dc1", gateway, GATEWAY_PORT + 1, "not-a-gateway")
        lab.isolate([(gateway, GATEWAY_PORT)])

        # (the join gives up after the WAN pool's 30 s TCP timeout: meanwhile, the ports)
        with ThreadPoolExecutor(1) as pool:
            join = pool.submit(dc2.put, f"/v1/agent/join/{dc1.host}?wan=1", timeout=60)
            # Between datacenters only the gateway's port opens, even on the same address;
            # the test (in the root namespace) still reaches everyone.
            assert reaches(lab, "dc2", gateway, GATEWAY_PORT)
            assert not reaches(lab, "dc2", gateway, GATEWAY_PORT + 1)
            assert not reaches(lab, "dc2", dc1.host, 8300)
            assert reaches(lab, "dc1", gateway, GATEWAY_PORT + 1)  # inside dc1: no wall
            assert http_get(gateway, GATEWAY_PORT + 1)[0] == 200
            ok(dc1.get("/v1/status/leader"))
            joined = join.result()
        assert (joined.status, joined.text) == (
            500, f"failed to join any of [('{dc1.host}', 8302)]")
        assert wan_alive(dc2) == [f"{node_name(dc2)}.dc2"]
        assert lab.dropped() > 0

        # The same join works once the wall is down: the wall was what stopped it.
        lab.open()
        ok(dc2.put(f"/v1/agent/join/{dc1.host}?wan=1", timeout=60))
        both = sorted([f"{node_name(dc1)}.dc1", f"{node_name(dc2)}.dc2"])
        for agent in (dc1, dc2):
            wait_until(lambda a=agent: wan_alive(a) == both, 30, "both servers WAN-joined")
    assert lab.prefix not in run("ip", "netns", "list")


# ---- a federation with a mesh gateway per datacenter --------------------------------------

class Gateways:
    """dc1 and dc2 (one server each, Connect on) with a mesh gateway per datacenter on a
    WAN address of its own, and ``api`` (dc1) and ``web`` (dc2) behind Envoy sidecars;
    web's sidecar has api in dc1 as an upstream, reached through both gateways."""

    def __init__(self, lab: WanLab) -> None:
        self.lab = lab
        self.envoys = EnvoyGroup()
        self.fed = start_datacenters(lab, {"dc1": 1, "dc2": 1}, extra=CONNECT)
        self.dc1, self.dc2 = self.fed.servers["dc1"][0], self.fed.servers["dc2"][0]
        self.wan = {dc: lab.address(dc) for dc in ("dc1", "dc2")}
        self.gateways = {}
        self.upstream = 9191  # web's upstream listener, on dc2's server address

    def start(self) -> None:
        for agent in (self.dc1, self.dc2):
            wait_until(lambda a=agent: a.get("/v1/connect/ca/roots").json().get("Roots"), 30,
                       "CA roots")
        ok(self.dc1.put("/v1/config", {"Kind": "proxy-defaults", "Name": "global",
                                       "MeshGateway": {"Mode": "local"}}))
        for dc, agent in (("dc1", self.dc1), ("dc2", self.dc2)):
            self.gateways[dc] = self.envoys.start(
                agent, "-gateway", "mesh", "-register", "-expose-servers",
                "-address", f"{agent.host}:{GATEWAY_PORT}",
                "-wan-address", f"{self.wan[dc]}:{GATEWAY_PORT}",
                wrapper=self.lab.inside(dc), admin_port=19001)
        self.sidecar("dc1", self.dc1, "api", 9090, 21000)
        self.sidecar("dc2", self.dc2, "web", 9090, 21000, upstreams=[{
            "DestinationName": "api", "Datacenter": "dc1",
            "LocalBindAddress": self.dc2.host, "LocalBindPort": self.upstream}])

    def sidecar(self, dc: str, agent: AgentProcess, name: str, app_port: int,
                public_port: int, upstreams: list[dict] = ()) -> None:
        start_app(self.lab, dc, agent.host, app_port, name)
        proxy = {"LocalServiceAddress": agent.host, "Upstreams": list(upstreams)}
        ok(agent.put("/v1/agent/service/register", {
            "ID": name, "Name": name, "Port": app_port, "Address": agent.host,
            "Connect": {"SidecarService": {"Port": public_port, "Address": agent.host,
                                           "Checks": PASSING, "Proxy": proxy}}}))
        self.envoys.start(agent, "-sidecar-for", name, wrapper=self.lab.inside(dc),
                          admin_port=19000)

    def call_api(self) -> tuple[int, str]:
        """web's request to api, sent to web's upstream listener in dc2."""
        return http_get(self.dc2.host, self.upstream, "/hello")


@pytest.fixture(scope="module")
def gateways():
    with network(["dc1", "dc2"]) as lab:
        federation = Gateways(lab)
        try:
            federation.start()
            yield federation
        finally:
            federation.envoys.stop_all()


def test_a_dc2_service_calls_dc1_through_sidecars_and_both_gateways_behind_the_wall(gateways):
    lab = gateways.lab
    # Both DCs' gateways in both DCs' federation states (anti-entropy + replication).
    for agent in (gateways.dc1, gateways.dc2):
        wait_until(lambda a=agent: sorted(ok(a.get(
            "/v1/internal/federation-states/mesh-gateways")).json()) == ["dc1", "dc2"], 30,
            "both datacenters' gateways in the federation states")
    wait_until(lambda: gateways.call_api() == (200, "api /hello"), 30,
               "web -> api in dc1, before the wall")
    lab.isolate([(gateways.wan["dc1"], GATEWAY_PORT), (gateways.wan["dc2"], GATEWAY_PORT)])
    # dc2's gateway sends dc1's traffic to dc1's gateway, which sends api's on to api's
    # sidecar (by SNI, without terminating TLS): each call is one connection through both.
    crossings = {"dc2": "cluster.dc1.internal.", "dc1": "cluster.api.default.dc1.internal."}
    before = {dc: connections(gateways.gateways[dc], c) for dc, c in crossings.items()}
    started = time.monotonic()
    for _ in range(20):
        assert gateways.call_api() == (200, "api /hello")
    print(f"20 calls dc2 -> dc1 through the gateways: {time.monotonic() - started:.3f}s")
    assert {dc: connections(gateways.gateways[dc], c) - before[dc]
            for dc, c in crossings.items()} == {"dc1": 20, "dc2": 20}
    assert not reaches(lab, "dc2", gateways.dc1.host, 21000)  # api's sidecar: walled off


def connections(envoy, cluster_prefix: str) -> int:
    """Upstream connections ``envoy`` opened to clusters named ``cluster_prefix...``."""
    return sum(int(v) for k, v in envoy.stats(cluster_prefix).items()
               if k.startswith(cluster_prefix) and k.endswith(".upstream_cx_total"))
