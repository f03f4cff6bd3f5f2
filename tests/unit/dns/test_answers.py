"""Answers of the resolver, in process: a real in-memory server behind the agent's lookup."""

from __future__ import annotations

import time

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.reversename
import msgspec
import pytest

from proconsul.structs.config_entry_rpc import ConfigEntryRequest
from tests.unit.dns.catalog import Catalog, rdatas

NOERROR, NXDOMAIN = dns.rcode.NOERROR, dns.rcode.NXDOMAIN


def addresses(message: dns.message.Message) -> set[str]:
    return {str(rdata) for rrset in message.answer for rdata in rrset
            if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)}


def soa_fields(message: dns.message.Message) -> tuple:
    (rrset,) = message.authority
    soa = rrset[0]
    return (str(rrset.name), rrset.ttl, str(soa.mname), str(soa.rname), soa.refresh, soa.retry,
            soa.expire, soa.minimum, soa.serial)


# ---- services ------------------------------------------------------------------------


async def test_service_answers_only_instances_without_critical_checks():
    cat = Catalog()
    await cat.instance("n1", "10.0.0.1", "web")
    await cat.instance("n2", "10.0.0.2", "web", status="warning")
    await cat.instance("n3", "10.0.0.3", "web", status="critical")
    reply = await cat.ask("web.service.consul.")
    assert reply.rcode() == NOERROR and reply.flags & dns.flags.AA
    assert not reply.flags & dns.flags.RA
    assert addresses(reply) == {"10.0.0.1", "10.0.0.2"}
    assert {rrset.ttl for rrset in reply.answer} == {0}
    strict = Catalog(only_passing=True)
    await strict.instance("n1", "10.0.0.1", "web")
    await strict.instance("n2", "10.0.0.2", "web", status="warning")
    assert addresses(await strict.ask("web.service.consul.")) == {"10.0.0.1"}


async def test_a_node_check_counts_for_every_service_on_the_node():
    cat = Catalog()
    await cat.instance("n1", "10.0.0.1", "web")
    await cat.register(Node="n1", Address="10.0.0.1",
                       Check={"CheckID": "node-down", "Name": "node", "Status": "critical"})
    assert (await cat.ask("web.service.consul.")).rcode() == NXDOMAIN


async def test_unknown_service_is_nxdomain_with_the_soa():
    cat = Catalog()
    before = int(time.time())
    reply = await cat.ask("nope.service.consul.")
    assert reply.rcode() == NXDOMAIN and not reply.answer
    name, ttl, mname, rname, refresh, retry, expire, minimum, serial = soa_fields(reply)
    assert (name, ttl, mname, rname) == ("consul.", 0, "ns.consul.", "hostmaster.consul.")
    assert (refresh, retry, expire, minimum) == (3600, 600, 86400, 0)
    assert before <= serial <= int(time.time())
    custom = Catalog(soa={"refresh": 10, "retry": 20, "expire": 30, "min_ttl": 40})
    assert soa_fields(await custom.ask("nope.service.consul."))[1:8] == (
        40, "ns.consul.", "hostmaster.consul.", 10, 20, 30, 40)


@pytest.mark.parametrize("rdtype", ["AAAA", "MX"])
async def test_no_record_of_the_type_is_empty_noerror_with_the_soa(rdtype):
    cat = Catalog()
    await cat.instance("n1", "10.0.0.1", "web")
    reply = await cat.ask("web.service.consul.", rdtype)
    assert reply.rcode() == NOERROR and not reply.answer
    assert soa_fields(reply)[0] == "consul."


async def test_srv_weights_ports_targets_and_additional_records():
    cat = Catalog()
    weights = {"Passing": 10, "Warning": 2}
    await cat.register(Node="n1", Address="10.0.0.1", NodeMeta={"rack": "r1"},
                       Service={"ID": "web1", "Service": "web", "Port": 8080, "Weights": weights},
                       Check={"CheckID": "c1", "Name": "c", "ServiceID": "web1",
                              "Status": "passing"})
    await cat.instance("n2", "10.0.0.2", "web", service_id="web2", Port=9090,
                       Address="10.1.0.2", Weights=weights, status="warning")
    reply = await cat.ask("web.service.consul.", "SRV")
    assert sorted(rdatas(reply)) == [
        "web.service.consul. SRV 1 10 8080 n1.node.dc1.consul.",
        "web.service.consul. SRV 1 2 9090 0a010002.addr.dc1.consul.",
    ]
    assert sorted(rdatas(reply, "additional")) == [
        "0a010002.addr.dc1.consul. A 10.1.0.2",
        "n1.node.dc1.consul. A 10.0.0.1",
        'n1.node.dc1.consul. TXT "rack=r1"',
    ]


async def test_srv_weight_of_an_instance_in_maintenance_is_zero():
    cat = Catalog()
    await cat.instance("n1", "10.0.0.1", "web", Port=80)
    await cat.register(Node="n1", Address="10.0.0.1",
                       Check={"CheckID": "_service_maintenance:web-n1", "Name": "maint",
                              "ServiceID": "web-n1", "Status": "passing"})
    assert rdatas(await cat.ask("web.service.consul.", "SRV")) == [
        "web.service.consul. SRV 1 0 80 n1.node.dc1.consul."]


async def test_tags_select_instances_in_both_name_forms():
    cat = Catalog()
    await cat.instance("n1", "10.0.0.1", "web", Tags=["v1", "primary"], Port=1)
    await cat.instance("n2", "10.0.0.2", "web", Tags=["v2"], Port=2)
    assert addresses(await cat.ask("v1.web.service.consul.")) == {"10.0.0.1"}
    assert addresses(await cat.ask("V2.web.service.consul.")) == {"10.0.0.2"}
    assert (await cat.ask("v3.web.service.consul.")).rcode() == NXDOMAIN
    assert [r.split()[-2] for r in rdatas(await cat.ask("_web._v2.service.consul.", "SRV"))] \
        == ["2"]
    assert len((await cat.ask("_web._tcp.service.consul.", "SRV")).answer[0]) == 2
    assert len((await cat.ask("_web._tcp.consul.", "SRV")).answer[0]) == 2


async def test_tagged_addresses_answer_each_address_family():
    cat = Catalog()
    await cat.register(Node="n1", Address="10.0.0.5",
                       TaggedAddresses={"lan_ipv4": "10.0.0.6", "lan_ipv6": "2001:db8::6"},
                       Service={"Service": "web", "Port": 80})
    await cat.register(Node="n2", Address="10.0.0.7", Service={
        "Service": "db", "Port": 5432,
        "TaggedAddresses": {"lan_ipv4": {"Address": "10.2.0.1", "Port": 1}}})
    assert addresses(await cat.ask("web.service.consul.")) == {"10.0.0.6"}
    assert addresses(await cat.ask("web.service.consul.", "AAAA")) == {"2001:db8::6"}
    assert rdatas(await cat.ask("web.service.consul.", "SRV")) == [
        "web.service.consul. SRV 1 1 80 20010db8000000000000000000000006.addr.dc1.consul."]
    assert addresses(await cat.ask("db.service.consul.")) == {"10.2.0.1"}


async def test_host_name_addresses_are_cnames_resolved_inside_the_domain():
    cat = Catalog()
    await cat.register(Node="ext", Address="10.0.0.9",
                       Service={"Service": "web", "Address": "web.example.com", "Port": 80})
    await cat.instance("n1", "10.0.0.1", "db")
    await cat.register(Node="ext", Address="10.0.0.9",
                       Service={"Service": "alias", "Address": "db.service.consul", "Port": 81})
    assert rdatas(await cat.ask("web.service.consul.")) == [
        "web.service.consul. CNAME web.example.com."]
    assert rdatas(await cat.ask("web.service.consul.", "SRV")) == [
        "web.service.consul. SRV 1 1 80 web.example.com."]
    assert rdatas(await cat.ask("alias.service.consul.")) == [
        "alias.service.consul. CNAME db.service.consul.", "db.service.consul. A 10.0.0.1"]
    await cat.register(Node="ext2", Address="10.0.0.8",
                       Service={"Service": "web", "Address": "web2.example.com", "Port": 80})
    query = dns.message.make_query("web.service.consul.", "A")
    chosen = set()
    for _ in range(30):
        wire = await cat.send(query.to_wire())
        assert wire[6:8] == b"\0\1"  # ANCOUNT: one of the CNAMEs, not both
        chosen.add(tuple(rdatas(dns.message.from_wire(wire))))
    assert chosen == {("web.service.consul. CNAME web.example.com.",),
                      ("web.service.consul. CNAME web2.example.com.",)}


async def test_cname_resolutions_keep_five_records_for_clients_without_edns():
    cat = Catalog()
    for i in range(7):
        await cat.instance(f"n{i}", f"10.0.0.{i + 1}", "pool")
    await cat.register(Node="ext", Address="10.0.0.9",
                       Service={"Service": "alias", "Address": "pool.service.consul"})
    plain = await cat.ask("alias.service.consul.", tcp=True)
    assert rdatas(plain)[0] == "alias.service.consul. CNAME pool.service.consul."
    assert len(addresses(plain)) == 5
    assert len(addresses(await cat.ask("alias.service.consul.", tcp=True, payload=1232))) == 7


# ---- nodes, addresses, reverse lookups ----------------------------------------------


async def test_node_addresses_and_meta():
    cat = Catalog()
    await cat.register(Node="n1.example", Address="10.0.0.1",
                       NodeMeta={"rack": "r1", "rfc1035-raw": "v=1", "a=b": "c`d"})
    name = "n1.example.node.consul."
    a = await cat.ask(name)
    assert rdatas(a) == [f"{name} A 10.0.0.1"]
    meta = {f'{name} TXT "rack=r1"', f'{name} TXT "v=1"', f'{name} TXT "a`=b=c``d"'}
    assert set(rdatas(a, "additional")) == meta
    assert set(rdatas(await cat.ask(name, "TXT"))) == meta
    assert set(rdatas(await cat.ask(name, "ANY", payload=4096))) == meta | {f"{name} A 10.0.0.1"}
    assert len(rdatas(await cat.ask(name, "ANY"))) == 3  # udp_answer_limit counts records
    aaaa = await cat.ask(name, "AAAA")
    assert aaaa.rcode() == NOERROR and not aaaa.answer and not aaaa.authority
    mx = await cat.ask(name, "MX")
    assert mx.rcode() == NOERROR and not mx.answer and not mx.additional and not mx.authority
    assert (await cat.ask("n2.node.consul.")).rcode() == NXDOMAIN
    quiet = Catalog(enable_additional_node_meta_txt=False)
    await quiet.register(Node="n1", Address="10.0.0.1", NodeMeta={"rack": "r1"})
    assert not (await quiet.ask("n1.node.consul.")).additional


async def test_addr_names_decode_their_address():
    cat = Catalog()
    v4 = await cat.ask("0a000001.addr.dc1.consul.")
    assert rdatas(v4) == ["0a000001.addr.dc1.consul. A 10.0.0.1"]
    other = await cat.ask("0a000001.addr.dc1.consul.", "AAAA")
    assert not other.answer and rdatas(other, "additional") == [
        "0a000001.addr.dc1.consul. A 10.0.0.1"]
    v6 = await cat.ask("20010db8000000000000000000000001.addr.consul.", "AAAA")
    assert addresses(v6) == {"2001:db8::1"}
    assert (await cat.ask("0a00001.addr.consul.")).rcode() == NXDOMAIN


async def test_reverse_lookups_find_nodes_then_service_addresses():
    cat = Catalog()
    await cat.instance("n1", "10.0.0.1", "web", Address="10.1.0.2")
    await cat.register(Node="n6", Address="2001:db8::6")
    assert rdatas(await cat.ask("1.0.0.10.in-addr.arpa.", "PTR")) == [
        "1.0.0.10.in-addr.arpa. PTR n1.node.dc1.consul."]
    assert rdatas(await cat.ask("2.0.1.10.in-addr.arpa.", "PTR")) == [
        "2.0.1.10.in-addr.arpa. PTR web.service.dc1.consul."]
    v6 = dns.reversename.from_address("2001:db8::6").to_text()
    assert rdatas(await cat.ask(v6, "PTR")) == [f"{v6} PTR n6.node.dc1.consul."]
    missing = await cat.ask("9.9.9.10.in-addr.arpa.", "PTR")
    assert missing.rcode() == NXDOMAIN and soa_fields(missing)[0] == "consul."


# ---- the name itself -----------------------------------------------------------------


async def test_names_are_case_insensitive_and_echoed_as_asked():
    cat = Catalog()
    await cat.instance("n1", "10.0.0.1", "web")
    reply = await cat.ask("WEB.Service.CONSUL.")
    assert [rrset.name.to_text() for rrset in reply.answer] == ["WEB.Service.CONSUL."]
    assert reply.question[0].name.to_text() == "WEB.Service.CONSUL."
    assert addresses(reply) == {"10.0.0.1"}


async def test_alt_domain_answers_in_the_domain_asked():
    cat = Catalog(domain="Consul", alt_domain="example.")
    await cat.instance("n1", "10.0.0.1", "web", Port=80)
    assert rdatas(await cat.ask("web.service.example.", "SRV")) == [
        "web.service.example. SRV 1 1 80 n1.node.dc1.example."]
    assert addresses(await cat.ask("web.service.consul.")) == {"10.0.0.1"}
    assert soa_fields(await cat.ask("nope.service.example."))[:4] == (
        "example.", 0, "ns.example.", "hostmaster.example.")


async def test_datacenters_other_than_ours_do_not_exist_yet():
    cat = Catalog()
    await cat.instance("n1", "10.0.0.1", "web")
    assert addresses(await cat.ask("web.service.dc1.consul.")) == {"10.0.0.1"}
    assert addresses(await cat.ask("web.service.dc1.dc.consul.")) == {"10.0.0.1"}
    for name in ("web.service.dc2.consul.", "n1.node.dc2.consul.", "web.service.p.peer.consul."):
        assert (await cat.ask(name)).rcode() == NXDOMAIN, name


@pytest.mark.parametrize("name,rcode", [
    ("q1.query.consul.", NXDOMAIN),  # no prepared query exists
    ("web.connect.consul.", NXDOMAIN),  # web has no proxy and is not Connect-native
    ("web.ingress.consul.", NXDOMAIN),  # no ingress gateway exposes web
    ("web.virtual.consul.", NOERROR),  # no virtual IPs: empty, like Consul
    ("web.consul.", NXDOMAIN),
    ("consul.", NXDOMAIN),
    ("a.b.c.service.x.y.consul.", NXDOMAIN),
])
async def test_other_forms(name, rcode):
    cat = Catalog()
    await cat.instance("n1", "10.0.0.1", "web")
    reply = await cat.ask(name)
    assert reply.rcode() == rcode and not reply.answer


async def test_connect_and_ingress_answer_proxies_and_gateways():
    cat = Catalog()
    await cat.instance("n1", "10.0.0.1", "web", Port=80)
    await cat.instance("n1", "10.0.0.1", "web-sidecar-proxy", service_id="web-proxy",
                       Kind="connect-proxy", Port=21000,
                       Proxy={"DestinationServiceName": "web"})
    await cat.instance("n2", "10.0.0.2", "gw", Kind="ingress-gateway", Port=8080)
    await cat.agent.rpc("ConfigEntry.Apply", msgspec.convert({"Datacenter": "dc1", "Entry": {
        "Kind": "ingress-gateway", "Name": "gw", "Listeners": [
            {"Port": 8080, "Protocol": "tcp", "Services": [{"Name": "web"}]}]}}, ConfigEntryRequest))
    assert rdatas(await cat.ask("web.connect.consul.", "SRV")) == [
        "web.connect.consul. SRV 1 1 21000 n1.node.dc1.consul."]
    assert addresses(await cat.ask("web.ingress.consul.")) == {"10.0.0.2"}


async def test_ttls():
    cat = Catalog(node_ttl="10s", service_ttl={"web": "20s", "db*": "30s", "*": "5s"})
    for i, service in enumerate(("web", "db-main", "cache")):
        await cat.instance(f"n{i}", f"10.0.0.{i + 1}", service, Port=80)
    assert (await cat.ask("n0.node.consul.")).answer[0].ttl == 10
    assert (await cat.ask("web.service.consul.")).answer[0].ttl == 20
    assert (await cat.ask("db-main.service.consul.", "SRV")).answer[0].ttl == 30
    assert (await cat.ask("cache.service.consul.")).answer[0].ttl == 5


# ---- sizes ---------------------------------------------------------------------------


async def six(cat: Catalog, service: str = "web") -> None:
    for i in range(6):
        await cat.instance(f"n{i}", f"10.0.0.{i + 1}", service, Port=80)


async def test_udp_answer_limit_and_the_tc_bit():
    cat = Catalog()
    await six(cat)
    plain = await cat.ask("web.service.consul.")
    assert len(addresses(plain)) == 3 and not plain.flags & dns.flags.TC
    assert len(addresses(await cat.ask("web.service.consul.", tcp=True))) == 6
    assert len(addresses(await cat.ask("web.service.consul.", payload=4096))) == 6
    truncating = Catalog(enable_truncate=True)
    await six(truncating)
    cut = await truncating.ask("web.service.consul.")
    assert len(addresses(cut)) == 3 and cut.flags & dns.flags.TC
    whole = await truncating.ask("web.service.consul.", tcp=True)
    assert len(addresses(whole)) == 6 and not whole.flags & dns.flags.TC
    one = Catalog(udp_answer_limit=1)
    await six(one)
    assert len(addresses(await one.ask("web.service.consul."))) == 1
    capped = Catalog(a_record_limit=2)
    await six(capped)
    assert len(addresses(await capped.ask("web.service.consul.", tcp=True))) == 2


async def test_cut_srv_answers_keep_only_their_targets_addresses():
    cat = Catalog()
    for i in range(5):
        await cat.register(Node=f"n{i}", Address=f"10.0.0.{i + 1}", NodeMeta={"k": "v"},
                           Service={"Service": "web", "Port": 80})
    cut = await cat.ask("web.service.consul.", "SRV")
    targets = {str(rdata.target) for rdata in cut.answer[0]}
    assert len(targets) == 3
    assert {r.split()[0] for r in rdatas(cut, "additional")} == targets
    assert {r.split()[1] for r in rdatas(cut, "additional")} == {"A"}
    whole = await cat.ask("web.service.consul.", "SRV", payload=4096)
    assert len(whole.answer[0]) == 5 and len(rdatas(whole, "additional")) == 10


async def test_large_answers_are_trimmed_to_the_buffer():
    cat = Catalog(enable_truncate=True)
    for i in range(150):
        await cat.instance(f"n{i}", f"10.0.{i // 250}.{i % 250 + 1}", "big", Port=80)
    query = dns.message.make_query("big.service.consul.", "A", use_edns=True, payload=1232)
    wire = await cat.send(query.to_wire())
    reply = dns.message.from_wire(wire)
    assert len(wire) <= 1232 - 8 and reply.flags & dns.flags.TC
    assert 50 < len(addresses(reply)) < 150
    assert len(addresses(await cat.ask("big.service.consul.", tcp=True))) == 150


async def test_tcp_answers_are_trimmed_to_64k():
    cat = Catalog(enable_truncate=True)
    for i in range(1100):
        await cat.instance(f"node-{i}", f"10.1.{i // 250}.{i % 250 + 1}", "huge", Port=80)
    query = dns.message.make_query("huge.service.consul.", "SRV")
    wire = await cat.send(query.to_wire(), tcp=True)
    reply = dns.message.from_wire(wire)
    assert 65_000 < len(wire) <= 65_523 and reply.flags & dns.flags.TC
    assert 500 < len(reply.answer[0]) < 1024
    assert len(rdatas(reply, "additional")) == len(reply.answer[0])


async def test_answers_are_shuffled_per_reply():
    cat = Catalog()
    await six(cat)
    orders = {tuple(str(r) for r in (await cat.ask("web.service.consul.", payload=4096)).answer[0])
              for _ in range(20)}
    assert len(orders) > 1


async def test_cached_answers_follow_catalog_changes():
    cat = Catalog()
    await cat.instance("n1", "10.0.0.1", "web")
    assert addresses(await cat.ask("web.service.consul.")) == {"10.0.0.1"}
    hits = cat.resolver.stats.cache_hits
    assert addresses(await cat.ask("web.service.consul.")) == {"10.0.0.1"}
    assert cat.resolver.stats.cache_hits == hits + 1
    await cat.instance("n2", "10.0.0.2", "web")
    assert addresses(await cat.ask("web.service.consul.")) == {"10.0.0.1", "10.0.0.2"}
    await cat.instance("n1", "10.0.0.1", "web", status="critical")
    assert addresses(await cat.ask("web.service.consul.")) == {"10.0.0.2"}


# ---- SOA, NS and other question types ------------------------------------------------


async def test_soa_and_ns_name_the_servers():
    cat = Catalog()
    await cat.agent.server.register_self()
    soa = await cat.ask("consul.", "SOA")
    assert soa.rcode() == NOERROR and soa.answer[0].rdtype == dns.rdatatype.SOA
    assert rdatas(soa, "authority") == ["consul. NS server1.node.dc1.consul."]
    assert rdatas(soa, "additional") == ["server1.node.dc1.consul. A 10.9.9.9"]
    ns = await cat.ask("consul.", "NS")
    assert rdatas(ns) == ["consul. NS server1.node.dc1.consul."]
    assert rdatas(ns, "additional") == ["server1.node.dc1.consul. A 10.9.9.9"]
    anywhere = await cat.ask("whatever.service.consul.", "SOA")
    assert anywhere.rcode() == NOERROR and str(anywhere.answer[0].name) == "consul."
    assert (await cat.ask("consul.", "AXFR", tcp=True)).rcode() == dns.rcode.NOTIMP


async def test_edns_buffer_and_client_subnet_are_echoed():
    cat = Catalog()
    await cat.instance("n1", "10.0.0.1", "web")
    reply = await cat.ask("web.service.consul.", payload=3000, ecs="192.0.2.0/24")
    assert reply.edns == 0 and reply.payload == 3000
    (option,) = reply.options
    assert (option.address, option.srclen, option.scopelen) == ("192.0.2.0", 24, 0)
    assert (await cat.ask("web.service.consul.")).edns == -1
