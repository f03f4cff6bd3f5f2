"""The discovery chain compiler: table tests after Consul's documented examples (router +
splitter + resolver with subsets, redirects, failover across datacenters, protocol checks,
cycles) and the JSON shape of /v1/discovery-chain."""

from __future__ import annotations

import msgspec
import pytest

from proconsul.server.connect.discovery_chain import (
    ChainEntries,
    ChainGraphError,
    CompileRequest,
    compile_chain,
    validate_proposed,
)
from proconsul.structs.config_entries import decode

TD = "11111111-2222-3333-4444-555555555555.consul"
HTTP = {"Kind": "proxy-defaults", "Config": {"protocol": "http"}}


def entries(*raws) -> ChainEntries:
    out = []
    for raw in raws:
        entry = decode(raw)
        entry.normalize()
        entry.validate()
        out.append(entry)
    return ChainEntries.of(out)


def compiled(service, *raws, **overrides) -> dict:
    chain = compile_chain(CompileRequest(service, "dc1", TD, entries(*raws), **overrides))
    return msgspec.to_builtins(chain)


def fails(service, *raws, **overrides) -> str:
    with pytest.raises(ChainGraphError) as info:
        compile_chain(CompileRequest(service, "dc1", TD, entries(*raws), **overrides))
    return info.value.message


def test_default_chain():
    chain = compiled("web")
    assert chain == {
        "ServiceName": "web", "Namespace": "default", "Partition": "default", "Datacenter": "dc1",
        "Default": True, "Protocol": "tcp", "StartNode": "resolver:web.default.default.dc1",
        "Nodes": {"resolver:web.default.default.dc1": {
            "Type": "resolver", "Name": "web.default.default.dc1",
            "Resolver": {"ConnectTimeout": "5s", "Default": True,
                         "Target": "web.default.default.dc1"}}},
        "Targets": {"web.default.default.dc1": {
            "ConnectTimeout": "5s", "ID": "web.default.default.dc1", "Service": "web",
            "Namespace": "default", "Partition": "default", "Datacenter": "dc1",
            "MeshGateway": {}, "Subset": {}, "TransparentProxy": {},
            "SNI": f"web.default.dc1.internal.{TD}", "Name": f"web.default.dc1.internal.{TD}"}},
        "AutoVirtualIPs": None, "ManualVirtualIPs": None}


ROUTER = {"Kind": "service-router", "Name": "web", "Routes": [
    {"Match": {"HTTP": {"PathPrefix": "/admin"}}, "Destination": {"Service": "admin"}},
    {"Match": {"HTTP": {"Header": [{"Name": "x-debug", "Exact": "1"}]}},
     "Destination": {"ServiceSubset": "v2"}}]}
SPLITTER = {"Kind": "service-splitter", "Name": "web", "Splits": [
    {"Weight": 90, "ServiceSubset": "v1"}, {"Weight": 10, "ServiceSubset": "v2"}]}
RESOLVER = {"Kind": "service-resolver", "Name": "web", "DefaultSubset": "v1",
            "ConnectTimeout": "15s", "Subsets": {
                "v1": {"Filter": "Service.Meta.version == v1"},
                "v2": {"Filter": "Service.Meta.version == v2", "OnlyPassing": True}}}


def test_router_splitter_resolver_with_subsets():
    chain = compiled("web", HTTP, ROUTER, SPLITTER, RESOLVER)
    assert chain["Protocol"] == "http" and "Default" not in chain
    assert chain["StartNode"] == "router:web.default.default"
    routes = chain["Nodes"]["router:web.default.default"]["Routes"]
    assert [r["NextNode"] for r in routes] == [
        "resolver:admin.default.default.dc1", "resolver:v2.web.default.default.dc1",
        "splitter:web.default.default"]
    assert routes[-1]["Definition"] == {
        "Match": {"HTTP": {"PathPrefix": "/"}},
        "Destination": {"Service": "web", "Namespace": "default", "Partition": "default"}}
    splits = chain["Nodes"]["splitter:web.default.default"]["Splits"]
    assert [(s["Weight"], s["NextNode"]) for s in splits] == [
        (90, "resolver:v1.web.default.default.dc1"), (10, "resolver:v2.web.default.default.dc1")]
    assert sorted(chain["Targets"]) == [
        "admin.default.default.dc1", "v1.web.default.default.dc1", "v2.web.default.default.dc1"]
    v2 = chain["Targets"]["v2.web.default.default.dc1"]
    assert v2["SNI"] == f"v2.web.default.dc1.internal.{TD}"
    assert v2["Subset"] == {"Filter": "Service.Meta.version == v2", "OnlyPassing": True}
    assert v2["ConnectTimeout"] == "15s"
    assert chain["Targets"]["admin.default.default.dc1"]["ConnectTimeout"] == "5s"


def test_default_subset_applies_without_splitter():
    chain = compiled("web", RESOLVER)
    assert chain["StartNode"] == "resolver:v1.web.default.default.dc1"
    assert list(chain["Targets"]) == ["v1.web.default.default.dc1"]
    assert "Default" not in chain


def test_nested_splitters_are_flattened():
    chain = compiled("web", HTTP,
                     {"Kind": "service-splitter", "Name": "web", "Splits": [
                         {"Weight": 50, "Service": "api"}, {"Weight": 50}]},
                     {"Kind": "service-splitter", "Name": "api", "Splits": [
                         {"Weight": 50, "ServiceSubset": "v1",
                          "RequestHeaders": {"Set": {"x-split": "api-v1"}}},
                         {"Weight": 50, "ServiceSubset": "v2"}]},
                     {"Kind": "service-resolver", "Name": "api",
                      "Subsets": {"v1": {"Filter": "Service.Meta.v == 1"},
                                  "v2": {"Filter": "Service.Meta.v == 2"}}})
    assert list(chain["Nodes"]) == [
        "resolver:v1.api.default.default.dc1", "resolver:v2.api.default.default.dc1",
        "resolver:web.default.default.dc1", "splitter:web.default.default"]
    splits = chain["Nodes"]["splitter:web.default.default"]["Splits"]
    assert [(s["Weight"], s["NextNode"]) for s in splits] == [
        (25, "resolver:v1.api.default.default.dc1"), (25, "resolver:v2.api.default.default.dc1"),
        (50, "resolver:web.default.default.dc1")]
    assert splits[0]["Definition"]["RequestHeaders"] == {"Set": {"x-split": "api-v1"}}


def test_redirect_to_another_service():
    chain = compiled("web", {"Kind": "service-resolver", "Name": "web",
                             "Redirect": {"Service": "web-v2"}})
    assert chain["StartNode"] == "resolver:web-v2.default.default.dc1"
    assert list(chain["Targets"]) == ["web-v2.default.default.dc1"]
    assert "Default" not in chain


def test_redirect_to_another_datacenter_keeps_the_service():
    chain = compiled("web", {"Kind": "service-resolver", "Name": "web",
                             "Redirect": {"Datacenter": "dc9"}})
    target = chain["Targets"]["web.default.default.dc9"]
    assert chain["StartNode"] == "resolver:web.default.default.dc9"
    assert target["SNI"] == f"web.default.dc9.internal.{TD}"


def test_failover_across_datacenters_and_to_targets():
    chain = compiled("web", {"Kind": "service-resolver", "Name": "web",
                             "Subsets": {"v1": {"Filter": "Service.Meta.v == 1"}},
                             "DefaultSubset": "v1",
                             "Failover": {"v1": {"Datacenters": ["dc1", "dc2", "dc3"]}}})
    failover = chain["Nodes"]["resolver:v1.web.default.default.dc1"]["Resolver"]["Failover"]
    assert failover == {"Targets": ["v1.web.default.default.dc2", "v1.web.default.default.dc3"]}
    assert chain["Targets"]["v1.web.default.default.dc3"]["Datacenter"] == "dc3"

    chain = compiled("web", {"Kind": "service-resolver", "Name": "web", "Failover": {"*": {
        "Targets": [{"Service": "backup"}, {"Service": "web", "Datacenter": "dc2"}],
        "Policy": {"Mode": "sequential"}}}})
    failover = chain["Nodes"]["resolver:web.default.default.dc1"]["Resolver"]["Failover"]
    assert failover == {"Targets": ["backup.default.default.dc1", "web.default.default.dc2"],
                        "Policy": {"Mode": "sequential"}}
    assert sorted(chain["Targets"]) == [
        "backup.default.default.dc1", "web.default.default.dc1", "web.default.default.dc2"]


def test_failover_target_follows_its_own_redirect():
    chain = compiled("web",
                     {"Kind": "service-resolver", "Name": "web",
                      "Failover": {"*": {"Service": "backup"}}},
                     {"Kind": "service-resolver", "Name": "backup",
                      "Redirect": {"Datacenter": "dc5"}})
    failover = chain["Nodes"]["resolver:web.default.default.dc1"]["Resolver"]["Failover"]
    assert failover == {"Targets": ["backup.default.default.dc5"]}


def test_redirect_cycle_is_rejected():
    assert fails("a", {"Kind": "service-resolver", "Name": "a", "Redirect": {"Service": "b"}},
                 {"Kind": "service-resolver", "Name": "b", "Redirect": {"Service": "a"}}) == (
        "detected circular resolver redirect: "
        "[a.default.default.dc1 -> b.default.default.dc1 -> a.default.default.dc1]")


def test_splitter_cycle_is_rejected():
    assert fails("web", HTTP,
                 {"Kind": "service-splitter", "Name": "web", "Splits": [
                     {"Weight": 100, "Service": "other"}]},
                 {"Kind": "service-splitter", "Name": "other", "Splits": [
                     {"Weight": 100, "Service": "web"}]}) == (
        "detected circular reference: [splitter:web.default.default -> "
        "splitter:other.default.default -> splitter:web.default.default]")


def test_routers_and_splitters_need_an_http_protocol():
    assert fails("web", ROUTER, RESOLVER) == (
        'discovery chain "web" uses a protocol "tcp" that does not permit advanced routing or '
        "splitting behavior")
    assert fails("web", SPLITTER, RESOLVER) == (
        'discovery chain "web" uses a protocol "tcp" that does not permit advanced routing or '
        "splitting behavior")


def test_inconsistent_protocols_are_rejected():
    assert fails("web", {"Kind": "service-defaults", "Name": "web", "Protocol": "http"},
                 {"Kind": "service-defaults", "Name": "admin", "Protocol": "grpc"},
                 ROUTER, RESOLVER) == (
        'discovery chain "web" uses inconsistent protocols; service "admin" has "grpc" which '
        'is not "http"')


def test_unknown_subset_is_rejected():
    router = {"Kind": "service-router", "Name": "web", "Routes": [
        {"Destination": {"Service": "api", "ServiceSubset": "v9"}}]}
    assert fails("web", HTTP, router) == 'service "api" does not have a subset named "v9"'


def test_override_protocol_tcp_drops_router_and_splitter():
    chain = compiled("web", HTTP, ROUTER, SPLITTER, RESOLVER, override_protocol="tcp")
    assert chain["StartNode"] == "resolver:v1.web.default.default.dc1"
    assert chain["Protocol"] == "tcp"
    assert len(chain["CustomizationHash"]) == 8


def test_overrides_for_connect_timeout_and_mesh_gateway():
    chain = compiled("web", {"Kind": "proxy-defaults", "MeshGateway": {"Mode": "local"}},
                     override_connect_timeout_ns=2_000_000_000)
    target = chain["Targets"]["web.default.default.dc1"]
    assert target["ConnectTimeout"] == "2s" and target["MeshGateway"] == {"Mode": "local"}
    assert "CustomizationHash" in chain
    chain = compiled("web", {"Kind": "proxy-defaults", "MeshGateway": {"Mode": "local"}},
                     override_mesh_gateway="remote")
    assert chain["Targets"]["web.default.default.dc1"]["MeshGateway"] == {"Mode": "remote"}
    plain = compiled("web", {"Kind": "proxy-defaults", "MeshGateway": {"Mode": "local"}})
    assert "CustomizationHash" not in plain


def test_external_sni_marks_target_external():
    chain = compiled("legacy", {"Kind": "service-defaults", "Name": "legacy",
                                "ExternalSNI": "legacy.example.com"})
    target = chain["Targets"]["legacy.default.default.dc1"]
    assert target["SNI"] == "legacy.example.com" and target["External"] is True
    assert target["Name"] == f"legacy.default.dc1.internal.{TD}"
    assert fails("legacy", {"Kind": "service-defaults", "Name": "legacy",
                            "ExternalSNI": "legacy.example.com"},
                 {"Kind": "service-resolver", "Name": "legacy",
                  "Failover": {"*": {"Datacenters": ["dc2"]}}}) == (
        'service "legacy" has an external SNI set; cannot define failover for external services')


def test_service_meta_and_required_inputs():
    chain = compiled("web", {"Kind": "service-defaults", "Name": "web", "Meta": {"team": "a"}})
    assert chain["ServiceMeta"] == {"team": "a"} and chain["Default"] is True
    with pytest.raises(ChainGraphError, match="evaluateInTrustDomain is required"):
        compile_chain(CompileRequest("web", "dc1", "", ChainEntries()))


def stored(*raws):
    out = []
    for raw in raws:
        entry = decode(raw)
        entry.normalize()
        entry.validate()
        out.append(entry)
    return out


def proposal(raw):
    [entry] = stored(raw)
    return entry.Kind, entry.entry_name(), entry


def test_writes_that_break_a_chain_are_refused():
    existing = stored({"Kind": "service-resolver", "Name": "a", "Redirect": {"Service": "b"}})
    with pytest.raises(ChainGraphError, match="detected circular resolver redirect"):
        validate_proposed(existing, *proposal(
            {"Kind": "service-resolver", "Name": "b", "Redirect": {"Service": "a"}}))
    assert fails("web", SPLITTER) == 'service "web" does not have a subset named "v1"'
    two_services = {"Kind": "service-splitter", "Name": "web", "Splits": [
        {"Weight": 50, "Service": "canary"}, {"Weight": 50}]}
    with pytest.raises(ChainGraphError, match='uses a protocol "tcp" that does not permit'):
        validate_proposed([], *proposal(two_services))
    validate_proposed(stored(HTTP), *proposal(two_services))
    validate_proposed(stored(HTTP, RESOLVER), *proposal(SPLITTER))


def test_deletes_that_break_a_chain_are_refused():
    existing = stored(HTTP, RESOLVER, ROUTER)
    with pytest.raises(ChainGraphError, match='service "web" does not have a subset named "v2"'):
        validate_proposed(existing, "service-resolver", "web", None)
    with pytest.raises(ChainGraphError, match='uses a protocol "tcp"'):
        validate_proposed(existing, "proxy-defaults", "global", None)
    validate_proposed(existing, "service-router", "web", None)
    validate_proposed(existing, "ingress-gateway", "in", None)
