"""The gateway-services table: derived from gateway entries and the catalog, with
Consul's wildcard rules, row indexes, rollback and rebuild after a restore."""

from __future__ import annotations

import io

import pytest

from proconsul.state.store import Store
from proconsul.structs.catalog import (
    ConnectProxyConfig,
    NodeService,
    RegisterRequest,
    ServiceConnect,
)
from proconsul.structs.config_entries import load


def entry(body: dict):
    return load(body)


def register(write, store, node: str, service: NodeService) -> None:
    write(store.ensure_registration, RegisterRequest(Node=node, Address="10.0.0.1",
                                                     Service=service))


def names(store, gateway: str) -> list[tuple[str, int, bool]]:
    return [(r.Service.Name, r.Port or 0, r.FromWildcard is True)
            for r in store.gateway_services_of(None, gateway)[1]]


def test_ingress_wildcard_covers_services_with_a_connect_instance(store, write):
    register(write, store, "n1", NodeService(ID="web", Service="web"))
    register(write, store, "n1", NodeService(ID="db", Service="db"))
    register(write, store, "n1", NodeService(
        ID="web-proxy", Service="web-sidecar-proxy", Kind="connect-proxy", Port=21000,
        Proxy=ConnectProxyConfig(DestinationServiceName="web")))
    write(store.config_entry_set, entry({
        "Kind": "ingress-gateway", "Name": "gw", "Listeners": [
            {"Port": 80, "Protocol": "tcp", "Services": [{"Name": "*"}]}]}))
    assert names(store, "gw") == [("web", 80, True)]
    # db gains a sidecar: the wildcard now covers it, and the table index moves.
    before = store.max_index("gateway-services")
    register(write, store, "n1", NodeService(
        ID="db-proxy", Service="db-sidecar-proxy", Kind="connect-proxy", Port=21001,
        Proxy=ConnectProxyConfig(DestinationServiceName="db")))
    assert names(store, "gw") == [("db", 80, True), ("web", 80, True)]
    assert store.max_index("gateway-services") > before
    # An unrelated write leaves the table and its index alone.
    index = store.max_index("gateway-services")
    register(write, store, "n2", NodeService(ID="x", Service="x"))
    assert store.max_index("gateway-services") == index


def test_wildcard_ingress_rows_must_match_the_service_protocol(store, write):
    register(write, store, "n1", NodeService(ID="web", Service="web", Connect=ServiceConnect(Native=True)))
    write(store.config_entry_set, entry({
        "Kind": "ingress-gateway", "Name": "gw", "Listeners": [
            {"Port": 80, "Protocol": "http", "Services": [{"Name": "*"}]}]}))
    assert names(store, "gw") == []  # web speaks tcp
    write(store.config_entry_set, entry({"Kind": "service-defaults", "Name": "web",
                                         "Protocol": "http"}))
    assert names(store, "gw") == [("web", 80, True)]


def test_explicit_service_wins_over_wildcard_and_rows_keep_their_index(store, write):
    register(write, store, "n1", NodeService(ID="api", Service="api"))
    write(store.config_entry_set, entry({
        "Kind": "terminating-gateway", "Name": "tgw",
        "Services": [{"Name": "*"}, {"Name": "api", "SNI": "api.example"}]}))
    rows = store.gateway_services_of(None, "tgw")[1]
    assert [(r.Service.Name, r.SNI, r.FromWildcard) for r in rows] == [
        ("api", "api.example", rows[0].FromWildcard)]
    assert rows[0].FromWildcard is not True
    created = rows[0].ModifyIndex
    register(write, store, "n2", NodeService(ID="api", Service="api", Port=81))
    assert store.gateway_services_of(None, "tgw")[1][0].ModifyIndex == created


def test_failed_write_rolls_gateway_rows_back(store, write):
    write(store.config_entry_set, entry({
        "Kind": "terminating-gateway", "Name": "tgw", "Services": [{"Name": "api"}]}))
    with pytest.raises(RuntimeError), store.write(99) as tx:
        store.config_entry_delete(tx, "terminating-gateway", "tgw")
        assert names(store, "tgw") == []
        raise RuntimeError("abort")
    assert names(store, "tgw") == [("api", 0, False)]


def test_rows_rebuilt_after_restore():
    store = Store()
    with store.write(5) as tx:
        store.config_entry_set(tx, entry({
            "Kind": "ingress-gateway", "Name": "gw", "Listeners": [
                {"Port": 80, "Protocol": "tcp", "Services": [{"Name": "web"}]}]}))
    buffer = io.BytesIO()
    store.snapshot().write(buffer)
    restored = Store()
    buffer.seek(0)
    restored.restore(buffer)
    index, rows = restored.gateway_services_of(None, "gw")
    assert [(r.Service.Name, r.Port) for r in rows] == [("web", 80)]
    assert index == 5 and rows[0].ModifyIndex == 5
