"""The delta ADS core: subscriptions, order, versions, NACKs, re-warming children (what
both flavours share: test_session.py)."""

from __future__ import annotations

import pytest
from envoy.service.discovery.v3.discovery_pb2 import DeltaDiscoveryRequest
from google.rpc.status_pb2 import Status

from proconsul.agent.xds import protos
from proconsul.agent.xds.delta import DeltaSession
from proconsul.agent.xds.protos import CLUSTER, ENDPOINT, LISTENER, ROUTE


def cluster(name: str, timeout: str = "5s") -> protos.Resource:
    return protos.encode(CLUSTER, name, {"name": name, "type": "EDS",
                                         "connect_timeout": timeout})


def cla(name: str, port: int = 1) -> protos.Resource:
    return protos.encode(ENDPOINT, name, {"cluster_name": name, "endpoints": [
        {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {
            "address": "127.0.0.1", "port_value": port}}}}]}]})


def listener(name: str, port: int) -> protos.Resource:
    return protos.encode(LISTENER, name, {"name": name, "address": {"socket_address": {
        "address": "127.0.0.1", "port_value": port}}})


def req(type_url: str, subscribe=(), unsubscribe=(), nonce: str = "",
        error: str = "") -> DeltaDiscoveryRequest:
    r = DeltaDiscoveryRequest(type_url=type_url, resource_names_subscribe=list(subscribe),
                              resource_names_unsubscribe=list(unsubscribe),
                              response_nonce=nonce)
    if error:
        r.error_detail.CopyFrom(Status(code=3, message=error))
    return r


def names(response) -> list[str]:
    return [r.name for r in response.resources]


@pytest.fixture
def session() -> DeltaSession:
    s = DeltaSession()
    for t in (CLUSTER, LISTENER):
        s.on_request(req(t))  # wildcard subscriptions, as Envoy starts
    s.set_resources(CLUSTER, {"a": cluster("a"), "b": cluster("b")})
    s.set_resources(ENDPOINT, {"a": cla("a"), "b": cla("b")})
    s.set_resources(LISTENER, {"l": listener("l", 1)})
    return s


def test_clusters_before_listeners_and_endpoints_only_when_subscribed(session):
    first = session.responses()
    assert [r.type_url for r in first] == [CLUSTER, LISTENER]
    assert sorted(names(first[0])) == ["a", "b"]
    assert first[0].resources[0].version == session.resources[CLUSTER]["a"].version
    assert session.on_request(req(ENDPOINT, subscribe=["a"])) is None
    [eds] = session.responses()
    assert (eds.type_url, names(eds)) == (ENDPOINT, ["a"])
    assert session.responses() == []  # nothing changed: nothing sent


def test_a_nacked_version_is_not_resent_but_a_changed_one_is(session):
    [cds, _] = session.responses()
    bad = cluster("a", "-1s")
    session.set_resources(CLUSTER, {"a": bad, "b": session.resources[CLUSTER]["b"]})
    [update] = session.responses()
    assert names(update) == ["a"]
    nack = session.on_request(req(CLUSTER, nonce=update.nonce, error="bad duration"))
    assert (nack.type_url, nack.nonce, nack.message) == (CLUSTER, update.nonce, "bad duration")
    session.set_resources(CLUSTER, dict(session.resources[CLUSTER]))  # same again
    assert session.responses() == []
    session.set_resources(CLUSTER, {"a": cluster("a", "2s"),
                                    "b": session.resources[CLUSTER]["b"]})
    [fixed] = session.responses()
    assert names(fixed) == ["a"] and fixed.nonce != update.nonce


def test_an_upserted_cluster_gets_its_endpoints_again_and_removals_come_last(session):
    session.responses()
    session.on_request(req(ENDPOINT, subscribe=["a", "b"]))
    session.responses()
    session.set_resources(CLUSTER, {"a": cluster("a", "3s")})
    session.set_resources(ENDPOINT, {"a": cla("a")})
    out = session.responses()
    assert [(r.type_url, names(r), list(r.removed_resources)) for r in out] == [
        (CLUSTER, ["a"], []), (ENDPOINT, ["a"], []),
        (CLUSTER, [], ["b"]), (ENDPOINT, [], ["b"])]


def test_unsubscribe_and_resubscribe_resends(session):
    session.responses()
    session.on_request(req(ENDPOINT, subscribe=["a"]))
    session.responses()
    session.on_request(req(ENDPOINT, unsubscribe=["a"]))
    assert session.responses() == []
    session.on_request(req(ENDPOINT, subscribe=["a"]))
    [again] = session.responses()
    assert names(again) == ["a"]


def test_listener_changes_resend_routes(session):
    session.on_request(req(ROUTE, subscribe=["api"]))
    session.set_resources(ROUTE, {"api": protos.encode(ROUTE, "api", {"name": "api"})})
    assert [r.type_url for r in session.responses()] == [CLUSTER, LISTENER, ROUTE]
    session.set_resources(LISTENER, {"l": listener("l", 2)})
    assert [r.type_url for r in session.responses()] == [LISTENER, ROUTE]


def test_acks_are_counted_per_type(session):
    first = session.responses()
    for response in first:
        assert session.on_request(req(response.type_url, nonce=response.nonce)) is None
    assert session.acked == {CLUSTER: 1, LISTENER: 1}
    assert session.pending == {}


def test_an_empty_wildcard_type_is_answered_once():
    """A gateway with no clusters yet: Envoy waits for a first CDS answer to go live."""
    s = DeltaSession()
    for t in (CLUSTER, LISTENER):
        s.on_request(req(t))
    s.set_resources(CLUSTER, {})
    s.set_resources(LISTENER, {"l": listener("l", 1)})
    first = s.responses()
    assert [(r.type_url, names(r)) for r in first] == [(CLUSTER, []), (LISTENER, ["l"])]
    assert s.responses() == []
