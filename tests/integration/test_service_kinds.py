"""Service kinds are validated at registration as Consul does: the agent API, the
catalog API and service definitions in config files."""

from __future__ import annotations

import subprocess
import sys

from tests.support.agent_process import free_port, next_loopback


def test_agent_register_refuses_proxies_and_gateways_with_consuls_messages(agent, unique):
    reply = agent.put("/v1/agent/service/register", {
        "Name": f"{unique}-p", "Kind": "connect-proxy", "Port": 21000})
    assert reply.status == 400
    assert reply.text == ("Validation failed: 1 error occurred:\n\t* Proxy.DestinationServiceName "
                          "must be non-empty for Connect proxy services\n\n")
    reply = agent.put("/v1/agent/service/register", {
        "Name": f"{unique}-p", "Kind": "connect-proxy",
        "Proxy": {"DestinationServiceName": "web"}})
    assert reply.status == 400
    assert "* Port or SocketPath must be set for a connect-proxy" in reply.text
    reply = agent.put("/v1/agent/service/register", {
        "Name": f"{unique}-mgw", "Kind": "mesh-gateway", "Connect": {"SidecarService": {}}})
    assert reply.status == 400
    assert reply.text == ("Validation failed: 2 errors occurred:\n"
                          "\t* Port must be non-zero for a mesh-gateway\n"
                          "\t* A mesh-gateway cannot have a sidecar service defined\n\n")
    reply = agent.put("/v1/agent/service/register", {
        "Name": f"{unique}-web", "Port": 80, "Connect": {"SidecarService": {"ID": "mine"}}})
    assert reply.status == 400
    assert "A SidecarService cannot specify an ID" in reply.text
    assert agent.get(f"/v1/agent/service/{unique}-web").status == 404

    ok = agent.put("/v1/agent/service/register", {
        "Name": f"{unique}-igw", "Kind": "ingress-gateway"})  # ingress needs no port
    assert ok.status == 200, ok.text


def test_catalog_register_refuses_invalid_kinds_with_400(agent, unique):
    reply = agent.put("/v1/catalog/register", {
        "Node": unique, "Address": "10.0.0.1",
        "Service": {"Service": "p", "Kind": "connect-proxy",
                    "Proxy": {"DestinationServiceName": "web"}}})
    assert reply.status == 400
    assert reply.text == ("1 error occurred:\n\t* Port or SocketPath must be set for a "
                          "connect-proxy")
    reply = agent.put("/v1/catalog/register", {
        "Node": unique, "Address": "10.0.0.1",
        "Service": {"Service": "tgw", "Kind": "terminating-gateway", "Port": 8443,
                    "Proxy": {"Upstreams": [{"DestinationName": "db"}]}}})
    assert reply.status == 400
    assert "The Proxy.Upstreams configuration is invalid for a terminating-gateway" in reply.text
    assert agent.get(f"/v1/catalog/node/{unique}").json() is None


def test_invalid_service_definition_stops_start_up(tmp_path):
    path = tmp_path / "svc.hcl"
    path.write_text('service {\n  name = "p"\n  kind = "connect-proxy"\n  port = 21000\n}\n')
    host = next_loopback()
    ports = [str(free_port(host)) for _ in range(4)]
    result = subprocess.run([sys.executable, "-m", "proconsul", "agent", "-dev", "-client", host,
                             "-bind", host, "-http-port", ports[0], "-serf-lan-port", ports[1],
                             "-serf-wan-port", ports[2], "-server-port", ports[3],
                             "-dns-port", "-1", "-config-file", str(path)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert ('==> service "p": 1 error occurred:\n\t* Proxy.DestinationServiceName must be '
            'non-empty for Connect proxy services') in result.stderr + result.stdout
    assert "Traceback" not in result.stderr + result.stdout
