"""Requests read straight from the wire are the requests dnspython reads.

``parse_request`` reads the common request (one question, an uncompressed name,
at most an OPT without options) itself and hands everything else to dnspython;
both ways must give the same :class:`Request` (or the same rejection).
"""

from __future__ import annotations

import random

import dns.edns
import dns.flags
import dns.message
import dns.name
import pytest
from hypothesis import given
from hypothesis import strategies as st

from proconsul.agent.dns import message
from proconsul.agent.dns.message import parse_request
from tests.unit.dns.test_fuzz import SEED, packets


def dnspython_only(data: bytes):
    """What ``parse_request`` gave before it read any request itself."""
    plain = message._parse_plain
    message._parse_plain = lambda *args: None
    try:
        return parse_request(data)
    finally:
        message._parse_plain = plain


def read_directly(data: bytes) -> bool:
    """Whether ``parse_request`` reads ``data`` without dnspython."""
    if len(data) < 12:
        return False
    ident, flags, _, _, _, arcount = message.HEADER.unpack_from(data)
    return message._parse_plain(data, ident, flags, arcount) is not None


def test_fuzzed_packets_read_alike():
    direct = 0
    for data in packets(random.Random(SEED)):
        assert parse_request(data) == dnspython_only(data), data
        direct += read_directly(data)
    assert direct > 10_000  # the mutated seeds without options and the like


labels = st.one_of(
    st.text("abcXYZ019-_", min_size=1, max_size=20).map(str.encode),
    st.binary(min_size=1, max_size=63),
)


@given(names=st.lists(labels, min_size=0, max_size=8),
       rdtype=st.one_of(st.sampled_from([1, 2, 5, 6, 12, 16, 28, 33, 41, 252, 255]),
                        st.integers(0, 0xFFFF)),
       rdclass=st.one_of(st.just(1), st.integers(0, 0xFFFF)),
       edns=st.one_of(st.none(), st.tuples(st.integers(0, 255), st.integers(0, 0xFFFF),
                                           st.booleans(), st.booleans())),
       flags=st.integers(0, 0xFFFF).map(lambda f: f & ~0x8000 & ~0x7800),
       trailing=st.binary(max_size=4))
def test_queries_read_alike(names, rdtype, rdclass, edns, flags, trailing):
    try:
        name = dns.name.Name((*names, b""))
    except dns.name.NameTooLong:
        return
    query = dns.message.Message(id=0x4242)
    query.flags = dns.flags.Flag(flags)
    query.find_rrset(query.question, name, rdclass, rdtype, create=True, force_unique=True)
    options = []
    if edns is not None:
        version, payload, dnssec, ecs = edns
        options = [dns.edns.ECSOption("192.0.2.0", 24)] if ecs else []
        query.use_edns(version, dns.flags.DO if dnssec else 0, payload, options=options)
    data = query.to_wire() + trailing
    assert parse_request(data) == dnspython_only(data)
    assert read_directly(data) == (not options)


def wire_name(*lengths: int) -> bytes:
    return b"".join(bytes([n]) + b"A" * n for n in lengths) + b"\0"


HEADER = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00"
OPT = b"\x00\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x00"


@pytest.mark.parametrize("data,direct", [
    (HEADER + b"\x00" + wire_name(63, 63, 63, 61) + b"\x00\x01\x00\x01", True),  # 255 bytes
    (HEADER + b"\x00" + wire_name(63, 63, 63, 62) + b"\x00\x01\x00\x01", False),  # 256
    (HEADER + b"\x00" + wire_name(3, 7) + b"\x00\x01", False),  # no class
    (HEADER + b"\x00\xc0\x0c\x00\x01\x00\x01", False),  # a pointer
    (HEADER + b"\x00\x00\x00\x01\x00\x01", True),  # the root
    (HEADER + b"\x01" + wire_name(3) + b"\x00\x21\x00\x01" + OPT, True),
    (HEADER + b"\x01" + wire_name(3) + b"\x00\x21\x00\x01" + OPT[:-1], False),
    (HEADER + b"\x01" + wire_name(3) + b"\x00\x21\x00\x01" + b"\x01a" + OPT[1:], False),
    (HEADER + b"\x01" + wire_name(3) + b"\x00\x21\x00\x01" + OPT[:-2] + b"\x00\x04"
     + b"\x00\x0a\x00\x00", False),  # an option
])
def test_edge_cases_read_alike(data, direct):
    assert parse_request(data) == dnspython_only(data)
    assert read_directly(data) == direct
