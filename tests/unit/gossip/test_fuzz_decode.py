"""Random and mutated input through the packet and stream decode paths: never raises, drops are counted."""

import random

from proconsul.gossip import serf_wire as sw
from proconsul.gossip import wire
from proconsul.gossip.memberlist import Memberlist, MemberlistConfig
from proconsul.gossip.msgpack import DecodeError
from proconsul.gossip.serf import Serf, SerfConfig

PACKETS = 100_000


def corpus(codec: wire.PacketCodec) -> list[bytes]:
    vsn = bytes([1, 5, 2, 2, 5, 4])
    messages = [
        wire.encode_message(wire.Ping(seq_no=1, node="fuzz", source_addr="127.0.0.9",
                                      source_port=7946, source_node="x")),
        wire.encode_message(wire.IndirectPing(seq_no=2, target="127.0.0.8", port=7946, node="y",
                                              nack=True)),
        wire.encode_message(wire.Ack(seq_no=3, payload=b"\x01\x80")),
        wire.encode_message(wire.Nack(seq_no=3)),
        wire.encode_message(wire.Alive(incarnation=1, node="y", addr="127.0.0.8", port=7946,
                                       meta=sw.encode_tags({"a": "b"}), vsn=vsn)),
        wire.encode_message(wire.Suspect(incarnation=1, node="y", from_node="z")),
        wire.encode_message(wire.Dead(incarnation=1, node="y", from_node="y")),
        wire.user_packet(sw.encode_serf(sw.UserEventMessage(ltime=1, name="e", payload=b"p"))),
        wire.user_packet(sw.encode_serf(sw.Query(ltime=1, id=5, addr="127.0.0.9", port=1,
                                                 name="q", filters=[sw.encode_node_filter(["x"])]))),
        wire.user_packet(sw.encode_relay(("127.0.0.9", 1), "x", b"\x05\x80")),
    ]
    packets = [codec.encode_packet(m, with_crc=False) for m in messages]
    packets.append(codec.encode_packet(wire.make_compound(messages), with_crc=True))
    packets.append(wire.compress_message(wire.make_compound(messages[:4])))
    packets.append(wire.label_header("lbl") + messages[0])
    return packets


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    choice = rng.randrange(6)
    if choice == 0 and buf:
        for _ in range(rng.randint(1, 4)):
            buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    elif choice == 1:
        del buf[rng.randrange(len(buf) + 1):]
    elif choice == 2:
        pos = rng.randrange(len(buf) + 1)
        buf[pos:pos] = rng.randbytes(rng.randint(1, 8))
    elif choice == 3 and buf:
        buf[rng.randrange(len(buf))] = rng.choice([0x00, 0x7F, 0x80, 0xC1, 0xDB, 0xDD, 0xDF, 0xFF])
    elif choice == 4:
        return rng.randbytes(rng.randint(0, 64))
    else:
        return bytes([rng.randrange(15)]) + rng.randbytes(rng.randint(0, 40))
    return bytes(buf)


def test_fuzz_packets_never_raise_and_drops_are_counted():
    rng = random.Random(1234)
    serf = Serf(SerfConfig(memberlist=MemberlistConfig.lan("fuzz", bind_addr="127.0.0.1")),
                random.Random(1))
    serf.start(0.0)
    core = serf.memberlist
    seeds = corpus(core.codec)
    for i in range(PACKETS):
        core.handle_packet(mutate(rng, rng.choice(seeds)), ("127.0.0.9", 7946), i * 1e-4)
        core.take_actions()
        serf.take_events()
    dropped = core.stats.packets_dropped + core.stats.parts_dropped
    assert PACKETS * 0.2 < dropped < PACKETS  # most mutations are caught, some pass as valid
    assert "y" in core.nodes  # valid alive messages got through along the way


def test_fuzz_streams_never_raise():
    rng = random.Random(99)
    core = Memberlist(MemberlistConfig.lan("fuzz", bind_addr="127.0.0.1"), rng=random.Random(2))
    core.start(0.0)
    state = wire.PushPull(join=True, nodes=[wire.PushNodeState(
        name="y", addr="127.0.0.8", port=7946, incarnation=1, vsn=bytes([1, 5, 2, 0, 0, 0]))],
        user_state=b"\x02\x80")
    seeds = [core.codec.encode_stream(wire.encode_push_pull(state)),
             wire.encode_push_pull(state),
             core.codec.encode_stream(wire.encode_user_stream(b"hi")),
             core.codec.encode_stream(wire.encode_message(wire.Ping(seq_no=1, node="fuzz")))]
    handled = 0
    for _ in range(20_000):
        data = mutate(rng, rng.choice(seeds))
        try:
            end = core.codec.frame_stream(data)
        except (DecodeError, wire.WireError):
            continue
        core.handle_stream(data[:end], ("127.0.0.9", 7946), 0.0)
        handled += 1
    assert handled > 1000


def test_deeply_nested_msgpack_is_a_decode_error_not_a_recursion_error():
    from proconsul.gossip.msgpack import unpack

    for nested in (b"\x81\xa1a" * 100_000 + b"\xc0", b"\x91" * 100_000 + b"\xc0"):
        try:
            unpack(nested)
        except DecodeError as err:
            assert str(err) == "msgpack nesting too deep"
        else:
            raise AssertionError("decoded 100,000 levels")

