"""serf's messages, carried as memberlist user messages: ``[serf type u8][msgpack body]``."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from proconsul.gossip.msgpack import pack, unpack, unpack_from
from proconsul.gossip.structs import (
    BOOL,
    BYTES,
    FLOAT,
    INT,
    IP,
    STR,
    DecodeError,
    ListOf,
    MapOf,
    StructOf,
    decode_struct,
    encode_struct,
    go,
)

__all__ = [
    "TAGS_MAGIC", "Coordinate", "FilterType", "JoinIntent", "KeyRequest", "KeyResponse",
    "LeaveIntent", "MemberWire", "PushPullState", "Query", "QueryFlag", "QueryResponse",
    "RelayAddr", "RelayHeader", "SerfMessageType", "TagFilter", "UserEventEntry",
    "UserEventMessage", "UserEvents", "decode_relay", "decode_serf", "decode_tags",
    "encode_node_filter", "encode_relay", "encode_serf", "encode_tag_filter", "encode_tags",
]

TAGS_MAGIC = 0xFF


class SerfMessageType(enum.IntEnum):
    LEAVE = 0
    JOIN = 1
    PUSH_PULL = 2
    USER_EVENT = 3
    QUERY = 4
    QUERY_RESPONSE = 5
    CONFLICT_RESPONSE = 6
    KEY_REQUEST = 7
    KEY_RESPONSE = 8
    RELAY = 9


class QueryFlag(enum.IntFlag):
    ACK = 1
    NO_BROADCAST = 2


class FilterType(enum.IntEnum):
    NODE = 0
    TAG = 1


@dataclass(slots=True)
class LeaveIntent:
    ltime: int = go("LTime", INT)
    node: str = go("Node", STR)
    prune: bool = go("Prune", BOOL)


@dataclass(slots=True)
class JoinIntent:
    ltime: int = go("LTime", INT)
    node: str = go("Node", STR)


@dataclass(slots=True)
class UserEventEntry:
    name: str = go("Name", STR)
    payload: bytes = go("Payload", BYTES)


@dataclass(slots=True)
class UserEvents:
    ltime: int = go("LTime", INT)
    events: list[UserEventEntry] = go("Events", ListOf(StructOf(UserEventEntry)), factory=list)


@dataclass(slots=True)
class PushPullState:
    ltime: int = go("LTime", INT)
    status_ltimes: dict[str, int] = go("StatusLTimes", MapOf(INT), factory=dict)
    left_members: list[str] = go("LeftMembers", ListOf(STR), factory=list)
    event_ltime: int = go("EventLTime", INT)
    events: list[UserEvents | None] = go("Events", ListOf(StructOf(UserEvents)), factory=list)
    query_ltime: int = go("QueryLTime", INT)


@dataclass(slots=True)
class UserEventMessage:
    ltime: int = go("LTime", INT)
    name: str = go("Name", STR)
    payload: bytes = go("Payload", BYTES)
    cc: bool = go("CC", BOOL)


@dataclass(slots=True)
class Query:
    ltime: int = go("LTime", INT)
    id: int = go("ID", INT)
    addr: str = go("Addr", IP)
    port: int = go("Port", INT)
    source_node: str = go("SourceNode", STR)
    filters: list[bytes] = go("Filters", ListOf(BYTES), factory=list)
    flags: int = go("Flags", INT)
    relay_factor: int = go("RelayFactor", INT)
    timeout: int = go("Timeout", INT)  # nanoseconds
    name: str = go("Name", STR)
    payload: bytes = go("Payload", BYTES)


@dataclass(slots=True)
class QueryResponse:
    ltime: int = go("LTime", INT)
    id: int = go("ID", INT)
    from_node: str = go("From", STR)
    flags: int = go("Flags", INT)
    payload: bytes = go("Payload", BYTES)


@dataclass(slots=True)
class TagFilter:
    tag: str = go("Tag", STR)
    expr: str = go("Expr", STR)


@dataclass(slots=True)
class KeyRequest:
    key: bytes = go("Key", BYTES)


@dataclass(slots=True)
class KeyResponse:
    result: bool = go("Result", BOOL)
    message: str = go("Message", STR)
    keys: list[str] = go("Keys", ListOf(STR), factory=list)
    primary_key: str = go("PrimaryKey", STR)


@dataclass(slots=True)
class MemberWire:
    """serf's ``Member`` as sent in a conflict response."""

    name: str = go("Name", STR)
    addr: str = go("Addr", IP)
    port: int = go("Port", INT)
    tags: dict[str, str] = go("Tags", MapOf(STR), factory=dict)
    status: int = go("Status", INT)
    protocol_min: int = go("ProtocolMin", INT)
    protocol_max: int = go("ProtocolMax", INT)
    protocol_cur: int = go("ProtocolCur", INT)
    delegate_min: int = go("DelegateMin", INT)
    delegate_max: int = go("DelegateMax", INT)
    delegate_cur: int = go("DelegateCur", INT)


@dataclass(slots=True)
class RelayAddr:
    ip: str = go("IP", IP)
    port: int = go("Port", INT)
    zone: str = go("Zone", STR)


@dataclass(slots=True)
class RelayHeader:
    dest_addr: RelayAddr = go("DestAddr", StructOf(RelayAddr), factory=RelayAddr)
    dest_name: str = go("DestName", STR)


@dataclass(slots=True)
class Coordinate:
    """A Vivaldi network coordinate (seconds)."""

    vec: list[float] = go("Vec", ListOf(FLOAT), factory=lambda: [0.0] * 8)
    error: float = go("Error", FLOAT, default=1.5)
    adjustment: float = go("Adjustment", FLOAT, default=0.0)
    height: float = go("Height", FLOAT, default=1e-5)


BODY_TYPES = {
    SerfMessageType.LEAVE: LeaveIntent,
    SerfMessageType.JOIN: JoinIntent,
    SerfMessageType.PUSH_PULL: PushPullState,
    SerfMessageType.USER_EVENT: UserEventMessage,
    SerfMessageType.QUERY: Query,
    SerfMessageType.QUERY_RESPONSE: QueryResponse,
    SerfMessageType.CONFLICT_RESPONSE: MemberWire,
    SerfMessageType.KEY_REQUEST: KeyRequest,
    SerfMessageType.KEY_RESPONSE: KeyResponse,
}
TYPE_OF_BODY = {cls: t for t, cls in BODY_TYPES.items()}


def encode_serf(body: object) -> bytes:
    return bytes([TYPE_OF_BODY[type(body)]]) + encode_struct(body)


def decode_serf(data: bytes) -> tuple[SerfMessageType, object]:
    """Decode a serf message other than relay; raises DecodeError on anything malformed."""
    if not data:
        raise DecodeError("empty serf message")
    try:
        msg_type = SerfMessageType(data[0])
        cls = BODY_TYPES[msg_type]
    except (ValueError, KeyError):
        raise DecodeError(f"unknown serf message type {data[0]}") from None
    return msg_type, decode_struct(cls, unpack(data[1:]))


def encode_relay(dest: tuple[str, int], dest_name: str, inner: bytes) -> bytes:
    header = RelayHeader(dest_addr=RelayAddr(ip=dest[0], port=dest[1]), dest_name=dest_name)
    return bytes([SerfMessageType.RELAY]) + encode_struct(header) + inner


def decode_relay(data: bytes) -> tuple[RelayHeader, bytes]:
    raw, end = unpack_from(data, 1)
    return decode_struct(RelayHeader, raw), data[end:]


def encode_tags(tags: dict[str, str]) -> bytes:
    return bytes([TAGS_MAGIC]) + pack(dict(tags))


def decode_tags(meta: bytes) -> dict[str, str]:
    """Tags from node meta; pre-protocol-3 meta is the bare "role" string."""
    if meta and meta[0] == TAGS_MAGIC:
        try:
            return MapOf(STR).decode(unpack(meta[1:]))
        except DecodeError:
            return {}
    return {"role": meta.decode("utf-8", "surrogateescape")} if meta else {}


def encode_node_filter(names: list[str]) -> bytes:
    return bytes([FilterType.NODE]) + pack(list(names))


def encode_tag_filter(tag: str, expr: str) -> bytes:
    return bytes([FilterType.TAG]) + encode_struct(TagFilter(tag=tag, expr=expr))
