"""Mesh gateways with real Envoys between two datacenters on 127.0.0.x.

dc1 and dc2 are WAN-joined (dc1 primary, so one CA and trust domain). ``api`` runs in
dc2 behind its Envoy sidecar; in dc1 ``web`` reaches it through dc1's gateway and then
dc2's (its upstream's mode ``local``), ``web2`` through dc2's gateway only (mode
``remote``, from api's service-defaults). Gateways see only SNI: the TLS session is
web's and api's sidecars', so api's intentions still judge web's identity.
"""

from __future__ import annotations

import json

import pytest

from tests.support.agent_process import AgentProcess, free_port, start_agent, wait_until
from tests.support.cli_process import run_cli
from tests.support.envoy import Envoy, EnvoyGroup, http_get
from tests.support.mesh import Mesh


def counter(envoy: Envoy, name: str) -> int:
    return int(envoy.stats(name).get(name, "0"))


def dynamic(envoy: Envoy, kind: str) -> dict[str, dict]:
    """The gateway's active listeners or clusters, by name."""
    key, inner = {"listeners": ("dynamic_listeners", "listener"),
                  "clusters": ("dynamic_active_clusters", "cluster")}[kind]
    out = {}
    for cfg in envoy.config_dump()["configs"]:
        for entry in cfg.get(key, ()):
            body = entry.get("active_state", entry).get(inner) if kind == "listeners" \
                else entry.get(inner)
            if body:
                out[body["name"]] = body
    return out


def gateways_known(agent: AgentProcess, dcs: set[str]) -> bool:
    body = agent.get("/v1/internal/federation-states/mesh-gateways").json()
    return {dc for dc, nodes in body.items() if nodes} >= dcs


class TwoDCs:
    """dc1 and dc2, a mesh gateway in each, ``api`` in dc2 and web sidecars in dc1."""

    def __init__(self) -> None:
        self.envoys = EnvoyGroup()
        self.dc1 = start_agent("-datacenter", "dc1")
        self.dc2 = start_agent("-datacenter", "dc2", "-hcl", 'primary_datacenter = "dc1"',
                               "-join-wan", f"{self.dc1.host}:{self.dc1.wan_port}")
        self.meshes = {"dc1": Mesh(self.dc1, self.envoys), "dc2": Mesh(self.dc2, self.envoys)}
        self.gateways: dict[str, Envoy] = {}
        self.ports: dict[str, tuple[int, int]] = {}

    def start(self) -> None:
        roots = lambda agent: agent.get("/v1/connect/ca/roots").json()  # noqa: E731
        wait_until(lambda: roots(self.dc1).get("ActiveRootID"), 30, "dc1's CA")
        wait_until(lambda: roots(self.dc2).get("ActiveRootID") == roots(self.dc1)[
            "ActiveRootID"], 30, "dc2 on dc1's roots")
        self.trust_domain = roots(self.dc1)["TrustDomain"]
        for dc, agent in (("dc1", self.dc1), ("dc2", self.dc2)):
            lan, wan = free_port(agent.host), free_port(agent.host)
            self.ports[dc] = (lan, wan)
            self.gateways[dc] = self.envoys.start(
                agent, "-gateway", "mesh", "-register", "-address", f"{agent.host}:{lan}",
                "-wan-address", f"{agent.host}:{wan}")
        for agent in (self.dc1, self.dc2):
            wait_until(lambda a=agent: gateways_known(a, {"dc1", "dc2"}), 30,
                       "both datacenters' gateways in the federation states")
        self.meshes["dc1"].config_entry({"Kind": "service-defaults", "Name": "api",
                                         "MeshGateway": {"Mode": "remote"}})
        self.meshes["dc2"].register_app("api", "api")
        self.meshes["dc2"].start_sidecar("api")
        self.web = free_port(self.dc1.host)
        self.web2 = free_port(self.dc1.host)
        dc1 = self.meshes["dc1"]
        dc1.register_app("web", "web", upstreams=[{
            "DestinationName": "api", "Datacenter": "dc2", "LocalBindAddress": self.dc1.host,
            "LocalBindPort": self.web, "MeshGateway": {"Mode": "local"}}])
        dc1.register_app("web2", "web2", upstreams=[{
            "DestinationName": "api", "Datacenter": "dc2", "LocalBindAddress": self.dc1.host,
            "LocalBindPort": self.web2}])
        dc1.start_sidecar("web")
        dc1.start_sidecar("web2")

    def stop(self) -> None:
        self.envoys.stop_all()
        for mesh in self.meshes.values():
            for app in mesh.apps:
                app.stop()
        self.dc2.stop()
        self.dc1.stop()


@pytest.fixture(scope="module")
def dcs():
    dcs = TwoDCs()
    try:
        dcs.start()
        yield dcs
    finally:
        dcs.stop()


def test_gateways_listen_on_both_tagged_addresses_and_never_terminate_tls(dcs):
    gateway = dcs.gateways["dc1"]
    lan, wan = dcs.ports["dc1"]
    host = dcs.dc1.host
    wait_until(lambda: f"dc2.internal.{dcs.trust_domain}" in dynamic(gateway, "clusters"),
               30, "dc1's gateway to know dc2's gateways")
    listeners = dynamic(gateway, "listeners")
    assert sorted(listeners) == sorted([f"lan:{host}:{lan}", f"wan:{host}:{wan}"])
    for listener in listeners.values():
        chains = listener["filter_chains"]
        assert chains[0]["filter_chain_match"]["server_names"] == [
            f"*.dc2.internal.{dcs.trust_domain}"]
        assert all("transport_socket" not in chain for chain in chains)
    # dc2's gateway has api's cluster (by its SNI) with api's sidecar as the endpoint
    wait_until(lambda: f"api.default.dc2.internal.{dcs.trust_domain}" in dynamic(
        dcs.gateways["dc2"], "clusters"), 30, "dc2's gateway to route api")


def test_local_mode_goes_through_both_gateways(dcs):
    sni = f"api.default.dc2.internal.{dcs.trust_domain}"
    remote = f"dc2.internal.{dcs.trust_domain}"
    before = (counter(dcs.gateways["dc1"], f"cluster.{remote}.upstream_cx_total"),
              counter(dcs.gateways["dc2"], f"cluster.{sni}.upstream_cx_total"))
    wait_until(lambda: http_get(dcs.dc1.host, dcs.web, "/local") == (200, "api /local"), 40,
               what="web (dc1) -> api (dc2) through both gateways")
    after = (counter(dcs.gateways["dc1"], f"cluster.{remote}.upstream_cx_total"),
             counter(dcs.gateways["dc2"], f"cluster.{sni}.upstream_cx_total"))
    assert after[0] > before[0] and after[1] > before[1], (before, after)
    # web's sidecar dials dc1's gateway on its LAN address, with api's SNI unchanged
    web_proxy = dcs.meshes["dc1"].proxies["web"]
    hosts = web_proxy.admin("/clusters")
    assert f"{sni}::{dcs.dc1.host}:{dcs.ports['dc1'][0]}::" in hosts, hosts


def test_remote_mode_goes_through_the_remote_gateway_only(dcs):
    sni = f"api.default.dc2.internal.{dcs.trust_domain}"
    remote = f"dc2.internal.{dcs.trust_domain}"
    wait_until(lambda: http_get(dcs.dc1.host, dcs.web2, "/remote") == (200, "api /remote"),
               40, what="web2 (dc1) -> api (dc2) through dc2's gateway")
    through_dc1 = counter(dcs.gateways["dc1"], f"cluster.{remote}.upstream_cx_total")
    via_dc2 = counter(dcs.gateways["dc2"], f"cluster.{sni}.upstream_cx_total")
    assert http_get(dcs.dc1.host, dcs.web2, "/again") == (200, "api /again")
    assert counter(dcs.gateways["dc1"], f"cluster.{remote}.upstream_cx_total") == through_dc1
    assert counter(dcs.gateways["dc2"], f"cluster.{sni}.upstream_cx_total") > via_dc2
    hosts = dcs.meshes["dc1"].proxies["web2"].admin("/clusters")
    assert f"{sni}::{dcs.dc2.host}:{dcs.ports['dc2'][1]}::" in hosts, hosts  # dc2's WAN


def test_intentions_still_judge_the_caller_end_to_end(dcs):
    dc1 = dcs.meshes["dc1"]
    wait_until(lambda: http_get(dcs.dc1.host, dcs.web, "/") [0] == 200, 40,
               what="traffic before the deny")
    dc1.intention("web", "api", {"Action": "deny"})
    try:
        wait_until(lambda: http_get(dcs.dc1.host, dcs.web, "/")[0] == 0, 20,
                   what="the deny (written in dc1, enforced by api's sidecar in dc2)")
        assert http_get(dcs.dc1.host, dcs.web2, "/")[0] == 200  # web2 is someone else
        denied = dcs.meshes["dc2"].proxies["api"].stats("connect_authz")
        assert int(denied.get("connect_authz.rbac.denied", "0")) >= 1
    finally:
        dcs.dc1.delete("/v1/connect/intentions/exact?source=web&destination=api")
    wait_until(lambda: http_get(dcs.dc1.host, dcs.web, "/")[0] == 200, 20,
               what="traffic after the deny is gone")


def test_a_sotw_gateway_carries_the_same_traffic(dcs, tmp_path):
    out = run_cli(dcs.dc2, "connect", "envoy", "-gateway", "mesh", "-bootstrap",
                  "-grpc-addr", f"{dcs.dc2.host}:{dcs.dc2.grpc_port}")
    assert out.returncode == 0, out.stderr
    bootstrap = json.loads(out.stdout)
    bootstrap["dynamic_resources"]["ads_config"]["api_type"] = "GRPC"
    dcs.gateways["dc2"].stop()  # the delta gateway leaves its listener ports to this one
    sotw = dcs.gateways["dc2"] = dcs.envoys.start_bootstrap(bootstrap, dcs.dc2.host, tmp_path)
    sni = f"api.default.dc2.internal.{dcs.trust_domain}"
    wait_until(lambda: http_get(dcs.dc1.host, dcs.web, "/sotw") == (200, "api /sotw"), 40,
               what="web -> api through dc1's gateway and a SotW gateway in dc2")
    assert counter(sotw, f"cluster.{sni}.upstream_cx_total") >= 1
    assert len(sotw.stats("cluster_manager.cds.version_text")[
        "cluster_manager.cds.version_text"].strip('"')) == 16  # our SotW version hash
