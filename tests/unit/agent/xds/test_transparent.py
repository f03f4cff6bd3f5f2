"""A transparent proxy's outbound listener and passthrough cluster from hand-built snapshots."""

from __future__ import annotations

import dataclasses

import msgspec

from proconsul.agent.proxycfg.manager import ALL
from proconsul.agent.proxycfg.snapshot import UpstreamSnapshot
from proconsul.agent.xds import protos, sidecar
from proconsul.structs.catalog import (
    CheckServiceNode,
    HealthCheck,
    Node,
    NodeService,
    ServiceAddress,
    Upstream,
)
from proconsul.structs.config_entries.service import TransparentProxyConfig
from tests.unit.agent.xds.test_sidecar import SNI, as_json, chain, datum, snapshot

OUTBOUND = "outbound_listener:127.0.0.1:15001"


def instance(address: str, vip: str | None) -> CheckServiceNode:
    tagged = {"consul-virtual": ServiceAddress(Address=vip, Port=8080)} if vip else {}
    return CheckServiceNode(
        Node=Node(Node="n2", Address="10.0.0.9"),
        Service=NodeService(ID="api-sidecar-proxy", Service="api-sidecar-proxy",
                            Kind="connect-proxy", Address=address, Port=21001,
                            TaggedAddresses=tagged),
        Checks=[HealthCheck(Status="passing")])


def transparent(protocol: str = "tcp", mesh: dict | None = None, dialed_directly: bool = False,
                vip: str | None = "240.0.0.5", port: int = 15001):
    """web's proxy in transparent mode, its explicit upstream api dropped for an implicit one."""
    snap = snapshot(protocol, mesh=mesh)
    compiled = chain(protocol)
    if dialed_directly:
        [(tid, target)] = compiled.Targets.items()
        compiled = msgspec.structs.replace(compiled, Targets={tid: msgspec.structs.replace(
            target, TransparentProxy=TransparentProxyConfig(DialedDirectly=True))})
    nodes = [instance("10.0.0.21", vip), instance("10.0.0.7", vip)]
    up = UpstreamSnapshot("api", Upstream(DestinationName="api"), compiled,
                          {"api.default.default.dc1": datum(("health",), nodes)})
    return dataclasses.replace(snap, upstreams=[], intention_upstreams=[up],
                               mode="transparent", outbound_port=port)


def test_outbound_listener_matches_the_upstream_vip_and_passes_the_rest_through():
    built = sidecar.build(transparent(), set(ALL))
    assert sorted(built[protos.LISTENER]) == [OUTBOUND, "public_listener:10.0.0.1:21000"]
    listener = as_json(built[protos.LISTENER][OUTBOUND])
    assert listener["address"] == {"socket_address": {"address": "127.0.0.1",
                                                      "port_value": 15001}}
    assert listener["traffic_direction"] == "OUTBOUND"
    assert [f["name"] for f in listener["listener_filters"]] == [
        "envoy.filters.listener.original_dst"]
    [api] = listener["filter_chains"]
    assert api["filter_chain_match"] == {"prefix_ranges": [
        {"address_prefix": "240.0.0.5", "prefix_len": 32}]}
    [tcp] = api["filters"]
    assert tcp["name"] == "envoy.filters.network.tcp_proxy"
    assert tcp["typed_config"]["cluster"] == SNI
    passthrough = listener["default_filter_chain"]["filters"][0]["typed_config"]
    assert passthrough["cluster"] == "original-destination"
    assert sorted(built[protos.CLUSTER]) == sorted(["local_app", "original-destination", SNI])
    original = as_json(built[protos.CLUSTER]["original-destination"])
    assert (original["type"], original["lb_policy"], original["connect_timeout"]) == (
        "ORIGINAL_DST", "CLUSTER_PROVIDED", "5s")  # local_connect_timeout_ms, as local_app
    assert list(built[protos.ENDPOINT]) == [SNI]  # the implicit upstream's instances
    cla = as_json(built[protos.ENDPOINT][SNI])
    assert len(cla["endpoints"][0]["lb_endpoints"]) == 2


def test_mesh_destinations_only_drops_the_passthrough():
    mesh = {"TransparentProxy": {"MeshDestinationsOnly": True}}
    built = sidecar.build(transparent(mesh=mesh), set(ALL))
    listener = as_json(built[protos.LISTENER][OUTBOUND])
    assert "default_filter_chain" not in listener
    assert [c["name"] for c in listener["filter_chains"]] == ["api"]
    assert "original-destination" not in built[protos.CLUSTER]
    # with no upstream to match either, Envoy would refuse the listener: there is none
    bare = sidecar.build(transparent(mesh=mesh, vip=None), set(ALL))
    assert OUTBOUND not in bare[protos.LISTENER]
    # without MeshDestinationsOnly the listener stays, all passthrough
    passthrough = as_json(sidecar.build(transparent(vip=None), set(ALL))[protos.LISTENER][
        OUTBOUND])
    assert passthrough.get("filter_chains", []) == []
    assert passthrough["default_filter_chain"]["name"] == "original-destination"


def test_dialed_directly_matches_the_instances_addresses_too():
    listener = as_json(sidecar.build(transparent(dialed_directly=True), {"listeners"})[
        protos.LISTENER][OUTBOUND])
    assert listener["filter_chains"][0]["filter_chain_match"]["prefix_ranges"] == [
        {"address_prefix": "10.0.0.7", "prefix_len": 32},
        {"address_prefix": "10.0.0.21", "prefix_len": 32},
        {"address_prefix": "240.0.0.5", "prefix_len": 32}]


def test_http_upstream_chain_is_an_hcm_on_its_routes_and_the_port_is_configurable():
    built = sidecar.build(transparent("http", port=15009), set(ALL))
    listener = as_json(built[protos.LISTENER]["outbound_listener:127.0.0.1:15009"])
    [hcm] = listener["filter_chains"][0]["filters"]
    assert hcm["name"] == "envoy.filters.network.http_connection_manager"
    assert hcm["typed_config"]["rds"]["route_config_name"] == "api"
    assert list(built[protos.ROUTE]) == ["api"]


def test_a_proxy_not_in_transparent_mode_has_no_outbound_listener():
    snap = dataclasses.replace(transparent(), mode="")
    built = sidecar.build(snap, set(ALL))
    assert list(built[protos.LISTENER]) == ["public_listener:10.0.0.1:21000"]
    assert "original-destination" not in built[protos.CLUSTER]
