"""memberlist wire format: msgpack dialect, messages, layering, golden bytes."""

import zlib

import pytest

from proconsul.gossip import lzw, msgpack, wire
from proconsul.gossip.keyring import (
    DecryptError,
    Keyring,
    KeyringError,
    decrypt_payload,
    encrypt_payload,
)
from proconsul.gossip.wire import MessageType, PacketCodec

KEY = bytes(range(16))


# ------------------------------------------------------------------ msgpack


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("", b"\xa0"),
        ("abc", b"\xa3abc"),
        (b"\x01\x05\x02\x02\x05\x05", b"\xa6\x01\x05\x02\x02\x05\x05"),  # Vsn as raw bytes
        ("x" * 32, b"\xda\x00\x20" + b"x" * 32),  # raw16, never str8
        (b"y" * 70000, b"\xdb\x00\x01\x11\x70" + b"y" * 70000),
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\xcc\x80"),
        (7946, b"\xcd\x1f\x0a"),
        (1 << 16, b"\xce\x00\x01\x00\x00"),
        (1 << 40, b"\xcf\x00\x00\x01\x00\x00\x00\x00\x00"),
        (-1, b"\xff"),
        (-33, b"\xd0\xdf"),
        (-200, b"\xd1\xff\x38"),
        (None, b"\xc0"),
        (True, b"\xc3"),
        (False, b"\xc2"),
        (1.5, b"\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"),
        ([1, b"a"], b"\x92\x01\xa1a"),
        ({}, b"\x80"),
    ],
)
def test_msgpack_dialect_golden(value, encoded):
    assert msgpack.pack(value) == encoded
    decoded = msgpack.unpack(encoded)
    expected = value.encode() if isinstance(value, str) else value
    assert decoded == expected


def test_msgpack_decodes_modern_families():
    assert msgpack.unpack(b"\xd9\x03abc") == b"abc"
    assert msgpack.unpack(b"\xc4\x02\x00\x01") == b"\x00\x01"
    assert msgpack.unpack(b"\xd2\xff\xff\xff\xfe") == -2
    assert msgpack.unpack(b"\xca\x3f\xc0\x00\x00") == 1.5


@pytest.mark.parametrize("data", [b"", b"\xa5ab", b"\x92\x01", b"\xcd\x01", b"\x81\xa1a"])
def test_msgpack_truncation_is_incomplete(data):
    with pytest.raises(msgpack.Incomplete):
        msgpack.unpack(data)


@pytest.mark.parametrize("data", [b"\xc1", b"\xd4\x00\x00", b"\x01\x02", b"\x81\x90\x01"])
def test_msgpack_rejects_invalid(data):
    with pytest.raises(msgpack.DecodeError):
        msgpack.unpack(data)


# ----------------------------------------------------------------- messages


def test_ping_golden_bytes_alphabetical_keys_and_omitempty():
    data = wire.encode_message(wire.Ping(seq_no=1, node="a"))
    assert data == b"\x00\x82\xa4Node\xa1a\xa5SeqNo\x01"


def test_alive_golden_bytes():
    alive = wire.Alive(incarnation=1, node="n1", addr="127.0.0.1", port=7946,
                       meta=b"\xff\x80", vsn=bytes([1, 5, 2, 2, 5, 5]))
    data = wire.encode_message(alive)
    assert data == (
        b"\x04\x86"
        b"\xa4Addr\xa4\x7f\x00\x00\x01"
        b"\xabIncarnation\x01"
        b"\xa4Meta\xa2\xff\x80"
        b"\xa4Node\xa2n1"
        b"\xa4Port\xcd\x1f\x0a"
        b"\xa3Vsn\xa6\x01\x05\x02\x02\x05\x05"
    )
    assert wire.decode_message(data) == (MessageType.ALIVE, alive)


def test_decode_accepts_any_key_order_unknown_keys_and_ipv4_mapped():
    body = msgpack.pack({"SeqNo": 9, "Extra": [1], "Payload": None})
    assert wire.decode_message(b"\x02" + body) == (MessageType.ACK, wire.Ack(seq_no=9))
    mapped = bytes(10) + b"\xff\xff" + bytes([10, 0, 0, 7])
    body = msgpack.pack({"Node": "x", "Target": mapped, "Port": 1, "SeqNo": 2, "Nack": True})
    _, msg = wire.decode_message(b"\x01" + body)
    assert msg.target == "10.0.0.7" and msg.nack


@pytest.mark.parametrize(
    "body",
    [
        wire.IndirectPing(seq_no=3, target="::1", port=1, node="t", nack=True,
                          source_addr="10.1.2.3", source_port=9, source_node="s"),
        wire.Suspect(incarnation=4, node="a", from_node="b"),
        wire.Dead(incarnation=5, node="a", from_node="a"),
        wire.Nack(seq_no=2**32 - 1),
        wire.ErrorResponse(error="boom"),
    ],
)
def test_message_roundtrip(body):
    assert wire.decode_message(wire.encode_message(body))[1] == body


def test_decode_message_rejects_wrong_types():
    with pytest.raises(msgpack.DecodeError):
        wire.decode_message(b"\x00" + msgpack.pack({"SeqNo": "x"}))
    with pytest.raises(wire.WireError):
        wire.decode_message(b"\x07\x00")


# ----------------------------------------------------------------- layering


def test_compound_layout_and_truncation():
    data = wire.make_compound([b"ab", b"c"])
    assert data == b"\x07\x02\x00\x02\x00\x01abc"
    assert wire.split_compound(data[1:]) == ([b"ab", b"c"], 0)
    assert wire.split_compound(data[1:-1]) == ([b"ab"], 1)
    assert len(wire.make_compounds([b"x"] * 600)) == 3


def test_crc_header_golden():
    msg = wire.encode_message(wire.Nack(seq_no=1))
    crc = zlib.crc32(msg).to_bytes(4, "big")
    assert wire.add_crc(msg) == b"\x0c" + crc + msg
    assert wire.strip_crc(wire.add_crc(msg)) == msg
    with pytest.raises(wire.WireError):
        wire.strip_crc(b"\x0c" + bytes(4) + msg)


def test_label_header():
    assert wire.label_header("") == b""
    assert wire.label_header("dc1") == b"\xf4\x03dc1"
    assert wire.strip_label(b"\xf4\x03dc1rest") == (b"dc1", b"rest")
    assert wire.strip_label(b"rest") == (b"", b"rest")


def test_lzw_matches_go_reference_vector():
    # Go's compress/lzw reader test vector "tobe;LSB;8".
    golden = b"\x54\x9e\x08\x29\xf2\x44\x8a\x93\x27\x54\x04\x12\x34\xb8\xb0\xe0\xc1\x84\x01\x01"
    assert lzw.decompress(golden) == b"TOBEORNOTTOBEORTOBEORNOT"


@pytest.mark.parametrize("size", [0, 1, 2, 300, 9000, 70000])
def test_lzw_roundtrip_incl_table_reset(size):
    import random

    rng = random.Random(size)
    for data in (rng.randbytes(size), bytes(rng.choice(b"ab ") for _ in range(size))):
        packed = lzw.compress(data)
        assert packed[0] == 0x00 and packed[1] & 1 == 1  # starts with clear code 256
        assert lzw.decompress(packed) == data


def test_lzw_rejects_garbage_and_limit():
    with pytest.raises(lzw.LZWError):
        lzw.decompress(b"\xff\xff\xff")
    with pytest.raises(lzw.LZWError):
        lzw.decompress(lzw.compress(b"a" * 5000), limit=100)


def test_packet_codec_layers_outbound_and_inbound():
    msg = wire.encode_message(wire.Ping(seq_no=7, node="n" * 200))
    codec = PacketCodec(label="lbl", keyring=Keyring([KEY]))
    packet = codec.encode_packet(msg, with_crc=True)
    assert packet.startswith(b"\xf4\x03lbl\x01")  # label, then encryption version 1
    inner = codec.decode_packet(packet)
    assert inner[0] == MessageType.COMPRESS  # smaller when compressed
    assert wire.unwrap_packet(inner) == ([msg], 0)
    with pytest.raises(wire.WireError):
        PacketCodec(label="other", keyring=Keyring([KEY])).decode_packet(packet)
    with pytest.raises(wire.WireError):
        PacketCodec(label="lbl", keyring=Keyring([bytes(16)])).decode_packet(packet)


def test_packet_codec_plaintext_fallback_when_not_verifying():
    plain = PacketCodec(compression=False).encode_packet(b"\x0b\x81\xa5SeqNo\x01", with_crc=False)
    lenient = PacketCodec(keyring=Keyring([KEY]), verify_incoming=False)
    assert lenient.decode_packet(plain) == plain
    with pytest.raises(wire.WireError):
        PacketCodec(keyring=Keyring([KEY])).decode_packet(plain)


def test_unwrap_nested_compound_and_compress():
    a = wire.encode_message(wire.Nack(seq_no=1))
    b = wire.encode_message(wire.Nack(seq_no=2))
    nested = wire.make_compound([a, wire.compress_message(wire.make_compound([b, b""]))])
    assert wire.unwrap_packet(nested) == ([a, b], 1)


# ------------------------------------------------------------------ streams


def push_pull_sample():
    node = wire.PushNodeState(name="n1", addr="127.0.0.2", port=7946, meta=b"\xff\x80",
                              incarnation=3, state=wire.NodeState.ALIVE,
                              vsn=bytes([1, 5, 2, 2, 5, 5]))
    return wire.PushPull(join=True, nodes=[node, node], user_state=b"\x02state")


@pytest.mark.parametrize("codec", [
    PacketCodec(), PacketCodec(compression=False), PacketCodec(keyring=Keyring([KEY])),
    PacketCodec(label="x", keyring=Keyring([KEY]), compression=False),
])
def test_stream_framing_incremental_and_decode(codec):
    msg = wire.encode_push_pull(push_pull_sample())
    stream = codec.encode_stream(msg) + b"next"
    for cut in range(len(stream) - 4):
        with pytest.raises(msgpack.Incomplete):
            codec.frame_stream(stream[:cut])
    end = codec.frame_stream(stream)
    assert end == len(stream) - 4
    assert codec.decode_stream(stream[:end]) == (MessageType.PUSH_PULL, push_pull_sample())


def test_plain_push_pull_golden_prefix():
    data = wire.encode_push_pull(wire.PushPull(join=False, nodes=[], user_state=b"ab"))
    assert data == b"\x06\x83\xa4Join\xc2\xa5Nodes\x00\xacUserStateLen\x02ab"


def test_user_stream_message():
    codec = PacketCodec(compression=False)
    data = codec.encode_stream(wire.encode_user_stream(b"hello"))
    assert codec.decode_stream(data[: codec.frame_stream(data)]) == (MessageType.USER, b"hello")


def test_stream_encryption_mismatch_is_error():
    data = PacketCodec().encode_stream(wire.encode_push_pull(push_pull_sample()))
    with pytest.raises(wire.WireError):
        PacketCodec(keyring=Keyring([KEY])).decode_stream(data)
    enc = PacketCodec(keyring=Keyring([KEY])).encode_stream(wire.encode_push_pull(push_pull_sample()))
    with pytest.raises(wire.WireError):
        PacketCodec().decode_stream(enc)
    with pytest.raises(wire.WireError):
        PacketCodec(keyring=Keyring([bytes(16)])).decode_stream(enc)


# ------------------------------------------------------------------ keyring


def test_encrypt_payload_golden_layout_v1_and_v0():
    nonce = bytes(12)
    v1 = encrypt_payload(1, KEY, b"hello", b"", nonce)
    assert v1[0] == 1 and v1[1:13] == nonce and len(v1) == 1 + 12 + 5 + 16
    v0 = encrypt_payload(0, KEY, b"hello", b"", nonce)
    assert v0[0] == 0 and len(v0) == 1 + 12 + 16 + 16
    assert decrypt_payload([bytes(16), KEY], v0, b"") == b"hello"
    with pytest.raises(DecryptError):
        decrypt_payload([KEY], v1, b"aad")


def test_keyring_install_use_remove_list():
    k2, k3 = bytes([2]) * 24, bytes([3]) * 32
    ring = Keyring([KEY])
    ring.add_key(k2)
    ring.add_key(k3)
    assert ring.primary_key == KEY and ring.keys == [KEY, k2, k3]
    with pytest.raises(KeyringError):
        ring.remove_key(KEY)
    ring.use_key(k3)
    assert ring.keys[0] == k3
    ring.remove_key(KEY)
    assert ring.keys == [k3, k2]
    with pytest.raises(KeyringError):
        ring.use_key(KEY)
    with pytest.raises(KeyringError):
        ring.add_key(b"short")
    assert Keyring.decode_key("AAECAwQFBgcICQoLDA0ODw==") == KEY
    blob = ring.encrypt(1, b"x", b"")
    assert ring.decrypt(blob, b"") == b"x"
    with pytest.raises(DecryptError):
        Keyring([KEY]).decrypt(blob, b"")
