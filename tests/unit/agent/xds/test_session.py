"""What both ADS flavours share (session.py): type URLs, nonces, ACKs and NACKs, and
the state-of-the-world core's resending rules."""

from __future__ import annotations

import pytest
from envoy.service.discovery.v3.discovery_pb2 import DeltaDiscoveryRequest, DiscoveryRequest
from google.rpc.status_pb2 import Status

from proconsul.agent.xds.delta import DeltaSession
from proconsul.agent.xds.protos import CLUSTER, ENDPOINT, LISTENER
from proconsul.agent.xds.session import StreamError
from proconsul.agent.xds.sotw import SotwSession
from tests.unit.agent.xds.test_delta import cla, cluster, listener

FLAVOURS = [(SotwSession, DiscoveryRequest), (DeltaSession, DeltaDiscoveryRequest)]
SECRET = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"


def answer(request_type, response, error: str = ""):
    r = request_type(type_url=response.type_url, response_nonce=response.nonce)
    if error:
        r.error_detail.CopyFrom(Status(code=3, message=error))
    return r


@pytest.mark.parametrize(("session_type", "request_type"), FLAVOURS)
def test_a_missing_type_url_is_an_invalid_argument(session_type, request_type):
    with pytest.raises(StreamError) as err:
        session_type().on_request(request_type())
    assert err.value.code == "INVALID_ARGUMENT"
    assert str(err.value) == "type URL is required for ADS"


@pytest.mark.parametrize(("session_type", "request_type"), FLAVOURS)
def test_nonces_are_answered_by_acks_and_nacks_and_unserved_types_ignored(
        session_type, request_type):
    session = session_type()
    assert session.on_request(request_type(type_url=SECRET)) is None
    for t in (CLUSTER, LISTENER):
        session.on_request(request_type(type_url=t))
    session.set_resources(CLUSTER, {"a": cluster("a")})
    session.set_resources(LISTENER, {"l": listener("l", 1)})
    cds, lds = session.responses()
    assert (cds.type_url, lds.type_url) == (CLUSTER, LISTENER)
    assert cds.nonce != lds.nonce and set(session.pending) == {cds.nonce, lds.nonce}
    assert session.on_request(answer(request_type, cds)) is None
    nack = session.on_request(answer(request_type, lds, "bad listener"))
    assert (nack.type_url, nack.nonce, nack.message) == (LISTENER, lds.nonce, "bad listener")
    assert session.acked == {CLUSTER: 1} and session.pending == {}


def test_sotw_sends_a_type_again_only_when_its_version_or_the_names_asked_change():
    session = SotwSession()
    session.on_request(DiscoveryRequest(type_url=CLUSTER))
    session.on_request(DiscoveryRequest(type_url=ENDPOINT, resource_names=["a"]))
    session.set_resources(CLUSTER, {"a": cluster("a"), "b": cluster("b")})
    session.set_resources(ENDPOINT, {"a": cla("a"), "b": cla("b")})
    cds, eds = session.responses()
    assert len(cds.resources) == 2 and len(eds.resources) == 1  # all clusters, named CLAs
    session.set_resources(CLUSTER, {"a": cluster("a", "-1s"), "b": cluster("b")})
    [nacked] = session.responses()
    session.on_request(answer(DiscoveryRequest, nacked, "bad duration"))
    session.set_resources(CLUSTER, dict(session.resources[CLUSTER]))
    assert session.responses() == []  # the NACKed version is not resent
    session.on_request(DiscoveryRequest(type_url=ENDPOINT, resource_names=["a", "b"]))
    [both] = session.responses()
    assert (both.type_url, len(both.resources)) == (ENDPOINT, 2)
    assert both.version_info != eds.version_info
