"""A transparent sidecar with real Envoy: a client in its own network namespace dials api's
virtual IP, ``proconsul connect redirect-traffic`` sends the connection to the sidecar's
outbound listener, and it reaches api's app through both sidecars over mTLS until an
intention denies it.

The namespace is linked to the root namespace by a veth pair; the agent, api's app and
api's Envoy listen on the root end's address, web's Envoy runs in the namespace as root
(the uid redirect-traffic leaves alone) and the client as another uid. Virtual IPs route
on-link over the veth, where no one answers ARP for them, so whatever the sidecar passes
through to one (``original-destination``) goes nowhere.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from dataclasses import dataclass

import pytest

from tests.support import netns
from tests.support.agent_process import AgentProcess, free_port, start_agent, wait_until
from tests.support.cli_process import run_cli
from tests.support.envoy import AppServer, Envoy, EnvoyGroup

VIP_PORT = 8080  # any port: the outbound listener matches api's virtual IP alone
CLIENT_UID = 4242
PASSING = [{"Name": "ok", "TTL": "24h", "Status": "passing"}]
ADMIN_PORT = 19000  # web's Envoy admin, inside the namespace

# Inside the namespace, as CLIENT_UID: one HTTP GET; prints "<status> <body>" ("0 " if none).
CLIENT = """
import encodings.idna, http.client, os, sys  # imported before setuid: /root is closed to CLIENT_UID
os.setuid(int(sys.argv[1]))
conn = http.client.HTTPConnection(sys.argv[2], int(sys.argv[3]), timeout=10)
try:
    conn.request("GET", "/tproxy")
    reply = conn.getresponse()
    print(reply.status, reply.read().decode())
except (OSError, http.client.HTTPException):
    print(0, "")
"""


@dataclass
class Lab:
    namespace: str
    ns_ip: str
    agent: AgentProcess
    envoys: EnvoyGroup
    outside: AppServer  # no mesh service: reached only by passing through
    vip: str = ""  # api's virtual IP, as the catalog assigned it and DNS answers it
    web: Envoy | None = None

    def client_get(self, host: str = "", port: int = VIP_PORT) -> tuple[int, str]:
        host = host or self.vip
        result = subprocess.run(["ip", "netns", "exec", self.namespace, sys.executable, "-c",
                                 CLIENT, str(CLIENT_UID), host, str(port)],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        status, _, body = result.stdout.strip().partition(" ")
        return int(status), body

    def start_web_sidecar(self, ads: str, tmp_path) -> None:
        """web's Envoy inside the namespace, on delta or state-of-the-world ADS (started
        after the rules, as an init container applies them: a connection opened before
        them would meet the inbound redirect)."""
        wrapper = ["ip", "netns", "exec", self.namespace]
        if ads == "delta":
            self.web = self.envoys.start(self.agent, "-sidecar-for", "web", host=self.ns_ip,
                                         wrapper=wrapper, admin_port=ADMIN_PORT)
            return
        out = run_cli(self.agent, "connect", "envoy", "-sidecar-for", "web", "-bootstrap",
                      "-grpc-addr", f"{self.agent.host}:{self.agent.grpc_port}")
        assert out.returncode == 0, out.stderr
        bootstrap = json.loads(out.stdout)
        bootstrap["dynamic_resources"]["ads_config"]["api_type"] = "GRPC"
        self.web = self.envoys.start_bootstrap(bootstrap, self.ns_ip, tmp_path,
                                               wrapper=wrapper, admin_port=ADMIN_PORT)

    def register(self, body: dict) -> None:
        reply = self.agent.put("/v1/agent/service/register", body)
        assert reply.status == 200, reply.text

    def outbound_chains(self) -> list[str] | None:
        """The filter chain names of web's outbound listener; None while it has none."""
        dump = self.web.config_dump()
        for cfg in dump["configs"]:
            for entry in cfg.get("dynamic_listeners", ()):
                if entry["name"] == "outbound_listener:127.0.0.1:15001":
                    listener = entry["active_state"]["listener"]
                    return [c.get("name", "") for c in listener.get("filter_chains", ())]
        return None


def virtual_ip(agent: AgentProcess, service: str) -> str:
    """``<service>.virtual.consul`` as dig reads it from the agent: the VIP the catalog
    gave the service when its sidecar registered (the same as on the sidecar instance)."""
    def answer() -> str:
        out = subprocess.run(["dig", "+short", "-p", str(agent.dns_port), f"@{agent.host}",
                              f"{service}.virtual.consul", "A"], capture_output=True, text=True,
                             timeout=30)
        return out.stdout.strip()

    wait_until(answer, 30, f"a virtual IP for {service}")
    vip = answer()
    proxies = agent.get(f"/v1/catalog/service/{service}-sidecar-proxy").json()
    assert [p["ServiceTaggedAddresses"]["consul-virtual"]["Address"] for p in proxies] == [vip]
    assert vip.startswith("240.")
    return vip


@pytest.fixture
def lab():
    netns.clean_stale()
    token = f"{random.randrange(16 ** 4):04x}"
    name = f"{netns.PREFIX}-{os.getpid()}-{token}-tp"
    octet = netns._free_subnet()
    root_end, ns_end = f"pcntp{os.getpid() % 10000}{token}"[:15], "eth0"
    root_ip, ns_ip = f"10.{octet}.0.1", f"10.{octet}.0.2"
    netns.run("ip", "netns", "add", name)
    envoys, apps, agent = EnvoyGroup(), [], None
    try:
        netns.run("ip", "-n", name, "link", "set", "lo", "up")
        netns.run("ip", "link", "add", root_end, "type", "veth", "peer", "name", ns_end,
                  "netns", name)
        netns.run("ip", "addr", "add", f"{root_ip}/24", "dev", root_end)
        netns.run("ip", "link", "set", root_end, "up")
        netns.run("ip", "-n", name, "addr", "add", f"{ns_ip}/24", "dev", ns_end)
        netns.run("ip", "-n", name, "link", "set", ns_end, "up")
        netns.run("ip", "-n", name, "route", "add", "240.0.0.0/4", "dev", ns_end)
        agent = start_agent(host=root_ip)
        outside = AppServer(root_ip, "outside")
        apps.append(outside)
        lab = Lab(name, ns_ip, agent, envoys, outside)
        wait_until(lambda: agent.get("/v1/connect/ca/roots").json().get("Roots"),
                   what="CA roots")
        api = AppServer(root_ip, "api")
        apps.append(api)
        lab.register({"ID": "api", "Name": "api", "Port": api.port, "Address": root_ip,
                      "Connect": {"SidecarService": {
                          "Port": free_port(root_ip), "Address": root_ip, "Checks": PASSING,
                          "Proxy": {"LocalServiceAddress": root_ip}}}})
        lab.vip = virtual_ip(agent, "api")
        lab.register({"ID": "web", "Name": "web", "Port": 8080, "Address": ns_ip,
                      "Connect": {"SidecarService": {
                          "Port": 21000, "Address": ns_ip, "Checks": PASSING,
                          "Proxy": {"Mode": "transparent",
                                    "LocalServiceAddress": "127.0.0.1"}}}})
        envoys.start(agent, "-sidecar-for", "api")
        yield lab
    finally:
        envoys.stop_all()
        for app in apps:
            app.stop()
        if agent is not None:
            agent.stop()
        netns.run("ip", "netns", "delete", name, check=False)
        netns.run("ip", "link", "delete", root_end, check=False)


@pytest.mark.parametrize("ads", ["delta", "sotw"])
def test_redirected_client_reaches_api_by_its_vip_until_denied(lab, ads, tmp_path):
    assert lab.client_get()[0] == 0  # nothing redirects yet: the VIP goes nowhere
    result = run_cli(lab.agent, "connect", "redirect-traffic", "-netns",
                     f"/var/run/netns/{lab.namespace}", "-proxy-uid", "0",
                     "-proxy-id", "web-sidecar-proxy", "-exclude-inbound-port", str(ADMIN_PORT))
    assert result.returncode == 0, result.stderr
    lab.start_web_sidecar(ads, tmp_path)
    wait_until(lambda: lab.client_get() == (200, "api /tproxy"), 30,
               what="the client to reach api through both sidecars")
    assert lab.outbound_chains() == ["api"]
    handshakes = lab.web.stats("cluster.api.")
    assert any(k.endswith("ssl.handshake") and int(v) > 0 for k, v in handshakes.items())

    # what is not in the mesh passes through web's Envoy to where it was going
    assert lab.client_get(lab.outside.host, lab.outside.port) == (200, "outside /tproxy")
    passed = lab.web.stats("cluster.original-destination.upstream_cx_total")
    assert int(passed["cluster.original-destination.upstream_cx_total"]) >= 1

    reply = lab.agent.put("/v1/connect/intentions/exact?source=web&destination=api",
                          {"Action": "deny"})
    assert reply.status == 200, reply.text
    wait_until(lambda: lab.outbound_chains() == [], 30,
               what="api to leave web's outbound listener")
    assert lab.client_get()[0] == 0  # passed through to the VIP, which leads nowhere

    # mesh destinations only: nothing passes through any more
    reply = lab.agent.put("/v1/config", {"Kind": "mesh", "TransparentProxy": {
        "MeshDestinationsOnly": True}})
    assert reply.status == 200, reply.text
    wait_until(lambda: lab.client_get(lab.outside.host, lab.outside.port)[0] == 0, 30,
               what="the passthrough to go")
