"""100,000+ random and mutated packets into the request handler: it must never fail.

Every packet gets a well-formed reply with the request's ID, or is dropped;
the resolver's count of requests it could not handle stays at zero.
"""

from __future__ import annotations

import random
import struct

import dns.edns
import dns.message

from tests.unit.dns.catalog import Catalog

PACKETS = 100_000
SEED = 20261122

SEEDS = [
    dns.message.make_query(name, rdtype, use_edns=edns, payload=4096,
                           options=[dns.edns.ECSOption("192.0.2.0", 24)] if edns else None
                           ).to_wire()
    for name, rdtype in [
        ("web.service.consul.", "A"), ("web.service.consul.", "SRV"),
        ("v1.web.service.dc1.consul.", "AAAA"), ("_web._tcp.service.consul.", "SRV"),
        ("n1.node.consul.", "ANY"), ("n1.node.consul.", "TXT"), ("consul.", "SOA"),
        ("consul.", "NS"), ("0a000001.addr.dc1.consul.", "A"), ("q.query.consul.", "SRV"),
        ("1.0.0.10.in-addr.arpa.", "PTR"), ("example.com.", "A"), ("web.connect.consul.", "A"),
    ]
    for edns in (False, True)
]


def mutate(rng: random.Random, packet: bytes) -> bytes:
    data = bytearray(packet)
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        choice = rng.randrange(8)
        if choice == 0 and data:  # flip bits
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        elif choice == 1 and data:  # replace a byte
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif choice == 2:  # truncate
            del data[rng.randrange(len(data) + 1):]
        elif choice == 3:  # insert bytes
            i = rng.randrange(len(data) + 1)
            data[i:i] = rng.randbytes(rng.randint(1, 8))
        elif choice == 4 and len(data) >= 12:  # huge or odd section counts
            struct.pack_into(">H", data, 4 + 2 * rng.randrange(4),
                             rng.choice((0, 1, 2, 3, 0xFFFF, rng.randrange(0x10000))))
        elif choice == 5 and len(data) > 13:  # a compression pointer, maybe to itself
            i = rng.randrange(12, len(data) - 1)
            target = rng.choice((i, 12, rng.randrange(len(data) + 64)))
            struct.pack_into(">H", data, i, 0xC000 | (target & 0x3FFF))
        elif choice == 6 and len(data) >= 4:  # other flags and opcodes
            struct.pack_into(">H", data, 2, rng.randrange(0x10000))
        elif choice == 7 and data:  # a label length that overruns
            data[rng.randrange(len(data))] = rng.choice((0x3F, 0x40, 0x7F, 0xBF, 0xFF))
    return bytes(data)


def packets(rng: random.Random):
    for n in range(PACKETS):
        kind = n % 10
        if kind == 0:
            yield rng.randbytes(rng.randint(0, 600))
        elif kind == 1:
            yield struct.pack(">HHHHHH", rng.randrange(0x10000), 0x0100, 1, 0, 0, 0) \
                + rng.randbytes(rng.randint(0, 80))
        else:
            yield mutate(rng, rng.choice(SEEDS))


async def test_fuzzed_packets_never_break_the_handler():
    cat = Catalog()
    await cat.agent.server.register_self()
    await cat.instance("n1", "10.0.0.1", "web", Tags=["v1"], Port=80)
    await cat.register(Node="n1", Address="10.0.0.1", NodeMeta={"k": "v"})
    rng = random.Random(SEED)
    resolver = cat.resolver
    replies = 0
    for i, packet in enumerate(packets(rng)):
        tcp = bool(i & 1)
        reply = resolver.cached(packet, tcp) or await resolver.resolve(packet, tcp)
        if reply is None:
            continue
        replies += 1
        assert len(reply) >= 12 and reply[:2] == packet[:2] and reply[2] & 0x80
        if i % 16 == 0 and reply[3] & 0xF != 1:  # a FORMERR may echo a damaged question
            dns.message.from_wire(reply)
    assert resolver.stats.internal_errors == 0
    assert resolver.stats.queries >= PACKETS
    assert replies > PACKETS // 2 and resolver.stats.malformed > PACKETS // 4
