"""Service virtual IPs: Consul's allocation order (240.0.0.1 up, freed ones first), the
``consul-virtual`` tagged address, freeing with the last instance, manual VIPs moving
between services, rollback, and a snapshot round trip."""

from __future__ import annotations

import io

import pytest

from proconsul.fsm.fsm import FSM
from proconsul.state.catalog import StateError
from proconsul.state.store import Store
from proconsul.state.virtual_ips import TABLE
from proconsul.state.watch import WatchSet
from proconsul.structs.catalog import (
    ConnectProxyConfig,
    NodeService,
    RegisterRequest,
    ServiceConnect,
)
from proconsul.structs.config_entries import load
from proconsul.structs.gateway_services import ServiceName
from proconsul.structs.messages import MessageType, encode_command
from proconsul.structs.virtual_ip import (
    AssignServiceManualVIPsResponse,
    FreeVirtualIP,
    PeeredServiceName,
    ServiceVirtualIP,
    offset_address,
)


def register(write, store, service: NodeService, node: str = "n1") -> None:
    write(store.ensure_registration, RegisterRequest(Node=node, Address="10.0.0.1",
                                                     Service=service))


def sidecar(name: str, sid: str = "") -> NodeService:
    return NodeService(ID=sid or f"{name}-proxy", Service=f"{name}-sidecar-proxy",
                       Kind="connect-proxy", Port=21000,
                       Proxy=ConnectProxyConfig(DestinationServiceName=name))


def stored(store, service_id: str, node: str = "n1") -> NodeService:
    return store.services.get((node, service_id)).Service


def test_offsets_read_as_addresses_in_240_0_0_0_4():
    assert offset_address(1) == "240.0.0.1"
    assert offset_address(256) == "240.0.1.0"
    assert offset_address((15 << 24) | (255 << 16) | (255 << 8) | 253) == "255.255.255.253"


def test_a_sidecar_gives_its_destination_a_vip_and_carries_it(store, write):
    register(write, store, NodeService(ID="web", Service="web", Port=8080))
    assert store.virtual_ip_for_service("web") == ""
    register(write, store, sidecar("web"))
    assert store.virtual_ip_for_service("web") == "240.0.0.1"
    assert store.virtual_ip_for_service("WEB") == "240.0.0.1"  # names are case-insensitive
    tagged = stored(store, "web-proxy").TaggedAddresses["consul-virtual"]
    assert (tagged.Address, tagged.Port) == ("240.0.0.1", 21000)
    # The plain service gets no tagged address; the proxy's own name no VIP.
    assert not stored(store, "web").TaggedAddresses
    assert store.virtual_ip_for_service("web-sidecar-proxy") == ""
    # A second proxy of the same service shares the VIP; a native service gets the next.
    register(write, store, sidecar("web", "web-proxy-2"), node="n2")
    register(write, store, NodeService(ID="api", Service="api", Port=9090,
                                       Connect=ServiceConnect(Native=True)))
    assert stored(store, "web-proxy-2", "n2").TaggedAddresses["consul-virtual"].Address \
        == "240.0.0.1"
    assert stored(store, "api").TaggedAddresses["consul-virtual"].Address == "240.0.0.2"


def test_reregistering_unchanged_writes_nothing(store, write):
    register(write, store, sidecar("web"))
    index = store.max_index("services")
    vip_index = store.max_index(TABLE)
    register(write, store, sidecar("web"))  # what the agent sends: no tagged address
    assert store.max_index("services") == index
    assert store.max_index(TABLE) == vip_index


def test_freed_with_the_last_instance_of_the_name_and_reused_lowest_first(store, write):
    for name in ("a", "b", "c"):
        register(write, store, NodeService(ID=name, Service=name, Connect=ServiceConnect(
            Native=True)))
    assert [store.virtual_ip_for_service(n) for n in "abc"] == [
        "240.0.0.1", "240.0.0.2", "240.0.0.3"]
    register(write, store, NodeService(ID="c2", Service="c", Connect=ServiceConnect(
        Native=True)), node="n2")
    write(store.delete_service, "n1", "c")
    assert store.virtual_ip_for_service("c") == "240.0.0.3"  # another instance holds it
    before = store.max_index(TABLE)
    write(store.delete_service, "n2", "c2")
    write(store.delete_service, "n1", "b")
    assert store.virtual_ip_for_service("c") == store.virtual_ip_for_service("b") == ""
    assert store.max_index(TABLE) > before
    register(write, store, NodeService(ID="d", Service="d", Connect=ServiceConnect(Native=True)))
    register(write, store, NodeService(ID="e", Service="e", Connect=ServiceConnect(Native=True)))
    register(write, store, NodeService(ID="f", Service="f", Connect=ServiceConnect(Native=True)))
    assert [store.virtual_ip_for_service(n) for n in "def"] == [
        "240.0.0.2", "240.0.0.3", "240.0.0.4"]


def test_a_sidecars_vip_goes_with_the_service_it_fronts(store, write):
    register(write, store, NodeService(ID="web", Service="web"))
    register(write, store, sidecar("web"))
    write(store.delete_service, "n1", "web-proxy")
    assert store.virtual_ip_for_service("web") == "240.0.0.1"  # as Consul: "web" remains
    write(store.delete_node, "n1")
    assert store.virtual_ip_for_service("web") == ""


def test_a_config_entry_named_for_the_service_keeps_its_vip(store, write):
    register(write, store, NodeService(ID="web", Service="web", Connect=ServiceConnect(
        Native=True)))
    write(store.config_entry_set, load({"Kind": "service-defaults", "Name": "web",
                                        "Protocol": "http"}))
    write(store.delete_service, "n1", "web")
    assert store.virtual_ip_for_service("web") == "240.0.0.1"


def test_a_terminating_gateway_carries_vips_of_its_linked_services(store, write):
    write(store.config_entry_set, load({"Kind": "terminating-gateway", "Name": "tgw",
                                        "Services": [{"Name": "legacy"}, {"Name": "*"}]}))
    register(write, store, NodeService(ID="tgw", Service="tgw", Kind="terminating-gateway",
                                       Port=8443))
    tagged = stored(store, "tgw").TaggedAddresses
    assert tagged["consul-virtual:legacy"].Address == "240.0.0.1"
    assert set(tagged) == {"consul-virtual:legacy"}
    assert store.virtual_ip_for_service("legacy") == "240.0.0.1"


def test_manual_vips_move_between_services(store, write):
    register(write, store, NodeService(ID="a", Service="a", Connect=ServiceConnect(Native=True)))
    register(write, store, NodeService(ID="b", Service="b", Connect=ServiceConnect(Native=True)))
    found, moved = write(store.assign_manual_vips, "a", ["1.1.1.1", "2.2.2.2"])
    assert (found, moved) == (True, [])
    index = store.max_index(TABLE)
    found, moved = write(store.assign_manual_vips, "b", ["2.2.2.2", "3.3.3.3"])
    assert found and [m.ServiceName.Name for m in moved] == ["a"]
    assert store.max_index(TABLE) > index
    rows = {r.Service.ServiceName.Name: r.ManualIPs for r in store.service_virtual_ip_rows(None)[1]}
    assert rows == {"a": ["1.1.1.1"], "b": ["2.2.2.2", "3.3.3.3"]}
    # A service without a VIP entry changes nothing, not even the others.
    assert write(store.assign_manual_vips, "nope", ["1.1.1.1"]) == (False, None)
    assert store.service_virtual_ip_rows(None)[1][0].ManualIPs == ["1.1.1.1"]
    # Re-assigning a service its own IPs takes nothing from anyone.
    assert write(store.assign_manual_vips, "b", ["3.3.3.3"]) == (True, [])
    # Manual VIPs never change the automatic one.
    assert store.virtual_ip_for_service("b") == "240.0.0.2"


def test_a_failed_write_rolls_the_allocation_back(store, write):
    register(write, store, NodeService(ID="web", Service="web"))
    with pytest.raises(StateError), store.write(99) as tx:
        store.ensure_service(tx, "n1", sidecar("web"))
        store.ensure_service(tx, "missing-node", sidecar("web", "x"))
    assert store.virtual_ip_for_service("web") == ""
    assert len(store.free_virtual_ips) == 0
    register(write, store, sidecar("web"))
    assert store.virtual_ip_for_service("web") == "240.0.0.1"


def test_exhausted_range_refuses_the_registration(store, write):
    last = (15 << 24) | (255 << 16) | (255 << 8) | 253
    store.free_virtual_ips.put(FreeVirtualIP(IP=last, IsCounter=True))
    with pytest.raises(StateError, match="cannot allocate any more unique service virtual IPs"):
        register(write, store, sidecar("web"))


def test_snapshot_round_trip_keeps_both_tables(store, write):
    for name in ("a", "b", "c"):
        register(write, store, NodeService(ID=name, Service=name, Connect=ServiceConnect(
            Native=True)))
    write(store.delete_service, "n1", "b")
    write(store.assign_manual_vips, "a", ["9.9.9.9"])
    buf = io.BytesIO()
    store.snapshot().write(buf)
    restored = Store()
    restored.restore(io.BytesIO(buf.getvalue()))
    assert restored.service_virtual_ip_rows(None) == store.service_virtual_ip_rows(None)
    assert sorted(restored.free_virtual_ips.items()) == sorted(store.free_virtual_ips.items())
    # The restored allocator carries on where it was: the freed offset first.
    with restored.write(100) as tx:
        assert restored.assign_virtual_ip(tx, "d") == "240.0.0.2"
        assert restored.assign_virtual_ip(tx, "e") == "240.0.0.4"


def test_a_resolver_gives_a_virtual_service_a_vip_until_deleted(store, write):
    write(store.config_entry_set, load({"Kind": "service-resolver", "Name": "virt",
                                        "Redirect": {"Service": "real"}}))
    assert store.virtual_ip_for_service("virt") == "240.0.0.1"
    write(store.config_entry_delete, "service-resolver", "virt")
    assert store.virtual_ip_for_service("virt") == ""


def test_a_terminating_gateway_entry_retags_its_instances_and_frees_unlinked(store, write):
    register(write, store, NodeService(ID="tgw", Service="tgw", Kind="terminating-gateway",
                                       Port=8443))
    assert not stored(store, "tgw").TaggedAddresses
    write(store.config_entry_set, load({"Kind": "terminating-gateway", "Name": "tgw",
                                        "Services": [{"Name": "a"}, {"Name": "b"}]}))
    tagged = stored(store, "tgw").TaggedAddresses
    assert {k: v.Address for k, v in tagged.items()} == {
        "consul-virtual:a": "240.0.0.1", "consul-virtual:b": "240.0.0.2"}
    assert stored(store, "tgw").ModifyIndex == write.index
    write(store.config_entry_set, load({"Kind": "terminating-gateway", "Name": "tgw",
                                        "Services": [{"Name": "b"}]}))
    assert set(stored(store, "tgw").TaggedAddresses) == {"consul-virtual:b"}
    assert store.virtual_ip_for_service("a") == ""
    assert store.virtual_ip_for_service("b") == "240.0.0.2"


def test_a_vip_change_wakes_readers_of_the_table(store, write):
    ws = WatchSet()
    store.service_virtual_ip_rows(ws)
    woken: list[bool] = []
    store.watches.register(ws.topics, lambda: woken.append(True))
    register(write, store, NodeService(ID="web", Service="web"))
    assert not woken  # a typical service has no VIP
    register(write, store, sidecar("web"))
    assert woken


def test_update_virtual_ip_command_answers_as_consul(store, write):
    fsm = FSM(store)
    register(write, store, NodeService(ID="a", Service="a", Connect=ServiceConnect(Native=True)))
    register(write, store, NodeService(ID="b", Service="b", Connect=ServiceConnect(Native=True)))

    def update(index: int, name: str, ips: list[str]):
        return fsm.apply(index, encode_command(MessageType.UPDATE_VIRTUAL_IP, ServiceVirtualIP(
            Service=PeeredServiceName(ServiceName=ServiceName(Name=name)), ManualIPs=ips)))

    assert update(10, "a", ["1.1.1.1"]) == AssignServiceManualVIPsResponse(
        Found=True, UnassignedFrom=[])
    assert update(11, "b", ["1.1.1.1"]).UnassignedFrom[0].ServiceName.Name == "a"
    assert update(12, "nope", ["1.1.1.1"]) == AssignServiceManualVIPsResponse(Found=False)
