"""Consul's validation of services by kind: the problems, their order and words."""

from __future__ import annotations

import msgspec
import pytest

from proconsul.structs.catalog import NodeService
from proconsul.structs.service_kinds import multi_error, validate_for_agent, validate_service


def service(**fields) -> NodeService:
    return msgspec.convert({"ID": "s", "Service": "s", **fields}, NodeService)


PROXY = {"Kind": "connect-proxy", "Port": 21000, "Proxy": {"DestinationServiceName": "web"}}


@pytest.mark.parametrize("fields,sidecar,problems", [
    ({"Port": 80}, None, []),
    (PROXY, None, []),
    ({**PROXY, "Port": 0}, None, ["Port or SocketPath must be set for a connect-proxy"]),
    ({**PROXY, "Port": 0, "SocketPath": "/run/p.sock"}, None, []),
    ({"Kind": "connect-proxy", "Port": 1}, None,
     ["Proxy.DestinationServiceName must be non-empty for Connect proxy services"]),
    ({**PROXY, "Proxy": {"DestinationServiceName": "*"}}, None,
     ["Proxy.DestinationServiceName must not be a wildcard for Connect proxy services"]),
    ({**PROXY, "Connect": {"Native": True}}, None,
     ["A Proxy cannot also be Connect Native, only typical services"]),
    ({**PROXY, "Proxy": {"DestinationServiceName": "web", "Upstreams": [
        {"DestinationName": "db", "LocalBindPort": 1}, {"DestinationName": "db",
                                                        "LocalBindPort": 2}]}}, None,
     ['upstreams cannot contain duplicates of [type="", name="db", partition="", '
      'namespace="", peer="", datacenter=""]']),
    ({**PROXY, "Proxy": {"DestinationServiceName": "web", "Upstreams": [
        {"DestinationName": "db", "LocalBindPort": 1}, {"DestinationName": "c",
                                                        "LocalBindPort": 1}]}}, None,
     ['upstreams cannot contain duplicates by local bind address and port or unix path; '
      '"127.0.0.1:1" is specified twice']),
    ({"Kind": "mesh-gateway"}, None, ["Port must be non-zero for a mesh-gateway"]),
    ({"Kind": "terminating-gateway", "Port": 0}, None,
     ["Port must be non-zero for a terminating-gateway"]),
    ({"Kind": "ingress-gateway"}, None, []),
    ({"Kind": "api-gateway"}, None, []),
    ({"Kind": "mesh-gateway", "Port": 443}, {}, [
        "A mesh-gateway cannot have a sidecar service defined"]),
    ({"Kind": "ingress-gateway", "Proxy": {"DestinationServiceName": "x",
                                           "LocalServicePort": 8}}, None, [
        "The Proxy.DestinationServiceName configuration is invalid for a ingress-gateway",
        "The Proxy.LocalServicePort configuration is invalid for a ingress-gateway"]),
    ({"Port": 80}, {"ID": "mine"}, [
        "A SidecarService cannot specify an ID as this is managed by the agent"]),
    ({"Port": 80}, {"Connect": {"SidecarService": {}}}, [
        "A SidecarService cannot have a nested SidecarService"]),
    ({"Connect": {"Native": True}}, None, [
        "Port or SocketPath must be set for a Connect native service."]),
])
def test_validate_service(fields, sidecar, problems):
    assert validate_service(service(**fields), sidecar) == problems


def test_agent_validation_leaves_the_port_to_the_agent():
    assert validate_for_agent(service(**{**PROXY, "Port": 0})) == []


def test_multi_error_renders_as_go_multierror():
    assert multi_error(["a"]) == "1 error occurred:\n\t* a\n\n"
    assert multi_error(["a", "b"]) == "2 errors occurred:\n\t* a\n\t* b\n\n"
