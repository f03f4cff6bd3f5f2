"""WANRouter: servers per datacenter from WAN members, fail-fast marks, distance order."""

from __future__ import annotations

import math
import random

from proconsul.server.reconcile import MemberState
from proconsul.server.wan_router import WANRouter, coordinate_distance
from proconsul.structs.coordinate import Coordinate


def server(node: str, dc: str, addr: str, status: str = "alive") -> MemberState:
    return MemberState(f"{node}.{dc}", addr, {"role": "consul", "dc": dc, "port": "8300"},
                       status)


def at(x: float) -> Coordinate:
    """A coordinate ``x`` seconds along the first axis from the origin."""
    return Coordinate(Vec=[x] + [0.0] * 7, Height=0.0)


def router(*members: MemberState) -> WANRouter:
    r = WANRouter("dc1", random.Random(3))
    r.update(list(members))
    return r


def test_servers_are_grouped_by_datacenter_and_non_servers_ignored() -> None:
    client = MemberState("c.dc2", "10.0.2.9", {"role": "node", "dc": "dc2"}, "alive")
    r = router(server("a", "dc1", "10.0.1.1"), server("b", "dc2", "10.0.2.1"),
               server("c", "dc2", "10.0.2.2"), client)
    assert r.datacenters() == ["dc1", "dc2"]
    assert sorted(r.order("dc2")) == ["10.0.2.1:8300", "10.0.2.2:8300"]
    assert [s.node for s in r.servers("dc2")] == ["b", "c"]
    assert r.find("dc3") is None and not r.known("dc3")


def test_failed_servers_leave_the_order_but_keep_the_datacenter_known() -> None:
    r = router(server("b", "dc2", "10.0.2.1"))
    r.update([server("b", "dc2", "10.0.2.1", "failed")])
    assert r.known("dc2") and r.find("dc2") is None
    assert "dc2" in r.datacenters()
    r.update([server("b", "dc2", "10.0.2.1", "left")])
    assert not r.known("dc2") and r.datacenters() == ["dc1"]


def test_a_failed_call_moves_the_server_to_the_end_but_a_single_server_stays() -> None:
    r = router(server("b", "dc2", "10.0.2.1"), server("c", "dc2", "10.0.2.2"))
    first = r.find("dc2")
    r.notify_failed("dc2", first)
    assert r.find("dc2") != first and r.order("dc2")[-1] == first
    single = router(server("b", "dc2", "10.0.2.1"))
    single.notify_failed("dc2", "10.0.2.1:8300")
    single.shuffle("dc2")
    assert single.find("dc2") == "10.0.2.1:8300"


def test_unreachable_servers_are_skipped_until_a_probe_or_gossip_says_alive() -> None:
    r = router(server("b", "dc2", "10.0.2.1"), server("c", "dc2", "10.0.2.2"))
    for address in r.order("dc2"):
        r.mark_unreachable("dc2", address)
    assert r.find("dc2") is None and r.known("dc2")
    assert r.unreachable() == [("dc2", "10.0.2.1:8300"), ("dc2", "10.0.2.2:8300")]
    r.alive_again("10.0.2.1:8300")
    assert r.find("dc2") == "10.0.2.1:8300"
    # Gossip declares c failed, then alive: it is routed to again without a probe.
    r.update([server("b", "dc2", "10.0.2.1"), server("c", "dc2", "10.0.2.2", "failed")])
    r.update([server("b", "dc2", "10.0.2.1"), server("c", "dc2", "10.0.2.2")])
    assert r.candidates("dc2") and not r.unreachable()


def test_datacenters_sort_by_median_rtt_then_name_and_local_is_nearest() -> None:
    r = router(server("a", "dc1", "10.0.1.1"), server("b", "dc2", "10.0.2.1"),
               server("c", "dc3", "10.0.3.1"), server("d", "dc3", "10.0.3.2"),
               server("e", "dc3", "10.0.3.3"), server("f", "dc4", "10.0.4.1"),
               server("g", "dc0", "10.0.0.1"))
    coords = {"a.dc1": at(0), "b.dc2": at(0.050), "c.dc3": at(0.001), "d.dc3": at(0.002),
              "e.dc3": at(0.300), "g.dc0": at(0.050)}  # dc4 has no coordinate
    rtts = r.rtt_by_datacenter(coords["a.dc1"], coords)
    assert math.isclose(rtts["dc3"], 0.002) and rtts["dc4"] == math.inf and rtts["dc1"] == 0
    assert r.datacenters_by_distance(coords["a.dc1"], coords) == \
        ["dc1", "dc3", "dc0", "dc2", "dc4"]
    assert r.datacenters_by_distance(None, coords) == ["dc1", "dc0", "dc2", "dc3", "dc4"]


def test_distance_of_a_missing_coordinate_is_infinite() -> None:
    assert coordinate_distance(None, at(1)) == math.inf
    assert math.isclose(coordinate_distance(at(0), at(0.02)), 0.02)
