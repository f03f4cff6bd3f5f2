"""Resolving the exported-services entry: what each peer gets, who consumes what."""

from __future__ import annotations

from proconsul.state.watch import WatchSet
from proconsul.structs.catalog import ConnectProxyConfig, NodeService, RegisterRequest
from proconsul.structs.config_entries import decode
from proconsul.structs.exported_services import ResolvedConsumers, ResolvedExportedService


def export(write, store, *services: tuple[str, list[str]]) -> None:
    entry = decode({"Kind": "exported-services", "Name": "default", "Services": [
        {"Name": name, "Consumers": [{"Peer": p} for p in peers]} for name, peers in services]})
    write(store.config_entry_set, entry)


def register(write, store, name: str, kind: str = "", destination: str = "") -> None:
    service = NodeService(ID=name, Service=name, Port=80)
    if kind:
        service = NodeService(ID=name, Service=name, Port=80, Kind=kind,
                              Proxy=ConnectProxyConfig(DestinationServiceName=destination))
    write(store.ensure_registration, RegisterRequest(Node="n1", Address="10.0.0.1",
                                                     Service=service))


def test_no_entry_exports_nothing(store):
    assert store.resolved_exported_services(None)[1] == []
    assert store.exported_services_for_peer(None, "east")[1].Services == []
    assert store.peers_for_service(None, "web")[1] == []


def test_names_and_consumers(store, write):
    export(write, store, ("web", ["west", "east"]), ("db", ["east"]), ("consul", ["east"]),
           ("web", ["north"]))
    assert store.resolved_exported_services(None)[1] == [
        ResolvedExportedService("db", ResolvedConsumers(Peers=["east"])),
        ResolvedExportedService("web", ResolvedConsumers(Peers=["east", "north", "west"]))]
    assert store.exported_services_for_peer(None, "east")[1].Services == ["db", "web"]
    assert store.exported_services_for_peer(None, "west")[1].Services == ["web"]
    assert store.exported_services_for_peer(None, "south")[1].Services == []
    assert store.peers_for_service(None, "web")[1] == ["east", "north", "west"]
    assert store.peers_for_service(None, "consul")[1] == []


def test_wildcard_is_every_typical_service_but_consul(store, write):
    for name in ("web", "db", "consul"):
        register(write, store, name)
    register(write, store, "web-sidecar-proxy", "connect-proxy", "web")
    export(write, store, ("*", ["east"]), ("api", ["west"]))
    assert [(r.Service, r.Consumers.Peers) for r in store.resolved_exported_services(None)[1]] \
        == [("api", ["west"]), ("db", ["east"]), ("web", ["east"])]
    east = store.exported_services_for_peer(None, "east")[1]
    assert east.Services == ["db", "web"]
    assert east.ConnectServices == ["web"]  # its sidecar proxy goes along for the mesh
    assert store.peers_for_service(None, "anything")[1] == ["east"]
    assert store.peers_for_service(None, "api")[1] == ["east", "west"]


def test_mesh_exports_follow_discovery_chains(store, write):
    write(store.config_entry_set, decode({"Kind": "service-resolver", "Name": "db"}))
    export(write, store, ("db", ["east"]), ("cache", ["east"]))
    east = store.exported_services_for_peer(None, "east")[1]
    assert (east.Services, east.ConnectServices) == (["cache", "db"], ["db"])


def test_wildcard_export_wakes_on_a_new_service(store, write):
    export(write, store, ("*", ["east"]))
    ws = WatchSet()
    index, before = store.exported_services_for_peer(ws, "east")
    assert before.Services == []
    woken: list[bool] = []
    store.watches.register(ws.topics, lambda: woken.append(True))
    register(write, store, "web")
    assert woken
    after_index, after = store.exported_services_for_peer(None, "east")
    assert after.Services == ["web"] and after_index > index


def test_entry_change_wakes_named_exports(store, write):
    export(write, store, ("web", ["east"]))
    ws = WatchSet()
    store.resolved_exported_services(ws)
    woken: list[bool] = []
    store.watches.register(ws.topics, lambda: woken.append(True))
    export(write, store, ("web", ["east", "west"]))
    assert woken
