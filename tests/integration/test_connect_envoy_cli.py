"""``proconsul connect envoy``: the bootstrap, the proxy lookup, the version check."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.agent_process import start_agent
from tests.support.cli_process import run_cli

ENVOY = os.path.join(os.path.dirname(sys.executable), "envoy")


def envoy_cli(agent, *args: str, **env: str) -> subprocess.CompletedProcess:
    out = run_cli(agent, "connect", "envoy", *args, **env)
    out.stdout, out.stderr = out.stdout.decode(), out.stderr.decode()
    return out


@pytest.fixture(scope="module")
def agent():
    agent = start_agent()
    for body in ({"Name": "web", "Port": 8080, "Connect": {"SidecarService": {"Port": 21000}}},
                 {"Name": "db", "Port": 5432},
                 {"Name": "db-proxy-1", "Kind": "connect-proxy", "Port": 21001,
                  "Proxy": {"DestinationServiceName": "db", "DestinationServiceID": "db"}},
                 {"Name": "db-proxy-2", "Kind": "connect-proxy", "Port": 21002,
                  "Proxy": {"DestinationServiceName": "db", "DestinationServiceID": "db"}}):
        reply = agent.put("/v1/agent/service/register", body)
        assert reply.status == 200, reply.text
    yield agent
    agent.stop()


def test_agent_self_names_the_xds_ports_and_envoy_versions(agent):
    xds = agent.get("/v1/agent/self").json()["xDS"]
    assert xds["Port"] == agent.grpc_port
    assert xds["Ports"] == {"Plaintext": agent.grpc_port, "TLS": -1}
    assert "1.40.0" in xds["SupportedProxies"]["envoy"]


def test_bootstrap_for_a_sidecar(agent, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("secret-token\n")
    out = envoy_cli(agent, "-sidecar-for", "web", "-bootstrap",
                  "-admin-bind", "localhost:19555", "-token-file", str(token_file))
    assert out.returncode == 0, out.stderr
    boot = json.loads(out.stdout)
    assert boot["node"] == {"cluster": "web", "id": "web-sidecar-proxy",
                            "metadata": {"namespace": "default", "partition": "default"}}
    assert boot["admin"]["address"]["socket_address"] == {"address": "127.0.0.1",
                                                          "port_value": 19555}
    [local_agent] = boot["static_resources"]["clusters"]
    assert local_agent["name"] == "local_agent"
    endpoint = local_agent["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    # no -grpc-addr: the agent's xDS port from /v1/agent/self
    assert endpoint["address"]["socket_address"] == {"address": agent.host,
                                                     "port_value": agent.grpc_port}
    ads = boot["dynamic_resources"]["ads_config"]
    assert ads["api_type"] == "DELTA_GRPC"
    assert ads["grpc_services"]["initial_metadata"] == [{"key": "x-consul-token",
                                                          "value": "secret-token"}]
    path = tmp_path / "boot.json"
    path.write_text(out.stdout)
    check = subprocess.run([ENVOY, "--mode", "validate", "-c", str(path)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_grpc_addr_flag_and_env(agent):
    out = envoy_cli(agent, "-proxy-id", "web-sidecar-proxy", "-bootstrap",
                  CONSUL_GRPC_ADDR="https://127.0.0.1:8503")
    boot = json.loads(out.stdout)
    [cluster] = boot["static_resources"]["clusters"]
    assert cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"][
        "address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 8503}
    assert cluster["transport_socket"]["name"] == "tls"
    out = envoy_cli(agent, "-proxy-id", "web-sidecar-proxy", "-bootstrap",
                  "-grpc-addr", "unix:///tmp/agent.sock")
    [cluster] = json.loads(out.stdout)["static_resources"]["clusters"]
    assert cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"][
        "address"] == {"pipe": {"path": "/tmp/agent.sock"}}


@pytest.mark.parametrize(("args", "message"), [
    (["-sidecar-for", "nothing"], "No sidecar proxy registered for nothing"),
    (["-sidecar-for", "db"], "More than one sidecar proxy registered for db."),
    ([], "No proxy ID specified. One of -proxy-id, -sidecar-for, or -gateway is required"),
    (["-gateway", "api", "-register"], "API gateways are not supported by Proconsul yet"),
    (["-gateway", "ingress", "-register", "-expose-servers"],
     "'-expose-servers' can only be used for mesh gateways"),
    (["-expose-servers"], "'-expose-servers' can only be used for mesh gateways"),
    (["-gateway", "mesh", "-expose-servers"], "'-expose-servers' requires '-register'"),
    (["-gateway", "mesh"], "No mesh-gateway registered on this agent"),
    (["-gateway", "mesh", "-register", "-wan-address", "x:nope"], "Invalid -wan-address"),
    (["-gateway", "mesh", "-register", "-bind-address", "nameless"],
     "Invalid -bind-address 'nameless': want <name>=<ip>:<port>"),
    (["-gateway", "mesh", "-register", "-address", "192.0.2.77:8443"],
     "The LAN address '192.0.2.77' will not be bindable"),
    (["-register"], "Auto-Registration can only be used for gateways"),
    (["-gateway", "ingress", "-register", "-address", "x:nope"], "Invalid -address"),
    (["-gateway", "bogus"], "-gateway must be one of mesh, terminating, ingress, api"),
    (["-sidecar-for", "web", "-admin-bind", "nope"], "Invalid -admin-bind 'nope'"),
])
def test_clear_errors(agent, args, message):
    out = envoy_cli(agent, *args, "-bootstrap")
    assert out.returncode == 1
    assert message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr


def test_unsupported_envoy_version_is_refused_clearly(agent, tmp_path):
    fake = tmp_path / "envoy"
    fake.write_text("#!/bin/sh\necho 'envoy  version: abc/1.10.0/Clean/RELEASE/BoringSSL'\n")
    fake.chmod(0o755)
    out = envoy_cli(agent, "-sidecar-for", "web", "-envoy-binary", str(fake))
    assert out.returncode == 1
    assert "Envoy version 1.10.0 is not supported" in out.stderr, out.stderr
    assert "Supported: 1.34.x to 1.40.x" in out.stderr


def test_envoy_bootstrap_keys_of_the_proxy_config(agent, tmp_path):
    extra = {"name": "extra_static", "type": "STATIC", "connect_timeout": "1s",
             "load_assignment": {"cluster_name": "extra_static", "endpoints": []}}
    reply = agent.put("/v1/agent/service/register", {
        "Name": "metrics-proxy", "Kind": "connect-proxy", "Port": 21010, "Proxy": {
            "DestinationServiceName": "metrics", "Config": {
                "envoy_prometheus_bind_addr": "127.0.0.1:9102",
                "envoy_stats_bind_addr": "127.0.0.1:9103",
                "envoy_extra_static_clusters_json": json.dumps(extra),
                "envoy_stats_flush_interval": "5s"}}})
    assert reply.status == 200, reply.text
    out = envoy_cli(agent, "-proxy-id", "metrics-proxy", "-bootstrap")
    assert out.returncode == 0, out.stderr
    boot = json.loads(out.stdout)
    statics = boot["static_resources"]
    assert [c["name"] for c in statics["clusters"]] == ["local_agent", "self_admin",
                                                        "extra_static"]
    assert [x["name"] for x in statics["listeners"]] == ["envoy_prometheus_metrics_listener",
                                                         "envoy_metrics_listener"]
    assert boot["stats_flush_interval"] == "5s"
    path = tmp_path / "boot.json"
    path.write_text(out.stdout)
    check = subprocess.run([ENVOY, "--mode", "validate", "-c", str(path)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    reply = agent.put("/v1/agent/service/register", {
        "Name": "bad-proxy", "Kind": "connect-proxy", "Port": 21011, "Proxy": {
            "DestinationServiceName": "bad",
            "Config": {"envoy_prometheus_bind_addr": "nowhere"}}})
    out = envoy_cli(agent, "-proxy-id", "bad-proxy", "-bootstrap")
    assert out.returncode == 1
    assert out.stderr.strip() == ("Invalid proxy configuration: envoy_prometheus_bind_addr: "
                                  "want host:port, got 'nowhere'")


def test_register_a_gateway_and_find_it_again(agent):
    out = envoy_cli(agent, "-gateway", "ingress", "-register", "-service", "edge",
                    "-address", "127.0.0.1:21500", "-bootstrap")
    assert out.returncode == 0, out.stderr
    boot = json.loads(out.stdout)  # -bootstrap keeps stdout for the JSON alone
    assert boot["node"]["id"] == "edge" and boot["node"]["cluster"] == "edge"
    [ready] = boot["static_resources"]["listeners"]
    assert ready["name"] == "envoy_ready_listener"
    assert ready["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 21500}
    service = agent.get("/v1/agent/service/edge").json()
    assert (service["Kind"], service["Address"], service["Port"]) == (
        "ingress-gateway", "127.0.0.1", 21500)
    assert service["TaggedAddresses"]["lan"] == {"Address": "127.0.0.1", "Port": 21500}
    [check] = agent.get("/v1/health/checks/edge").json()
    assert check["Name"] == "ingress-gateway listening"
    # without -register, the one ingress gateway on the agent is found by its kind
    again = envoy_cli(agent, "-gateway", "ingress", "-bootstrap")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["node"]["id"] == "edge"
    none = envoy_cli(agent, "-gateway", "terminating", "-bootstrap")
    assert none.returncode == 1
    assert "No terminating-gateway registered on this agent" in none.stderr


def test_mesh_gateway_registration_as_consul_writes_it(agent):
    host = agent.host
    out = envoy_cli(agent, "-gateway", "mesh", "-register", "-expose-servers", "-bootstrap",
                    "-address", f"{host}:8443", "-wan-address", "192.0.2.10:9443")
    assert out.returncode == 0, out.stderr
    boot = json.loads(out.stdout)
    assert boot["node"]["id"] == "mesh-gateway" and boot["node"]["cluster"] == "mesh-gateway"
    svc = agent.get("/v1/agent/service/mesh-gateway").json()
    assert (svc["Kind"], svc["Service"], svc["Address"], svc["Port"]) == (
        "mesh-gateway", "mesh-gateway", host, 8443)
    assert svc["Meta"] == {"consul-wan-federation": "1"}
    assert svc["TaggedAddresses"] == {
        "lan": {"Address": host, "Port": 8443}, "lan_ipv4": {"Address": host, "Port": 8443},
        "wan": {"Address": "192.0.2.10", "Port": 9443},
        "wan_ipv4": {"Address": host, "Port": 8443}}
    assert "envoy_gateway_no_default_bind" not in (svc["Proxy"].get("Config") or {})  # WAN
    [check] = agent.get("/v1/health/checks/mesh-gateway").json()
    assert check["Name"] == "mesh-gateway listening"
    # both addresses bindable: listeners on both tagged addresses; a bare IP gets port 8443
    out = envoy_cli(agent, "-gateway", "mesh", "-register", "-service", "mgw2", "-bootstrap",
                    "-address", host, "-wan-address", f"{host}:9444")
    assert out.returncode == 0, out.stderr
    svc = agent.get("/v1/agent/service/mgw2").json()
    assert svc["Port"] == 8443 and not svc.get("Meta")
    assert svc["Proxy"]["Config"] == {"envoy_gateway_no_default_bind": True,
                                      "envoy_gateway_bind_tagged_addresses": True}
    out = envoy_cli(agent, "-gateway", "mesh", "-register", "-service", "mgw3", "-bootstrap",
                    "-bind-address", f"inside={host}:7001", "-bind-address",
                    f"outside={host}:7002")
    assert out.returncode == 0, out.stderr
    assert agent.get("/v1/agent/service/mgw3").json()["Proxy"]["Config"] == {
        "envoy_gateway_no_default_bind": True, "envoy_gateway_bind_addresses": {
            "inside": {"Address": host, "Port": 7001},
            "outside": {"Address": host, "Port": 7002}}}
