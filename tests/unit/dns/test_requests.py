"""Requests the resolver turns away, recursion, and stale answers while lookups fail."""

from __future__ import annotations

import struct

import dns.flags
import dns.message
import dns.rcode
import pytest

from proconsul.agent.dns.lookup import AgentLookup, LookupFailed
from proconsul.agent.dns.resolver import Resolver
from tests.support.agent_process import next_loopback
from tests.support.dns_responder import Responder
from tests.unit.dns.catalog import Catalog, rdatas


def header(ident=0x1234, flags=0x0100, qd=1, an=0, ns=0, ar=0) -> bytes:
    return struct.pack(">HHHHHH", ident, flags, qd, an, ns, ar)


QUESTION = b"\x03web\x07service\x06consul\x00\x00\x01\x00\x01"


@pytest.mark.parametrize("packet", [
    b"",
    b"\x12\x34\x01",
    header()[:11],
    header(flags=0x8100) + QUESTION,  # a response
])
async def test_dropped(packet):
    cat = Catalog()
    assert await cat.send(packet) is None
    assert cat.resolver.stats.malformed == 1


@pytest.mark.parametrize("packet,rcode,question", [
    (header(flags=5 << 11) + QUESTION, dns.rcode.NOTIMP, False),  # UPDATE
    (header(qd=2) + QUESTION * 2, dns.rcode.FORMERR, False),
    (header(qd=0), dns.rcode.FORMERR, False),
    (header(ar=3) + QUESTION, dns.rcode.FORMERR, False),
    (header() + b"\x03we", dns.rcode.FORMERR, False),
    (header() + b"\xc0\x0c\x00\x01\x00\x01", dns.rcode.FORMERR, False),  # pointer loop
    (header() + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01", dns.rcode.FORMERR, False),
    (header(ar=1) + QUESTION + b"\x00\x00\x29\x10", dns.rcode.FORMERR, True),  # cut OPT
    (header(ar=1) + QUESTION + b"\xc0\x0c\xc0\x0c", dns.rcode.FORMERR, True),
    (header(ar=2) + QUESTION + (b"\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00") * 2,
     dns.rcode.FORMERR, True),  # two OPTs
])
async def test_rejected_with_header_only_replies(packet, rcode, question):
    cat = Catalog()
    reply = await cat.send(packet)
    ident, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", reply[:12])
    assert ident == 0x1234 and flags & 0x8000 and flags & 0xF == rcode
    assert (qd, an, ns, ar) == (int(question), 0, 0, 0)
    assert reply[12:] == (QUESTION if question else b"")
    assert cat.resolver.stats.malformed == 1


async def test_names_outside_the_domain_are_refused_without_recursors():
    cat = Catalog()
    reply = await cat.ask("example.com.", payload=1232)
    assert reply.rcode() == dns.rcode.REFUSED
    assert not reply.flags & (dns.flags.AA | dns.flags.RA) and reply.edns == -1
    assert str(reply.question[0].name) == "example.com."
    assert cat.resolver.stats.refused == 1


# ---- recursors -----------------------------------------------------------------------


async def test_recursors_answer_names_outside_the_domain_in_order():
    host = next_loopback()
    with Responder(host, rcode=dns.rcode.SERVFAIL) as broken, \
            Responder(host, {"example.com": "192.0.2.7"}) as good:
        cat = Catalog(recursors=(broken.address, good.address), recursor_timeout="1s")
        await cat.instance("n1", "10.0.0.1", "web")
        for tcp in (False, True):
            reply = await cat.ask("example.com.", tcp=tcp)
            assert rdatas(reply) == ["example.com. A 192.0.2.7"]
        assert (await cat.ask("nope.example.com.")).rcode() == dns.rcode.NXDOMAIN
        assert broken.questions == good.questions == [
            "example.com.", "example.com.", "nope.example.com."]
        assert (await cat.ask("web.service.consul.")).flags & dns.flags.RA
        reverse = await cat.ask("9.9.9.10.in-addr.arpa.", "PTR")
        assert reverse.rcode() == dns.rcode.NXDOMAIN and good.questions[-1] == \
            "9.9.9.10.in-addr.arpa."


async def test_host_names_outside_the_domain_are_resolved_by_the_recursors():
    host = next_loopback()
    with Responder(host, {"web.example.com": "192.0.2.8"}) as upstream:
        cat = Catalog(recursors=(upstream.address,))
        await cat.register(Node="ext", Address="10.0.0.9",
                           Service={"Service": "web", "Address": "web.example.com"})
        for _ in range(2):  # not cached: the upstream is asked every time
            assert rdatas(await cat.ask("web.service.consul.")) == [
                "web.service.consul. CNAME web.example.com.", "web.example.com. A 192.0.2.8"]
        assert upstream.questions == ["web.example.com.", "web.example.com."]


async def test_servfail_when_every_recursor_fails():
    host = next_loopback()
    with Responder(host, rcode=dns.rcode.REFUSED) as refusing:
        silent = f"{host}:9"  # discard: nothing answers
        cat = Catalog(recursors=(refusing.address, silent), recursor_timeout="200ms",
                      recursor_strategy="random")
        reply = await cat.ask("example.com.", payload=1232)
        assert reply.rcode() == dns.rcode.SERVFAIL and reply.flags & dns.flags.RA
        assert reply.edns == 0 and refusing.questions == ["example.com."]
        assert cat.resolver.stats.servfail == 1


# ---- stale answers (beyond Consul) ---------------------------------------------------


class FlakyLookup(AgentLookup):
    """The agent's lookup, failing on demand as if the servers were unreachable."""

    failing = False

    def version(self):
        return None  # no reply cache: every question reaches the lookup

    async def _read(self, method, req):
        if self.failing:
            raise LookupFailed("rpc error: No cluster leader")
        return await super()._read(method, req)


async def flaky_catalog(**dns_config) -> tuple[Catalog, FlakyLookup, Resolver]:
    cat = Catalog(**dns_config)
    lookup = FlakyLookup(cat.agent, True, 10_000)
    await cat.instance("n1", "10.0.0.1", "web", Port=80)
    cat.resolver = Resolver(cat.resolver.settings, lookup)
    return cat, lookup, cat.resolver


async def test_serve_stale_on_error_answers_from_the_last_good_result():
    cat, lookup, resolver = await flaky_catalog(serve_stale_on_error=True, stale_ttl="7s",
                                                service_ttl={"*": "30s"})
    fresh = await cat.ask("web.service.consul.", "SRV")
    assert fresh.answer[0].ttl == 30
    missing = await cat.ask("gone.service.consul.")
    lookup.failing = True
    stale = await cat.ask("web.service.consul.", "SRV")
    assert rdatas(stale) == rdatas(fresh) and rdatas(stale, "additional") == rdatas(
        fresh, "additional")
    assert {rrset.ttl for rrset in stale.answer + stale.additional} == {7}
    assert (await cat.ask("gone.service.consul.")).rcode() == missing.rcode() == dns.rcode.NXDOMAIN
    assert (await cat.ask("other.service.consul.")).rcode() == dns.rcode.SERVFAIL
    assert resolver.stats.stale_answers == 2
    lookup.failing = False
    assert (await cat.ask("web.service.consul.", "SRV")).answer[0].ttl == 30


async def test_without_serve_stale_on_error_failed_lookups_are_servfail():
    cat, lookup, resolver = await flaky_catalog()
    assert (await cat.ask("web.service.consul.")).rcode() == dns.rcode.NOERROR
    lookup.failing = True
    reply = await cat.ask("web.service.consul.")
    assert reply.rcode() == dns.rcode.SERVFAIL and not reply.answer and not reply.authority
    assert resolver.stats.servfail == 1 and resolver.stats.stale_answers == 0
