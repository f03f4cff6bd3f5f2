"""A mesh gateway with ``-expose-servers`` (a real Envoy) in front of three servers.

Each server has its own certificate from ``tls cert create -server -node``; an RPC
dialled through the gateway with SNI ``<node>.server.dc1.consul`` (native TLS, ALPN,
as rpc/gateway.py dials another datacenter) reaches that server, shown by the
certificate it answers with, and ``server.dc1.consul`` reaches any of them. A dc2
WAN-joined to them has its own such gateway, which sends ``*.server.dc1.consul`` on to
dc1's. A killed server's cluster leaves the gateway once its serfHealth check is critical.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
import time

import pytest

from proconsul.rpc.codec import ClientCodec
from proconsul.rpc.errors import RPCDialError
from proconsul.rpc.gateway import dial_via_gateway
from tests.support.agent_process import (
    ServerSpec,
    free_port,
    start_agent,
    start_server,
    wait_until,
)
from tests.support.envoy import Envoy, EnvoyGroup

NODES = ("s0", "s1", "s2")


def cli(cwd, *args: str) -> None:
    out = subprocess.run([sys.executable, "-m", "proconsul", *args], cwd=cwd,
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr


def server_names(envoy: Envoy) -> set[str]:
    """The gateway's clusters for servers."""
    return {entry["cluster"]["name"] for cfg in envoy.config_dump()["configs"]
            for entry in cfg.get("dynamic_active_clusters", ())
            if ".server." in entry["cluster"]["name"]
            or entry["cluster"]["name"].startswith("server.")}


class Servers:
    def __init__(self, base) -> None:
        self.base = base
        cli(base, "tls", "ca", "create")
        cli(base, "tls", "cert", "create", "-client")
        self.envoys = EnvoyGroup()
        self.procs = {}
        self.specs = {}
        for i, node in enumerate(NODES):
            cli(base, "tls", "cert", "create", "-server", "-node", node)
            cert, key = base / f"dc1-server-consul-{i}.pem", base / f"dc1-server-consul-{i}-key.pem"
            self.specs[node] = ServerSpec(str(base / node), node=node, extra=(
                "-hcl", "connect { enabled = true }", "-hcl",
                f'tls {{ defaults {{ ca_file = "{base / "consul-agent-ca.pem"}" '
                f'cert_file = "{cert}" key_file = "{key}" }} }}'))

    def start(self) -> None:
        first = self.specs["s0"]
        grpc, self.wan_port = free_port(first.host), free_port(first.host)
        for node, spec in self.specs.items():
            join = () if node == "s0" else ("-retry-join", first.lan_address)
            extra = ("-grpc-port", str(grpc), "-serf-wan-port", str(self.wan_port)) \
                if node == "s0" else ()
            self.procs[node] = start_server(spec, "-bootstrap-expect", "3",
                                            "-raft-multiplier", "1", *join, *extra)
        self.procs["s0"].grpc_port = grpc
        agent = self.procs["s0"]
        wait_until(lambda: len([n for n in agent.get("/v1/health/service/consul?passing").json()])
                   == 3, 60, "three servers in the catalog")
        wait_until(lambda: agent.get("/v1/connect/ca/roots").json().get("ActiveRootID"), 30,
                   "the CA")
        self.port = free_port(agent.host)
        self.gateway = self.envoys.start(agent, "-gateway", "mesh", "-register",
                                         "-expose-servers", "-address",
                                         f"{agent.host}:{self.port}")

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.base / "consul-agent-ca.pem"))
        ctx.load_cert_chain(str(self.base / "dc1-client-consul-0.pem"),
                            str(self.base / "dc1-client-consul-0-key.pem"))
        return ctx

    def leader_through_gateway(self, node: str = "", gateway: str = ""
                               ) -> tuple[str, set[str]]:
        """Status.Leader asked through the gateway (dc1's unless told); and the DNS names
        of the server's certificate."""
        async def call():
            conn = await dial_via_gateway(gateway or f"{self.procs['s0'].host}:{self.port}",
                                          self.context, datacenter="dc1",
                                          alpn="consul/rpc-single", node=node, timeout=5)
            try:
                names = {v for k, v in conn.getpeercert().get("subjectAltName", ())
                         if k == "DNS"}
                return await ClientCodec(conn).call("Status.Leader", {}), names
            finally:
                await conn.close()

        return asyncio.run(call())

    def stop(self) -> None:
        self.envoys.stop_all()
        for proc in self.procs.values():
            proc.stop()


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    servers = Servers(tmp_path_factory.mktemp("mgw-servers"))
    try:
        servers.start()
        yield servers
    finally:
        servers.stop()


def test_each_server_by_its_node_name_and_any_by_the_wildcard(servers):
    every = {"server.dc1.consul", *(f"{n}.server.dc1.consul" for n in NODES)}
    wait_until(lambda: server_names(servers.gateway) >= every, 30,
               "the gateway's server clusters")
    leader = servers.procs["s0"].get("/v1/status/leader").json()
    for node in NODES:
        answer, names = servers.leader_through_gateway(node)
        assert answer == leader
        assert f"{node}.server.dc1.consul" in names, names  # that server answered
        assert {f"{n}.server.dc1.consul" for n in NODES if n != node}.isdisjoint(names)
    answer, names = servers.leader_through_gateway()
    assert answer == leader and "server.dc1.consul" in names
    stats = servers.gateway.stats("cluster.s1.server.dc1.consul.upstream_cx_total")
    assert int(stats["cluster.s1.server.dc1.consul.upstream_cx_total"]) >= 1


def test_dc2s_gateway_reaches_dc1s_servers_through_dc1s_gateway(servers):
    """A server of dc2 dials dc1 through its local gateway: dc2's gateway sends
    ``*.server.dc1.consul`` to dc1's gateways (learned from the federation states),
    which send it on to that server."""
    s0 = servers.procs["s0"]
    dc2 = start_agent("-datacenter", "dc2", "-hcl", 'primary_datacenter = "dc1"',
                      "-join-wan", f"{s0.host}:{servers.wan_port}")
    try:
        wait_until(lambda: dc2.get("/v1/connect/ca/roots").json().get("ActiveRootID"), 30,
                   "dc2 on dc1's CA")
        port = free_port(dc2.host)
        gateway = servers.envoys.start(dc2, "-gateway", "mesh", "-register",
                                       "-expose-servers", "-address", f"{dc2.host}:{port}")
        wait_until(lambda: "server.dc1.consul" in server_names(gateway), 60,
                   "dc2's gateway to learn dc1's gateways")
        leader = s0.get("/v1/status/leader").json()
        answer, names = servers.leader_through_gateway("s1", gateway=f"{dc2.host}:{port}")
        assert answer == leader and "s1.server.dc1.consul" in names
        # and dc1's gateway learned dc2's: a chain for *.server.dc2.consul
        wait_until(lambda: "server.dc2.consul" in server_names(servers.gateway), 60,
                   "dc1's gateway to learn dc2's gateways")
    finally:
        dc2.stop()


def test_a_killed_server_drops_out(servers):
    leader = servers.procs["s0"].get("/v1/status/leader").json()
    victim = next(n for n in ("s2", "s1") if not leader.startswith(
        f"{servers.specs[n].host}:"))
    wait_until(lambda: f"{victim}.server.dc1.consul" in server_names(servers.gateway), 30,
               "the victim's cluster")
    servers.procs[victim].kill()
    start = time.monotonic()
    wait_until(lambda: f"{victim}.server.dc1.consul" not in server_names(servers.gateway),
               60, "the killed server's cluster to leave the gateway")
    print(f"{victim}'s cluster left the gateway {time.monotonic() - start:.1f}s after "
          f"the kill")
    with pytest.raises(RPCDialError):
        servers.leader_through_gateway(victim)
    survivor = next(n for n in NODES if n != victim)
    assert f"{survivor}.server.dc1.consul" in servers.leader_through_gateway(survivor)[1]
