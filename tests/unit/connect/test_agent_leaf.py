"""The agent's side of a leaf: its CSR (key made locally) and when it renews."""

from __future__ import annotations

import datetime
import ipaddress
import random

import pytest
from cryptography import x509

from proconsul.agent.connect.csr import LeafRequest, LeafRequestError, make_leaf_csr
from proconsul.agent.connect.renewal import next_renewal, renewal_window
from proconsul.lib.connect_pki import key_id, load_csr, load_private_key

TD = "11111111-2222-3333-4444-555555555555.consul"


def _san(csr_pem):
    csr = load_csr(csr_pem)
    ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return csr, ext


def test_service_csr_has_uri_and_dns_sans_no_subject_and_the_agents_key():
    csr_pem, key_pem = make_leaf_csr(
        LeafRequest(datacenter="dc1", service="web", dns_san=("a.example:80", "a.example", "b")),
        TD)
    csr, ext = _san(csr_pem)
    assert csr.is_signature_valid and csr.subject == x509.Name([]) and ext.critical
    assert ext.value.get_values_for_type(x509.UniformResourceIdentifier) == [
        f"spiffe://{TD}/ns/default/dc/dc1/svc/web"]
    assert ext.value.get_values_for_type(x509.DNSName) == ["a.example", "b"]
    key = load_private_key(key_pem)
    assert key.curve.name == "secp256r1"
    assert key_id(key.public_key()) == key_id(csr.public_key())
    assert "PRIVATE" not in csr_pem
    assert make_leaf_csr(LeafRequest(datacenter="dc1", service="web"), TD)[1] != key_pem


def test_agent_csr_adds_localhost_and_loopback_ips():
    _, ext = _san(make_leaf_csr(LeafRequest(datacenter="dc1", agent="n1", ip_san=("10.0.0.1",)),
                                TD)[0])
    assert ext.value.get_values_for_type(x509.DNSName) == ["localhost"]
    assert ext.value.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address(a) for a in ("127.0.0.1", "::1", "10.0.0.1")]


@pytest.mark.parametrize(("request_", "trust_domain", "message"), [
    (LeafRequest(datacenter="dc1"), TD, "URI must be either service, agent, server, or kind"),
    (LeafRequest(datacenter="dc1", kind="ingress-gateway"), TD, "unsupported kind: ingress-gateway"),
    (LeafRequest(datacenter="", server=True), TD, "datacenter name must be specified"),
    (LeafRequest(datacenter="dc1", service="web"), "", "cluster has no CA bootstrapped yet"),
    (LeafRequest(datacenter="dc1", agent="n", ip_san=("nope",)), TD,
     "'nope' does not appear to be an IPv4 or IPv6 address"),
])
def test_bad_leaf_requests(request_, trust_domain, message):
    with pytest.raises(LeafRequestError) as exc:
        make_leaf_csr(request_, trust_domain)
    assert str(exc.value) == message


T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
H = datetime.timedelta(hours=1)


@pytest.mark.parametrize(("now", "valid_before", "window"), [
    (T0, T0 + 72 * H, (T0 + 43.2 * H, T0 + 64.8 * H)),       # fresh 72 h leaf
    (T0 + 50 * H, T0 + 72 * H, (T0 + 50 * H, T0 + 64.8 * H)),  # inside the soft window
    (T0 + 65 * H, T0 + 72 * H, (T0 + 65 * H, T0 + 65 * H)),    # past 90 %: now
    (T0 + 80 * H, T0 + 72 * H, (T0 + 80 * H, T0 + 80 * H)),    # expired: now
    (T0, T0 + datetime.timedelta(minutes=9), (T0, T0)),        # under 10 minutes: now
    (T0, T0 + H, (T0 + datetime.timedelta(minutes=36), T0 + datetime.timedelta(minutes=54))),
])
def test_renewal_window(now, valid_before, window):
    assert renewal_window(now, T0, valid_before) == window


def test_next_renewal_is_uniform_in_the_window():
    rng = random.Random(7)
    times = [next_renewal(T0, T0, T0 + 72 * H, rng) for _ in range(2000)]
    assert min(times) >= T0 + 43.2 * H and max(times) <= T0 + 64.8 * H
    mean = sum((t - T0).total_seconds() for t in times) / len(times) / 3600
    assert 53 < mean < 55  # 75 % of 72 h on average
    assert next_renewal(T0 + 70 * H, T0, T0 + 72 * H, rng) == T0 + 70 * H
