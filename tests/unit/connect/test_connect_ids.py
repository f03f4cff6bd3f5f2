"""SPIFFE identities: formatting, parsing, trust-domain checks, CA common names."""

from __future__ import annotations

import re

import pytest

from proconsul.structs.connect_ids import (
    InvalidCertURI,
    SpiffeIDAgent,
    SpiffeIDMeshGateway,
    SpiffeIDServer,
    SpiffeIDService,
    SpiffeIDSigning,
    ca_common_name,
    compact_uid,
    parse_cert_uri,
    peering_server_san,
    signing_id_for_cluster,
)

TD = "11111111-2222-3333-4444-555555555555.consul"

ROUND_TRIPS = [
    (SpiffeIDService(host=TD, datacenter="dc1", service="web"),
     f"spiffe://{TD}/ns/default/dc/dc1/svc/web"),
    (SpiffeIDService(host=TD, datacenter="dc1", service="web", namespace="ops", partition="eu"),
     f"spiffe://{TD}/ap/eu/ns/ops/dc/dc1/svc/web"),
    (SpiffeIDAgent(host=TD, datacenter="dc2", agent="node-1"),
     f"spiffe://{TD}/agent/client/dc/dc2/id/node-1"),
    (SpiffeIDAgent(host=TD, datacenter="dc2", agent="node-1", partition="eu"),
     f"spiffe://{TD}/ap/eu/agent/client/dc/dc2/id/node-1"),
    (SpiffeIDServer(host=TD, datacenter="dc1"), f"spiffe://{TD}/agent/server/dc/dc1"),
    (SpiffeIDMeshGateway(host=TD, datacenter="dc3"), f"spiffe://{TD}/gateway/mesh/dc/dc3"),
    (SpiffeIDMeshGateway(host=TD, datacenter="dc3", partition="eu"),
     f"spiffe://{TD}/ap/eu/gateway/mesh/dc/dc3"),
    (SpiffeIDSigning(cluster_id="11111111-2222-3333-4444-555555555555"), f"spiffe://{TD}"),
    (SpiffeIDService(host=TD, datacenter="dc1", service="my svc"),
     f"spiffe://{TD}/ns/default/dc/dc1/svc/my%20svc"),
]


@pytest.mark.parametrize(("identity", "uri"), ROUND_TRIPS)
def test_format_and_parse_round_trip(identity, uri):
    assert identity.uri() == uri
    assert parse_cert_uri(uri) == identity


def test_default_partition_segment_parses_to_default():
    parsed = parse_cert_uri(f"spiffe://{TD}/ap/default/ns/default/dc/dc1/svc/web")
    assert parsed == SpiffeIDService(host=TD, datacenter="dc1", service="web")
    assert parsed.uri() == f"spiffe://{TD}/ns/default/dc/dc1/svc/web"


@pytest.mark.parametrize(("uri", "message"), [
    ("https://x.consul/ns/default/dc/dc1/svc/web", "SPIFFE ID must have 'spiffe' scheme"),
    (f"spiffe://{TD}/ns/default/dc/dc1/svc", "SPIFFE ID is not in the expected format: "),
    (f"spiffe://{TD}/ns/default/dc/dc1/svc/web/extra", "SPIFFE ID is not in the expected format"),
    (f"spiffe://{TD}/agent/client/dc/dc1", "SPIFFE ID is not in the expected format"),
    (f"spiffe://{TD}/agent/server/dc/dc1/x", "SPIFFE ID is not in the expected format"),
    ("spiffe://nodot", "SPIFFE ID is not in the expected format"),
    ("spiffe://", "SPIFFE ID is not in the expected format"),
])
def test_parse_rejects_other_shapes(uri, message):
    with pytest.raises(InvalidCertURI) as exc:
        parse_cert_uri(uri)
    assert str(exc.value).startswith(message)


def test_signing_host_is_lower_case_and_can_sign_same_domain_only():
    signing = signing_id_for_cluster("AbCd-1234")
    assert signing.host == "abcd-1234.consul"
    assert signing.uri() == "spiffe://abcd-1234.consul"
    assert signing.can_sign(SpiffeIDService(host="ABCD-1234.consul", datacenter="d",
                                            service="s"))
    assert signing.can_sign(SpiffeIDAgent(host="abcd-1234.consul", datacenter="d", agent="n"))
    assert not signing.can_sign(SpiffeIDService(host="other.consul", datacenter="d",
                                                service="s"))
    assert signing.can_sign(SpiffeIDSigning(cluster_id="abcd-1234"))
    assert not signing.can_sign(SpiffeIDSigning(cluster_id="abcd-1234", domain="other"))


def test_ca_common_name_forms():
    cid = "a1b2c3d4-0000-1111-2222-333333333333"
    assert ca_common_name("consul", "ABCDEFGHIJ", cid, True) == \
        "pri-abcdefgh.consul.ca.a1b2c3d4.consul"
    assert ca_common_name("aws-pca", "x_y-z", cid, False) == "sec-xyz.awspca.ca.a1b2c3d4.consul"
    assert re.fullmatch(r"[0-9a-z]{8}", compact_uid())
    assert compact_uid() != compact_uid()


def test_peering_server_san():
    assert peering_server_san("dc1", TD) == f"server.dc1.peering.{TD}"
