"""memberlist's wire format: message types, bodies and packet/stream layering.

A message is ``[type u8][body]``.  Packets (UDP) are layered, outermost first:
label header, encryption, CRC header, compression, compound; streams (TCP)
are label, encryption, compression, then one message (push/pull, user, ping).
Everything here is pure: bytes in, bytes or dataclasses out.
"""

from __future__ import annotations

import enum
import functools
import zlib
from dataclasses import dataclass, field

from proconsul.gossip import lzw
from proconsul.gossip.keyring import DecryptError, Keyring, encrypted_length
from proconsul.gossip.msgpack import DecodeError, Incomplete, unpack_from
from proconsul.gossip.structs import (
    BOOL,
    BYTES,
    INT,
    IP,
    STR,
    decode_struct,
    encode_struct,
    go,
    unpack_struct_from,
)

__all__ = [
    "GOSSIP_TYPES", "Ack", "Alive", "CompressedMessage", "Dead", "DecodeError", "ErrorResponse",
    "IndirectPing", "MessageType", "Nack", "NodeState", "PacketCodec", "Ping", "PushNodeState",
    "PushPull", "PushPullHeader", "Suspect", "UserStreamHeader", "WireError", "decode_gossip",
    "decode_message", "decode_push_pull", "encode_gossip", "encode_message", "encode_push_pull", "make_compound",
    "split_compound", "unwrap_packet",
]

MAX_COMPOUND_PARTS = 255
MAX_LABEL_LEN = 255
MAX_STREAM_ENCRYPTED_LEN = 20 << 20
MAX_PUSH_NODES = 1 << 20
MAX_USER_STATE = 20 << 20
MAX_DECOMPRESSED = 40 << 20
LZW_ALGO = 0
COMPOUND_HEADER_OVERHEAD = 2
MIN_CODES_BELOW = 160  # compress_packet tries the lower bound on messages shorter than this
COMPOUND_PART_OVERHEAD = 2
USER_MSG_OVERHEAD = 1


class MessageType(enum.IntEnum):
    PING = 0
    INDIRECT_PING = 1
    ACK = 2
    SUSPECT = 3
    ALIVE = 4
    DEAD = 5
    PUSH_PULL = 6
    COMPOUND = 7
    USER = 8
    COMPRESS = 9
    ENCRYPT = 10
    NACK = 11
    HAS_CRC = 12
    ERROR = 13
    HAS_LABEL = 244


class WireError(ValueError):
    """A packet or stream that memberlist would drop."""


class NodeState(enum.IntEnum):
    ALIVE = 0
    SUSPECT = 1
    DEAD = 2
    LEFT = 3


@dataclass(slots=True)
class Ping:
    seq_no: int = go("SeqNo", INT)
    node: str = go("Node", STR)
    source_addr: str = go("SourceAddr", IP, omitempty=True)
    source_port: int = go("SourcePort", INT, omitempty=True)
    source_node: str = go("SourceNode", STR, omitempty=True)


@dataclass(slots=True)
class IndirectPing:
    seq_no: int = go("SeqNo", INT)
    target: str = go("Target", IP)
    port: int = go("Port", INT)
    node: str = go("Node", STR)
    nack: bool = go("Nack", BOOL)
    source_addr: str = go("SourceAddr", IP, omitempty=True)
    source_port: int = go("SourcePort", INT, omitempty=True)
    source_node: str = go("SourceNode", STR, omitempty=True)


@dataclass(slots=True)
class Ack:
    seq_no: int = go("SeqNo", INT)
    payload: bytes = go("Payload", BYTES)


@dataclass(slots=True)
class Nack:
    seq_no: int = go("SeqNo", INT)


@dataclass(frozen=True, slots=True)
class Suspect:
    incarnation: int = go("Incarnation", INT)
    node: str = go("Node", STR)
    from_node: str = go("From", STR)


@dataclass(frozen=True, slots=True)
class Alive:
    incarnation: int = go("Incarnation", INT)
    node: str = go("Node", STR)
    addr: str = go("Addr", IP)
    port: int = go("Port", INT)
    meta: bytes = go("Meta", BYTES)
    vsn: bytes = go("Vsn", BYTES)


@dataclass(frozen=True, slots=True)
class Dead:
    incarnation: int = go("Incarnation", INT)
    node: str = go("Node", STR)
    from_node: str = go("From", STR)


@dataclass(slots=True)
class PushPullHeader:
    nodes: int = go("Nodes", INT)
    user_state_len: int = go("UserStateLen", INT)
    join: bool = go("Join", BOOL)


@dataclass(frozen=True, slots=True)
class PushNodeState:
    name: str = go("Name", STR)
    addr: str = go("Addr", IP)
    port: int = go("Port", INT)
    meta: bytes = go("Meta", BYTES)
    incarnation: int = go("Incarnation", INT)
    state: int = go("State", INT)
    vsn: bytes = go("Vsn", BYTES)


@dataclass(slots=True)
class UserStreamHeader:
    user_msg_len: int = go("UserMsgLen", INT)


@dataclass(slots=True)
class CompressedMessage:
    algo: int = go("Algo", INT)
    buf: bytes = go("Buf", BYTES)


@dataclass(slots=True)
class ErrorResponse:
    error: str = go("Error", STR)


@dataclass(slots=True)
class PushPull:
    """A complete push/pull stream message: our or a peer's full state."""

    join: bool
    nodes: list[PushNodeState] = field(default_factory=list)
    user_state: bytes = b""


BODY_TYPES: dict[MessageType, type] = {
    MessageType.PING: Ping,
    MessageType.INDIRECT_PING: IndirectPing,
    MessageType.ACK: Ack,
    MessageType.NACK: Nack,
    MessageType.SUSPECT: Suspect,
    MessageType.ALIVE: Alive,
    MessageType.DEAD: Dead,
    MessageType.COMPRESS: CompressedMessage,
    MessageType.ERROR: ErrorResponse,
}
TYPE_OF_BODY = {cls: t for t, cls in BODY_TYPES.items()}


def encode_message(body: object) -> bytes:
    """``[type][msgpack body]`` for any struct message in ``BODY_TYPES``."""
    return bytes([TYPE_OF_BODY[type(body)]]) + encode_struct(body)


def decode_message(data: bytes) -> tuple[MessageType, object]:
    """Decode a single struct message (not compound/user/push-pull)."""
    if not data:
        raise WireError("empty message")
    try:
        msg_type = MessageType(data[0])
        cls = BODY_TYPES[msg_type]
    except (ValueError, KeyError):
        raise WireError(f"message type {data[0]} has no struct body") from None
    raw, end = unpack_from(data, 1)
    if end != len(data):
        raise WireError("trailing bytes after message body")
    return msg_type, decode_struct(cls, raw)


GOSSIP_TYPES = frozenset((MessageType.SUSPECT, MessageType.ALIVE, MessageType.DEAD))


@functools.lru_cache(maxsize=4096)
def decode_gossip(data: bytes) -> tuple[MessageType, object]:
    """``decode_message`` for the broadcast types (suspect, alive, dead), memoised:
    gossip delivers the same bytes many times over.  The bodies are frozen."""
    return decode_message(data)


@functools.lru_cache(maxsize=4096)
def encode_gossip(body: Suspect | Alive | Dead) -> bytes:
    """``encode_message`` for the (frozen, hashable) broadcast bodies, memoised:
    every node that accepts a message re-broadcasts it."""
    return encode_message(body)


def user_packet(payload: bytes) -> bytes:
    return bytes([MessageType.USER]) + payload


# ---------------------------------------------------------------- compound


def make_compound(parts: list[bytes]) -> bytes:
    """Pack up to 255 messages into one compound message."""
    if len(parts) > MAX_COMPOUND_PARTS:
        raise WireError("too many parts for one compound message")
    out = bytearray([MessageType.COMPOUND, len(parts)])
    for part in parts:
        if len(part) > 0xFFFF:
            raise WireError("compound part longer than 65535 bytes")
        out += len(part).to_bytes(2, "big")
    for part in parts:
        out += part
    return bytes(out)


def make_compounds(parts: list[bytes]) -> list[bytes]:
    return [make_compound(parts[i : i + MAX_COMPOUND_PARTS])
            for i in range(0, len(parts), MAX_COMPOUND_PARTS)]


def split_compound(data: bytes) -> tuple[list[bytes], int]:
    """Split a compound body (after the type byte); return parts and how many were truncated."""
    if len(data) < 1:
        raise WireError("missing compound length byte")
    count = data[0]
    header_end = 1 + 2 * count
    if len(data) < header_end:
        raise WireError("truncated compound header")
    parts = []
    offset = header_end
    for i in range(count):
        size = int.from_bytes(data[1 + 2 * i : 3 + 2 * i], "big")
        if offset + size > len(data):
            return parts, count - i
        parts.append(data[offset : offset + size])
        offset += size
    return parts, 0


def unwrap_packet(message: bytes, depth: int = 0) -> tuple[list[bytes], int]:
    """Flatten compound and compressed messages into leaf messages.

    Returns the leaves and the number of parts dropped as truncated or empty.
    """
    if depth > 4:
        raise WireError("packet nested too deeply")
    if not message:
        return [], 1
    if message[0] == MessageType.COMPOUND:
        parts, dropped = split_compound(message[1:])
        leaves: list[bytes] = []
        for part in parts:
            inner, inner_dropped = unwrap_packet(part, depth + 1)
            leaves += inner
            dropped += inner_dropped
        return leaves, dropped
    if message[0] == MessageType.COMPRESS:
        _, body = decode_message(message)
        return unwrap_packet(decompress_body(body), depth + 1)
    return [message], 0


# ------------------------------------------------------- crc, label, lzw


def add_crc(message: bytes) -> bytes:
    return bytes([MessageType.HAS_CRC]) + zlib.crc32(message).to_bytes(4, "big") + message


def strip_crc(data: bytes) -> bytes:
    if len(data) < 5:
        raise WireError("truncated CRC header")
    if zlib.crc32(data[5:]).to_bytes(4, "big") != data[1:5]:
        raise WireError("CRC mismatch")
    return data[5:]


def label_header(label: str) -> bytes:
    raw = label.encode()
    if not raw:
        return b""
    if len(raw) > MAX_LABEL_LEN:
        raise WireError("label longer than 255 bytes")
    return bytes([MessageType.HAS_LABEL, len(raw)]) + raw


def strip_label(data: bytes) -> tuple[bytes, bytes]:
    """Return ``(label, rest)``; label is empty when there is no label header."""
    if not data or data[0] != MessageType.HAS_LABEL:
        return b"", data
    if len(data) < 2:
        raise WireError("truncated label header")
    size = data[1]
    if size < 1:
        raise WireError("label header cannot be empty when present")
    if len(data) < 2 + size:
        raise WireError("truncated label")
    return data[2 : 2 + size], data[2 + size :]


def compress_message(message: bytes) -> bytes:
    return encode_message(CompressedMessage(algo=LZW_ALGO, buf=lzw.compress(message)))


@functools.lru_cache(maxsize=64)
def compress_packet(message: bytes) -> bytes:
    """The compress message for ``message`` if it is shorter, else ``message``.

    Memoised: a gossip round often sends the same messages to each of its targets.

    memberlist compresses every packet and sends the result only if it is
    shorter; for small packets (a lone ping or ack) it never is.  The size of a
    compress message is bounded below by its codes (9 bits at least, plus the
    opening clear and EOF): the attempt is skipped when ``lzw.min_codes``
    already reaches the count that cannot win, and abandoned when the encoder
    gets there -- never where the result would have been shorter, so the bytes
    sent are memberlist's.  The bound is worth computing only for lone messages
    (an ack is ~150 bytes); on compounds it costs a fifth of the attempt and
    rarely spares it.
    """
    limit = _losing_codes(len(message))
    if len(message) < MIN_CODES_BELOW and lzw.min_codes(message) >= limit:
        return message
    packed = lzw.compress(message, limit)
    if packed is None:
        return message
    compressed = encode_message(CompressedMessage(algo=LZW_ALGO, buf=packed))
    return compressed if len(compressed) < len(message) else message


@functools.lru_cache(maxsize=2048)
def _losing_codes(size: int) -> int:
    """The fewest LZW codes (clear and EOF aside) whose compress message is at
    least ``size`` bytes long."""
    lzw_len = 1
    while _COMPRESS_ENVELOPE + _raw_header(lzw_len) + lzw_len < size:
        lzw_len += 1
    # the fewest codes whose 9-bit minimum fills lzw_len bytes: 9 * (codes + 2) > 8 * (lzw_len - 1)
    return max(0, 8 * (lzw_len - 1) // 9 + 1 - 2)


def _raw_header(size: int) -> int:
    return 1 if size < 32 else 3 if size < 0x10000 else 5


# The compress message without its ``Buf`` bytes and their raw header.
_COMPRESS_ENVELOPE = len(compress_message(b"")) - 1 - len(lzw.compress(b""))


def decompress_body(body: CompressedMessage) -> bytes:
    if body.algo != LZW_ALGO:
        raise WireError(f"unknown compression algorithm {body.algo}")
    try:
        return lzw.decompress(body.buf, MAX_DECOMPRESSED)
    except lzw.LZWError as exc:
        raise WireError(str(exc)) from None


# -------------------------------------------------------------- push/pull


def encode_push_pull(msg: PushPull) -> bytes:
    header = PushPullHeader(nodes=len(msg.nodes), user_state_len=len(msg.user_state), join=msg.join)
    out = bytearray([MessageType.PUSH_PULL])
    out += encode_struct(header)
    for node in msg.nodes:
        out += _encode_node_state(node)
    out += msg.user_state
    return bytes(out)


@functools.lru_cache(maxsize=8192)
def _encode_node_state(node: PushNodeState) -> bytes:
    """Memoised: a node's entry changes rarely, and every push/pull sends them all."""
    return encode_struct(node)


def decode_push_pull(data: bytes, offset: int = 1) -> tuple[PushPull, int]:
    """Decode a push/pull message body starting at ``offset``; raises Incomplete if short."""
    header, offset = unpack_struct_from(PushPullHeader, data, offset)
    if not 0 <= header.nodes <= MAX_PUSH_NODES:
        raise WireError(f"push/pull claims {header.nodes} nodes")
    if not 0 <= header.user_state_len <= MAX_USER_STATE:
        raise WireError("push/pull user state too large")
    nodes = []
    for _ in range(header.nodes):
        node, offset = unpack_struct_from(PushNodeState, data, offset)
        nodes.append(node)
    end = offset + header.user_state_len
    if end > len(data):
        raise Incomplete("push/pull user state truncated")
    return PushPull(join=header.join, nodes=nodes, user_state=bytes(data[offset:end])), end


def encode_user_stream(payload: bytes) -> bytes:
    return bytes([MessageType.USER]) + encode_struct(UserStreamHeader(len(payload))) + payload


# ------------------------------------------------------------ the codecs


@dataclass(slots=True)
class PacketCodec:
    """Layering of packets and streams under one configuration.

    ``label`` is this pool's label; ``keyring`` enables encryption;
    ``verify_incoming``/``verify_outgoing`` are GossipVerifyIncoming/Outgoing.
    """

    label: str = ""
    keyring: Keyring | None = None
    verify_incoming: bool = True
    verify_outgoing: bool = True
    compression: bool = True
    skip_inbound_label_check: bool = False
    encryption_version: int = 1

    @property
    def encrypting(self) -> bool:
        return self.keyring is not None and self.keyring.primary_key is not None

    def packet_overhead(self) -> int:
        """Bytes the outer layers add to a packet (label, encryption)."""
        extra = len(label_header(self.label))
        if self.encrypting and self.verify_outgoing:
            extra += encrypted_length(self.encryption_version, 0)
        return extra

    # ---- packets

    def encode_packet(self, message: bytes, with_crc: bool) -> bytes:
        if self.compression:
            message = compress_packet(message)
        if with_crc:
            message = add_crc(message)
        label = self.label.encode()
        if self.encrypting and self.verify_outgoing:
            message = self.keyring.encrypt(self.encryption_version, message, label)
        return label_header(self.label) + message

    def _check_label(self, label: bytes) -> None:
        if self.skip_inbound_label_check:
            return
        if label != self.label.encode():
            raise WireError(f"discarding message with unexpected label {label!r}")

    def decode_packet(self, data: bytes) -> bytes:
        """Strip label, encryption and CRC; return the inner message (maybe compound)."""
        label, data = strip_label(data)
        self._check_label(label)
        if self.encrypting:
            try:
                data = self.keyring.decrypt(data, label)
            except DecryptError:
                if self.verify_incoming:
                    raise WireError("decrypt packet failed") from None
        if data and data[0] == MessageType.HAS_CRC:
            data = strip_crc(data)
        if not data:
            raise WireError("empty packet")
        return data

    # ---- streams

    def encode_stream(self, message: bytes) -> bytes:
        """A complete stream write: label header, encryption, compression."""
        if self.compression:
            message = compress_message(message)
        if self.encrypting and self.verify_outgoing:
            size = encrypted_length(self.encryption_version, len(message))
            header = bytes([MessageType.ENCRYPT]) + size.to_bytes(4, "big")
            aad = header + self.label.encode()
            message = header + self.keyring.encrypt(self.encryption_version, message, aad)
        return label_header(self.label) + message

    def stream_label_length(self, data: bytes) -> int:
        """Length of the label prefix at the start of a stream (raises Incomplete)."""
        if not data:
            raise Incomplete("no data")
        if data[0] != MessageType.HAS_LABEL:
            return 0
        if len(data) < 2:
            raise Incomplete("label header")
        return 2 + data[1]

    def frame_stream(self, data: bytes) -> int:
        """Total length of the first stream message in ``data`` incl. label; raises Incomplete."""
        return frame_message(data, self.stream_label_length(data))

    def decode_stream(self, data: bytes) -> tuple[MessageType, object]:
        """Decode one complete stream message (as framed by ``frame_stream``).

        Returns ``(type, body)``: body is a ``PushPull`` for push/pull, the
        payload bytes for user messages, else a struct.
        """
        label, data = strip_label(data)
        self._check_label(label)
        if data and data[0] == MessageType.ENCRYPT:
            if not self.encrypting:
                raise WireError("remote state is encrypted and encryption is not configured")
            if len(data) < 5:
                raise WireError("truncated encrypted stream")
            try:
                data = self.keyring.decrypt(bytes(data[5:]), bytes(data[:5]) + label)
            except DecryptError as exc:
                raise WireError(f"decrypt stream failed: {exc}") from None
        elif self.encrypting and self.verify_incoming:
            raise WireError("encryption is configured but remote state is not encrypted")
        if data and data[0] == MessageType.COMPRESS:
            _, body = decode_message(data)
            data = decompress_body(body)
        return decode_stream_message(data)


def frame_message(data: bytes, start: int = 0) -> int:
    """End offset of the single stream message starting at ``start``; raises Incomplete."""
    if len(data) <= start:
        raise Incomplete("no message type")
    msg_type = data[start]
    if msg_type == MessageType.ENCRYPT:
        if len(data) < start + 5:
            raise Incomplete("encrypted header")
        size = int.from_bytes(data[start + 1 : start + 5], "big")
        if size > MAX_STREAM_ENCRYPTED_LEN:
            raise WireError("encrypted stream message too large")
        end = start + 5 + size
    elif msg_type == MessageType.PUSH_PULL:
        _, end = decode_push_pull(data, start + 1)
    elif msg_type == MessageType.USER:
        header, offset = unpack_struct_from(UserStreamHeader, data, start + 1)
        if not 0 <= header.user_msg_len <= MAX_USER_STATE:
            raise WireError("user stream message too large")
        end = offset + header.user_msg_len
    elif msg_type in BODY_TYPES:
        _, end = unpack_from(data, start + 1)
    else:
        raise WireError(f"unexpected stream message type {msg_type}")
    if end > len(data):
        raise Incomplete("stream message truncated")
    return end


def decode_stream_message(data: bytes) -> tuple[MessageType, object]:
    if not data:
        raise WireError("empty stream message")
    msg_type = data[0]
    if msg_type == MessageType.PUSH_PULL:
        msg, end = decode_push_pull(data, 1)
    elif msg_type == MessageType.USER:
        header, offset = unpack_struct_from(UserStreamHeader, data, 1)
        end = offset + header.user_msg_len
        if header.user_msg_len < 0 or end > len(data):
            raise WireError("user stream message truncated")
        msg = bytes(data[offset:end])
    else:
        return decode_message(data)
    if end != len(data):
        raise WireError("trailing bytes after stream message")
    return MessageType(msg_type), msg
