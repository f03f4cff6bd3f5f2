"""The fast LZW against the one-code-at-a-time reference (Go's compress/lzw step by step),
and the compression shortcut against memberlist's rule (compress, keep it if shorter)."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proconsul.gossip import lzw, wire
from tests.unit.gossip import lzw_reference as reference

# Inputs around the width steps (255, 767, 1791 codes) and the writer's clear (3838).
BOUNDARIES = [0, 1, 2, 3, 254, 255, 256, 766, 767, 768, 1790, 1791, 1792,
              3836, 3837, 3838, 3839, 3840, 7677, 7678, 7679, 12000]


def _texts(rng: random.Random, size: int) -> list[bytes]:
    alphabet = bytes(rng.sample(range(256), rng.randint(1, 256)))
    return [rng.randbytes(size), b"a" * size, bytes(rng.choice(b"ab") for _ in range(size)),
            bytes(rng.choice(alphabet) for _ in range(size))]


@pytest.mark.parametrize("size", BOUNDARIES)
def test_compress_is_byte_identical_to_the_reference(size):
    rng = random.Random(size)
    for data in _texts(rng, size):
        packed = lzw.compress(data)
        assert packed == reference.compress(data)
        assert lzw.decompress(packed) == data


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600) | st.text("abc de", max_size=5000).map(str.encode))
def test_property_same_bytes_as_reference(data):
    packed = lzw.compress(data)
    assert packed == reference.compress(data)
    assert lzw.decompress(packed) == data
    assert lzw.min_codes(data) <= _codes_written(data)


def _codes_written(data: bytes) -> int:
    """Codes the reference writer emits, clears and EOF aside (by a plain LZW parse)."""
    table: dict[bytes, None] = {}
    codes, current = 0, b""
    for i in range(len(data)):
        step = data[i : i + 1]
        if len(current) == 0 or current + step in table:
            current += step
            continue
        codes += 1
        if 258 + len(table) == 4095:
            table.clear()
        else:
            table[current + step] = None
        current = step
    return codes + (1 if current else 0)


def _same_outcome(stream: bytes, limit: int = 5000):
    def run(decompress):
        try:
            return decompress(stream, limit)
        except (lzw.LZWError, reference.LZWError) as exc:
            return type(exc).__name__

    assert run(lzw.decompress) == run(reference.decompress)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64))
def test_property_random_streams_decode_like_the_reference(stream):
    _same_outcome(stream)


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=2000), st.data())
def test_property_damaged_streams_decode_like_the_reference(data, draw):
    stream = bytearray(lzw.compress(data))
    for _ in range(draw.draw(st.integers(0, 3))):
        stream[draw.draw(st.integers(0, len(stream) - 1))] = draw.draw(st.integers(0, 255))
    cut = draw.draw(st.integers(0, len(stream)))
    _same_outcome(bytes(stream[:cut]))
    _same_outcome(bytes(stream))


def _write_codes(codes: list[int]) -> bytes:
    """A clear code, then ``codes`` in Go's bit order and widths (no more clears): the
    j-th code after a clear is 9 bits wide below 255, 10 below 767, 11 below 1791, then 12."""
    bits, nbits = 256, 9
    for j, code in enumerate(codes):
        width = 9 if j < 255 else 10 if j < 767 else 11 if j < 1791 else 12
        bits |= code << nbits
        nbits += width
    return bits.to_bytes((nbits + 7) // 8, "little")


def test_full_dictionary_without_clear_is_read_as_go_reads_it():
    # 3839 literals fill the dictionary (codes 258..4095, each "aa"); Go's reader then
    # stays at 12 bits, adds nothing, and still accepts code 4095 (code <= hi).
    stream = _write_codes([97] * 3839 + [4095, 300, 257])
    assert lzw.decompress(stream) == b"a" * 3839 + b"aa" + b"aa"
    with pytest.raises(lzw.LZWError):
        lzw.decompress(_write_codes([97] * 3849))  # no EOF


def test_limit_is_enforced_on_long_outputs():
    data = b"x" * 100_000
    assert lzw.decompress(lzw.compress(data), limit=100_000) == data
    with pytest.raises(lzw.LZWError, match="size limit"):
        lzw.decompress(lzw.compress(data), limit=99_999)


def test_give_up_only_when_the_codes_are_sure_to_reach_it():
    data = bytes(range(100))  # no repeats: 100 codes
    assert lzw.compress(data, give_up=101) == lzw.compress(data)
    assert lzw.compress(data, give_up=100) is None


def _memberlist_rule(message: bytes) -> bytes:
    compressed = wire.compress_message(message)
    return compressed if len(compressed) < len(message) else message


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400) | st.text("ab cd", max_size=400).map(str.encode)
       | st.lists(st.sampled_from([b"Node", b"SeqNo", b"node-01", b"\x85\xa4", b"x"]),
                  max_size=80).map(b"".join))
def test_property_compress_packet_sends_what_memberlist_sends(message):
    assert wire.compress_packet(message) == _memberlist_rule(message)


def test_lone_ping_and_ack_are_not_compressed_and_gossip_is():
    ping = wire.encode_message(wire.Ping(seq_no=7, node="node-003", source_addr="10.0.0.1",
                                         source_port=8301, source_node="node-001"))
    ack = wire.encode_message(wire.Ack(seq_no=7, payload=random.Random(1).randbytes(120)))
    alive = wire.encode_message(wire.Alive(incarnation=1, node="node-004", addr="10.0.0.4",
                                           port=8301, meta=b"", vsn=bytes([1, 5, 2, 2, 5, 4])))
    gossip = wire.make_compound([alive] * 4)
    for message in (ping, ack):
        assert wire.compress_packet(message) == message == _memberlist_rule(message)
    assert wire.compress_packet(gossip)[0] == wire.MessageType.COMPRESS
    assert wire.compress_packet(gossip) == _memberlist_rule(gossip)
