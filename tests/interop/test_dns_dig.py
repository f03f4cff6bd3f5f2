"""``dig`` (Debian dnsutils) against real agent processes, for every name form and type.

Two agents: ``plain`` with Consul's defaults (no recursors), and
``configured`` with ``enable_truncate``, TTLs, an alt domain and a recursor:
a tiny DNS server this module runs on its own 127.0.0.x address. Nodes and
services are registered through ``/v1/catalog/register``.
"""

from __future__ import annotations

import re
import shutil
import socket
import struct
import subprocess
from dataclasses import dataclass, field

import pytest

from tests.support.agent_process import AgentProcess, next_loopback, start_agent
from tests.support.dns_responder import Responder


def dig_binary() -> str:
    path = shutil.which("dig")
    if path is None:
        pytest.fail("interop tests need `dig` on PATH (Debian: apt-get install dnsutils; "
                    ".ci/run installs it)")
    return path


@dataclass
class Dig:
    """What dig printed: status, header flags, sections as (name, ttl, type, rdata) rows."""

    text: str
    status: str = ""
    flags: set[str] = field(default_factory=set)
    udp: int | None = None
    transport: str = ""
    size: int = 0
    sections: dict[str, list[tuple[str, int, str, str]]] = field(default_factory=dict)

    def rows(self, section: str = "ANSWER") -> list[tuple[str, int, str, str]]:
        return self.sections.get(section, [])

    def data(self, section: str = "ANSWER") -> list[str]:
        """``"<name> <TYPE> <rdata>"`` per record, sorted."""
        return sorted(f"{name} {rtype} {rdata}" for name, _, rtype, rdata in self.rows(section))


def parse_dig(text: str) -> Dig:
    result = Dig(text)
    if m := re.search(r"status: (\w+)", text):
        result.status = m.group(1)
    if m := re.search(r";; flags: ([\w ]*);", text):
        result.flags = set(m.group(1).split())
    if m := re.search(r"; EDNS: .*udp: (\d+)", text):
        result.udp = int(m.group(1))
    if m := re.search(r";; SERVER: .*\((UDP|TCP)\)", text):
        result.transport = m.group(1)
    if m := re.search(r";; MSG SIZE\s+rcvd: (\d+)", text):
        result.size = int(m.group(1))
    section = None
    for line in text.splitlines():
        if m := re.match(r";; (\w+) SECTION:", line):
            section = m.group(1)
            result.sections[section] = []
        elif not line.strip() or line.startswith(";"):
            section = None if not line.strip() else section
        elif section is not None:
            name, ttl, _cls, rtype, rdata = line.split(None, 4)
            result.sections[section].append((name, int(ttl), rtype, rdata))
    return result


def dig(agent: AgentProcess, *args: str) -> Dig:
    argv = [dig_binary(), f"@{agent.host}", "-p", str(agent.dns_port), "+time=5", "+tries=1",
            *args]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, f"{argv}: {out.stdout}{out.stderr}"
    return parse_dig(out.stdout)


def register(agent: AgentProcess, body: dict) -> None:
    reply = agent.put("/v1/catalog/register", body)
    assert reply.status == 200, reply.text


def instance(agent: AgentProcess, node: str, address: str, service: str, *,
             status: str = "passing", node_meta: dict | None = None, **service_fields) -> None:
    service_id = f"{service}-{node}"
    register(agent, {
        "Node": node, "Address": address, "NodeMeta": node_meta,
        "Service": {"ID": service_id, "Service": service, **service_fields},
        "Check": {"CheckID": f"{service_id}-check", "Name": "check", "ServiceID": service_id,
                  "Status": status}})


def populate(agent: AgentProcess) -> None:
    """The catalog both agents hold."""
    instance(agent, "n1", "10.0.0.1", "web", Port=8080, Tags=["v1"],
             node_meta={"rack": "r1", "rfc1035-spf": "v=spf1 -all"},
             Weights={"Passing": 10, "Warning": 3})
    instance(agent, "n2", "10.0.0.2", "web", Port=9090, Tags=["v2"], Address="10.1.0.2",
             Weights={"Passing": 10, "Warning": 3}, status="warning")
    instance(agent, "n3", "10.0.0.3", "web", Port=7070, status="critical")
    register(agent, {"Node": "n6", "Address": "10.0.0.6",
                     "TaggedAddresses": {"lan_ipv6": "2001:db8::6"}})
    register(agent, {"Node": "n7", "Address": "2001:db8::7"})
    register(agent, {"Node": "ext", "Address": "10.0.0.9",
                     "Service": {"Service": "ext", "Address": "web.service.consul", "Port": 1}})
    for i in range(6):
        instance(agent, f"m{i}", f"10.0.2.{i + 1}", "many", Port=80)
    for i in range(60):
        instance(agent, f"b{i}", f"10.0.3.{i + 1}", "big", Port=80)


@pytest.fixture(scope="module")
def upstream():
    with Responder(next_loopback(), {"example.com": "192.0.2.10"}) as responder:
        yield responder


@pytest.fixture(scope="module")
def plain():
    agent = start_agent("-node", "dns-plain")
    try:
        populate(agent)
        yield agent
    finally:
        agent.stop()


@pytest.fixture(scope="module")
def configured(upstream):
    agent = start_agent("-node", "dns-configured", "-recursor", upstream.address,
                        "-alt-domain", "example.",
                        dns_config={"enable_truncate": True, "node_ttl": "10s",
                                    "service_ttl": {"*": "15s", "web": "20s"},
                                    "recursor_timeout": "1s"})
    try:
        populate(agent)
        yield agent
    finally:
        agent.stop()


# ---- services ------------------------------------------------------------------------


def test_service_a_records_of_healthy_instances(plain):
    out = dig(plain, "web.service.consul", "A")
    assert out.status == "NOERROR" and {"qr", "aa", "rd"} <= out.flags and "ra" not in out.flags
    assert out.data() == ["web.service.consul. A 10.0.0.1", "web.service.consul. A 10.1.0.2"]
    assert {ttl for _, ttl, _, _ in out.rows()} == {0}


def test_service_srv_records_with_weights_and_additional_addresses(plain):
    out = dig(plain, "web.service.consul", "SRV")
    assert out.data() == [
        "web.service.consul. SRV 1 10 8080 n1.node.dc1.consul.",
        "web.service.consul. SRV 1 3 9090 0a010002.addr.dc1.consul.",
    ]
    assert out.data("ADDITIONAL") == [
        "0a010002.addr.dc1.consul. A 10.1.0.2",
        "n1.node.dc1.consul. A 10.0.0.1",
        'n1.node.dc1.consul. TXT "rack=r1"',
        'n1.node.dc1.consul. TXT "v=spf1 -all"',
    ]


@pytest.mark.parametrize("name,rtype,expected", [
    ("v1.web.service.consul", "A", ["v1.web.service.consul. A 10.0.0.1"]),
    ("_web._v2.service.consul", "SRV", ["_web._v2.service.consul. SRV 1 3 9090 "
                                        "0a010002.addr.dc1.consul."]),
    ("_web._v1.consul", "SRV", ["_web._v1.consul. SRV 1 10 8080 n1.node.dc1.consul."]),
    ("web.service.dc1.consul", "A", ["web.service.dc1.consul. A 10.0.0.1",
                                     "web.service.dc1.consul. A 10.1.0.2"]),
    ("ext.service.consul", "A", ["ext.service.consul. CNAME web.service.consul.",
                                 "web.service.consul. A 10.0.0.1",
                                 "web.service.consul. A 10.1.0.2"]),
])
def test_service_name_forms(plain, name, rtype, expected):
    out = dig(plain, name, rtype)
    assert out.status == "NOERROR" and out.data() == expected


def test_rfc2782_tcp_means_any_tag(plain):
    out = dig(plain, "_web._tcp.service.consul", "SRV")
    assert len(out.rows()) == 2 and {row[2] for row in out.rows()} == {"SRV"}


def test_names_are_case_insensitive(plain):
    out = dig(plain, "WEB.Service.CONSUL", "A")
    assert out.data() == ["WEB.Service.CONSUL. A 10.0.0.1", "WEB.Service.CONSUL. A 10.1.0.2"]


# ---- nodes and addresses ---------------------------------------------------------------


def test_node_records(plain):
    a = dig(plain, "n1.node.consul", "A")
    assert a.data() == ["n1.node.consul. A 10.0.0.1"]
    assert a.data("ADDITIONAL") == ['n1.node.consul. TXT "rack=r1"',
                                    'n1.node.consul. TXT "v=spf1 -all"']
    assert dig(plain, "n1.node.consul", "TXT").data() == a.data("ADDITIONAL")
    assert dig(plain, "n1.node.dc1.consul", "ANY").data() == [
        "n1.node.dc1.consul. A 10.0.0.1", 'n1.node.dc1.consul. TXT "rack=r1"',
        'n1.node.dc1.consul. TXT "v=spf1 -all"']
    assert dig(plain, "n6.node.consul", "AAAA").data() == ["n6.node.consul. AAAA 2001:db8::6"]
    assert dig(plain, "n6.node.consul", "A").data() == ["n6.node.consul. A 10.0.0.6"]
    empty = dig(plain, "n6.node.consul", "MX")
    assert empty.status == "NOERROR" and not empty.rows() and not empty.rows("AUTHORITY")


def test_addr_names(plain):
    assert dig(plain, "0a000001.addr.dc1.consul", "A").data() == [
        "0a000001.addr.dc1.consul. A 10.0.0.1"]
    assert dig(plain, "20010db8000000000000000000000006.addr.dc1.consul", "AAAA").data() == [
        "20010db8000000000000000000000006.addr.dc1.consul. AAAA 2001:db8::6"]


def test_reverse_lookups(plain):
    assert dig(plain, "-x", "10.0.0.1").data() == ["1.0.0.10.in-addr.arpa. PTR n1.node.dc1.consul."]
    assert dig(plain, "-x", "10.1.0.2").data() == [
        "2.0.1.10.in-addr.arpa. PTR web.service.dc1.consul."]
    assert dig(plain, "-x", "2001:db8::7").data()[0].endswith(".ip6.arpa. PTR n7.node.dc1.consul.")
    assert dig(plain, "-x", "2001:db8::6").status == "NXDOMAIN"  # tagged addresses don't count
    missing = dig(plain, "-x", "10.9.9.9")
    assert missing.status == "NXDOMAIN" and missing.rows("AUTHORITY")[0][2] == "SOA"


# ---- SOA, NS, NXDOMAIN and empty answers ------------------------------------------------


def test_soa_and_ns(plain):
    soa = dig(plain, "consul", "SOA")
    ((name, ttl, rtype, rdata),) = soa.rows()
    assert (name, ttl, rtype) == ("consul.", 0, "SOA")
    mname, rname, _serial, *timers = rdata.split()
    assert (mname, rname, timers) == ("ns.consul.", "hostmaster.consul.",
                                      ["3600", "600", "86400", "0"])
    assert soa.data("AUTHORITY") == ["consul. NS dns-plain.node.dc1.consul."]
    assert soa.data("ADDITIONAL") == [f"dns-plain.node.dc1.consul. A {plain.host}"]
    ns = dig(plain, "consul", "NS")
    assert ns.data() == ["consul. NS dns-plain.node.dc1.consul."]
    assert ns.data("ADDITIONAL") == [f"dns-plain.node.dc1.consul. A {plain.host}"]


@pytest.mark.parametrize("name,rtype,status,soa", [
    ("nope.service.consul", "A", "NXDOMAIN", True),
    ("web.service.dc2.consul", "A", "NXDOMAIN", True),
    ("nope.node.consul", "A", "NXDOMAIN", True),
    ("web.service.consul", "AAAA", "NOERROR", True),
    ("q1.query.consul", "A", "NXDOMAIN", True),
    ("_q1._tcp.query.consul", "SRV", "NXDOMAIN", True),
    ("web.connect.consul", "A", "NXDOMAIN", True),
    ("web.ingress.consul", "A", "NXDOMAIN", True),
    ("web.virtual.consul", "A", "NOERROR", False),
    ("nothing.consul", "A", "NXDOMAIN", True),
])
def test_nxdomain_and_empty_answers(plain, name, rtype, status, soa):
    out = dig(plain, name, rtype)
    assert out.status == status and not out.rows()
    assert [row[2] for row in out.rows("AUTHORITY")] == (["SOA"] if soa else [])


def test_axfr_is_not_implemented(plain):
    assert "Transfer failed" in dig(plain, "consul", "AXFR").text


# ---- sizes: the UDP answer limit, the TC bit, TCP and EDNS ----------------------------------


def test_udp_answers_are_cut_silently_by_default(plain):
    out = dig(plain, "many.service.consul", "+noedns", "+ignore")
    assert len(out.rows()) == 3 and "tc" not in out.flags and out.transport == "UDP"


def test_tc_bit_and_tcp_fallback(configured):
    cut = dig(configured, "many.service.consul", "+noedns", "+ignore")
    assert len(cut.rows()) == 3 and "tc" in cut.flags and cut.transport == "UDP"
    retried = dig(configured, "many.service.consul", "+noedns")
    assert "Truncated, retrying in TCP mode" in retried.text
    assert len(retried.rows()) == 6 and retried.transport == "TCP" and "tc" not in retried.flags
    tcp = dig(configured, "many.service.consul", "+tcp")
    assert len(tcp.rows()) == 6 and tcp.transport == "TCP"
    srv = dig(configured, "many.service.consul", "SRV", "+noedns", "+ignore")
    assert len(srv.rows()) == 3 and "tc" in srv.flags
    assert {row[0] for row in srv.rows("ADDITIONAL")} == {row[3].split()[-1] for row in srv.rows()}


def test_edns_buffer_size_is_honoured(configured):
    wide = dig(configured, "many.service.consul", "+bufsize=4096")
    assert len(wide.rows()) == 6 and "tc" not in wide.flags and wide.udp == 4096
    assert wide.transport == "UDP"
    big = dig(configured, "big.service.consul", "SRV", "+bufsize=1232", "+ignore")
    assert "tc" in big.flags and big.size <= 1232 - 8 and 10 < len(big.rows()) < 60
    assert len(big.rows("ADDITIONAL")) == len(big.rows())
    small = dig(configured, "big.service.consul", "SRV", "+bufsize=512", "+ignore")
    assert "tc" in small.flags and len(small.rows()) == 3
    assert len(dig(configured, "big.service.consul", "SRV", "+tcp").rows()) == 60


# ---- configured agent: TTLs, alt domain, recursors ---------------------------------------


def test_ttls(configured):
    assert {row[1] for row in dig(configured, "web.service.consul").rows()} == {20}
    assert {row[1] for row in dig(configured, "many.service.consul").rows()} == {15}
    assert dig(configured, "n1.node.consul").rows()[0][1] == 10


def test_alt_domain(configured):
    out = dig(configured, "web.service.example", "SRV")
    assert out.data() == [
        "web.service.example. SRV 1 10 8080 n1.node.dc1.example.",
        "web.service.example. SRV 1 3 9090 0a010002.addr.dc1.example.",
    ]
    missing = dig(configured, "nope.service.example")
    assert missing.status == "NXDOMAIN" and missing.rows("AUTHORITY")[0][0] == "example."


def test_recursors_answer_other_names(configured, upstream):
    out = dig(configured, "example.com", "A")
    assert out.status == "NOERROR" and out.data() == ["example.com. A 192.0.2.10"]
    assert dig(configured, "example.com", "A", "+tcp").data() == ["example.com. A 192.0.2.10"]
    assert dig(configured, "nope.example.com").status == "NXDOMAIN"
    assert dig(configured, "-x", "10.9.9.9").status == "NXDOMAIN"
    assert upstream.questions[-1] == "9.9.9.10.in-addr.arpa."
    assert "ra" in dig(configured, "web.service.consul").flags


def test_no_recursors_means_refused(plain):
    out = dig(plain, "example.com", "A")
    assert out.status == "REFUSED" and "aa" not in out.flags and not out.rows()


# ---- malformed packets -----------------------------------------------------------------------


def test_malformed_packets_get_formerr_and_the_agent_keeps_answering(plain):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(b"\x00\x01garbage", (plain.host, plain.dns_port))  # too short: dropped
        sock.sendto(struct.pack(">HHHHHH", 0xBEEF, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01",
                    (plain.host, plain.dns_port))
        reply = sock.recv(512)
    ident, flags = struct.unpack(">HH", reply[:4])
    assert ident == 0xBEEF and flags & 0x8000 and flags & 0xF == 1  # FORMERR
    assert dig(plain, "web.service.consul").status == "NOERROR"


# ---- prepared queries ----------------------------------------------------------------------


def create_query(agent: AgentProcess, body: dict) -> str:
    reply = agent.call("POST", "/v1/query", body)
    assert reply.status == 200, reply.text
    return reply.json()["ID"]


def test_prepared_query_a_and_srv_with_the_query_ttl(plain):
    query_id = create_query(plain, {"Name": "webq", "Service": {"Service": "web"},
                                    "DNS": {"TTL": "7s"}})
    for name in ("webq.query.consul", "webq.query.dc1.consul", f"{query_id}.query.consul"):
        out = dig(plain, name, "A")
        assert out.status == "NOERROR"
        assert out.data() == [f"{name}. A 10.0.0.1", f"{name}. A 10.1.0.2"]
        assert {ttl for _, ttl, _, _ in out.rows()} == {7}
    srv = dig(plain, "_webq._tcp.query.consul", "SRV")
    assert srv.data() == [
        "_webq._tcp.query.consul. SRV 1 10 8080 n1.node.dc1.consul.",
        "_webq._tcp.query.consul. SRV 1 3 9090 0a010002.addr.dc1.consul.",
    ]
    assert {ttl for _, ttl, _, _ in srv.rows()} == {7}
    assert "n1.node.dc1.consul. A 10.0.0.1" in srv.data("ADDITIONAL")


def test_prepared_query_filters_and_service_ttl_fallback(configured):
    create_query(configured, {"Name": "webpass", "Service": {"Service": "web",
                                                             "OnlyPassing": True}})
    out = dig(configured, "webpass.query.consul", "A")
    assert out.data() == ["webpass.query.consul. A 10.0.0.1"]
    assert {ttl for _, ttl, _, _ in out.rows()} == {20}  # dns_config.service_ttl["web"]
    create_query(configured, {"Name": "manyq", "Service": {"Service": "many"}})
    out = dig(configured, "manyq.query.consul", "A", "+tcp")
    assert len(out.rows()) == 6 and {ttl for _, ttl, _, _ in out.rows()} == {15}


def test_prepared_query_template_and_empty_result(plain):
    create_query(plain, {"Name": "tpl-", "Template": {"Type": "name_prefix_match"},
                         "Service": {"Service": "${name.suffix}"}})
    out = dig(plain, "tpl-many.query.consul", "A")
    assert out.status == "NOERROR" and len(out.rows()) == 6
    cut = dig(plain, "tpl-many.query.consul", "A", "+noedns", "+ignore")
    assert len(cut.rows()) == 3  # the UDP answer limit
    empty = dig(plain, "tpl-nothing.query.consul", "A")
    assert empty.status == "NXDOMAIN" and [r[2] for r in empty.rows("AUTHORITY")] == ["SOA"]


def test_prepared_query_near_ip_answers_the_asking_nodes_instance_first(plain):
    client = next_loopback()
    instance(plain, "ip-self", client, "nearweb", Port=80)
    for i in range(5):
        instance(plain, f"ip-{i}", f"10.0.4.{i + 1}", "nearweb", Port=80)
    create_query(plain, {"Name": "nearq", "Service": {"Service": "nearweb", "Near": "_ip"}})
    for _ in range(5):
        out = dig(plain, "nearq.query.consul", "A", "-b", client)
        assert len(out.rows()) == 6 and out.rows()[0][3] == client
