"""The name parser: which labels are the domain, the keyword, the name and the locality."""

from __future__ import annotations

import dns.reversename
import pytest

from proconsul.agent.dns.names import Target, domain_suffix, ip_from_arpa, parse_target
from proconsul.agent.dns.records import SRV

A = 1


def parse(name: str, qtype: int = A) -> Target | None:
    return parse_target(tuple(name.split(".")) if name else (), qtype)


@pytest.mark.parametrize("name,target", [
    ("web.service", Target("service", "web")),
    ("v1.web.service", Target("service", "web", "v1")),
    ("a.b.web.service", Target("service", "web", "a.b")),
    ("web.service.dc2", Target("service", "web", datacenter="dc2")),
    ("web.service.dc2.dc", Target("service", "web", datacenter="dc2")),
    ("web.service.p1.peer", Target("service", "web", peer="p1")),
    ("_web._tcp.service", Target("service", "web")),
    ("_web._v1.service", Target("service", "web", "v1")),
    ("_web._udp.service", Target("service", "web", "udp")),
    ("_web.service", Target("service", "_web")),
    ("n1.node", Target("node", "n1")),
    ("n1.example.node.dc1", Target("node", "n1.example", datacenter="dc1")),
    ("n1.node.p1.peer", Target("node", "n1", peer="p1")),
    ("q.query", Target("query", "q")),
    ("q.x.query.dc3", Target("query", "q.x", datacenter="dc3")),
    ("_q._tcp.query", Target("query", "q")),
    ("_a.b._tcp.query", Target("query", "a.b")),
    ("7f000001.addr", Target("addr", "7f000001")),
    ("7f000001.addr.anything.at.all", Target("addr", "7f000001")),
    ("20010db8000000000000000000000001.addr.dc1",
     Target("addr", "20010db8000000000000000000000001")),
    ("web.connect", Target("connect", "web")),
    ("web.ingress.dc1", Target("ingress", "web", datacenter="dc1")),
    ("web.virtual", Target("virtual", "web")),
    ("web.virtual.p1", Target("virtual", "web", peer="p1")),
    ("service.node", Target("node", "service")),  # the rightmost keyword wins
])
def test_forms(name, target):
    assert parse(name) == target


@pytest.mark.parametrize("name", [
    "", "web", "service", "web.nothing", "web.service.a.b.c", "web.service.dc1.dc.p1.peer",
    "web.service.x.zone", "node", "n1.node.a.b.c", "query", "q.query.a.b",
    "7f00001.addr", "7f0000011.addr", "7g000001.addr", "a.7f000001.addr", "addr",
    "web.connect.a.b.c",
])
def test_invalid(name):
    assert parse(name) is None


def test_srv_questions_may_leave_out_the_service_keyword():
    assert parse("_web._tcp", SRV) == Target("service", "web")
    assert parse("_web._v1.dc2", SRV) == Target("service", "web", "v1", "dc2")
    assert parse("_web._tcp") is None


CONSUL = (b"consul",)
ALT = (b"test", b"consul")


@pytest.mark.parametrize("labels,alt,expected", [
    ((b"web", b"service", b"consul"), None, 1),
    ((b"web", b"service", b"test", b"consul"), ALT, 2),
    ((b"web", b"service", b"consul"), ALT, 1),
    ((b"web", b"service", b"example"), ALT, None),
    ((b"consul",), None, 1),
    ((), None, None),
])
def test_domain_suffix(labels, alt, expected):
    assert domain_suffix(labels, CONSUL, alt) == expected


@pytest.mark.parametrize("name,address", [
    ("1.0.0.10.in-addr.arpa", "10.0.0.1"),
    (dns.reversename.from_address("2001:db8::6").to_text(omit_final_dot=True).lower(),
     "2001:db8::6"),
    ("0.0.10.in-addr.arpa", None),
    ("01.0.0.10.in-addr.arpa", None),
    ("x.1.0.0.10.in-addr.arpa", None),
    ("1.0.ip6.arpa", None),
    ("example.arpa", None),
])
def test_reverse_names(name, address):
    ip = ip_from_arpa(tuple(label.encode() for label in name.split(".")))
    assert (str(ip) if ip is not None else None) == address
