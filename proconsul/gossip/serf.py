"""serf on top of memberlist, sans-IO.

``Serf`` owns a ``Memberlist`` and is its delegate.  The driver talks only to
``Serf``: it forwards packets, streams, unreachable reports and ticks
(``handle_packet``, ``handle_stream``, ``stream_reply``, ``stream_failed``,
``handle_unreachable``, ``tick``), drains ``take_actions()`` for network output
and ``take_events()`` for member, user-event and query events, and
``take_snapshot_lines()`` for the rejoin snapshot file.
"""

from __future__ import annotations

import base64
import enum
import math
import random
import re
from dataclasses import dataclass, field

from proconsul.gossip import serf_wire as sw
from proconsul.gossip.broadcast import BroadcastQueue
from proconsul.gossip.keyring import KeyringError
from proconsul.gossip.memberlist import (
    Address,
    Delegate,
    Memberlist,
    MemberlistConfig,
    NodeRecord,
    SendPacket,
    StreamRequest,
)
from proconsul.gossip.msgpack import DecodeError, unpack
from proconsul.gossip.snapshot import SnapshotState
from proconsul.gossip.structs import STR, ListOf, decode_struct, encode_struct
from proconsul.gossip.timers import TimerQueue
from proconsul.gossip.vivaldi import CoordinateClient
from proconsul.gossip.wire import NodeState

__all__ = [
    "PROTOCOL_VERSION_MAX", "PROTOCOL_VERSION_MIN", "LamportClock", "Member", "MemberEvent",
    "MemberEventType", "MemberStatus", "QueryAck", "QueryDone", "QueryEvent", "QueryParams",
    "QueryResponseEvent", "Serf", "SerfConfig", "SerfEvent", "SerfState", "UserEvent",
    "encode_key_request",
]

PROTOCOL_VERSION_MIN = 2
PROTOCOL_VERSION_MAX = 5
PING_VERSION = 1
USER_EVENT_HARD_LIMIT = 9 * 1024
INTERNAL_QUERY_PREFIX = "_serf_"


class LamportClock:
    """A Lamport clock: ``increment()`` for local events, ``witness(t)`` for remote ones."""

    def __init__(self, value: int = 0) -> None:
        self.value = value

    def time(self) -> int:
        return self.value

    def increment(self) -> int:
        self.value += 1
        return self.value

    def witness(self, ltime: int) -> None:
        if ltime >= self.value:
            self.value = ltime + 1


class MemberStatus(enum.IntEnum):
    NONE = 0
    ALIVE = 1
    LEAVING = 2
    LEFT = 3
    FAILED = 4


class MemberEventType(enum.IntEnum):
    JOIN = 0
    LEAVE = 1
    FAILED = 2
    UPDATE = 3
    REAP = 4


class SerfState(enum.IntEnum):
    ALIVE = 0
    LEAVING = 1
    LEFT = 2
    SHUTDOWN = 3


@dataclass(slots=True)
class Member:
    """A serf member as the layers above see it."""

    name: str
    addr: str
    port: int
    tags: dict[str, str] = field(default_factory=dict)
    status: MemberStatus = MemberStatus.NONE
    protocol_min: int = 0
    protocol_max: int = 0
    protocol_cur: int = 0
    delegate_min: int = 0
    delegate_max: int = 0
    delegate_cur: int = 0
    status_ltime: int = 0
    leave_time: float = 0.0


@dataclass(frozen=True, slots=True)
class MemberEvent:
    type: MemberEventType
    members: tuple[Member, ...]


@dataclass(frozen=True, slots=True)
class UserEvent:
    ltime: int
    name: str
    payload: bytes
    coalesce: bool


@dataclass(frozen=True, slots=True)
class QueryEvent:
    """A query to answer with ``Serf.respond(event, payload)`` before ``deadline``."""

    ltime: int
    id: int
    name: str
    payload: bytes
    source: Address
    source_node: str
    relay_factor: int
    deadline: float


@dataclass(frozen=True, slots=True)
class QueryAck:
    query_id: int
    from_node: str


@dataclass(frozen=True, slots=True)
class QueryResponseEvent:
    query_id: int
    from_node: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class QueryDone:
    """Our query reached its deadline; no more acks or responses will be reported."""

    query_id: int


SerfEvent = MemberEvent | UserEvent | QueryEvent | QueryAck | QueryResponseEvent | QueryDone


@dataclass(slots=True)
class QueryParams:
    filter_nodes: list[str] = field(default_factory=list)
    filter_tags: dict[str, str] = field(default_factory=dict)
    request_ack: bool = False
    relay_factor: int = 0
    timeout: float = 0.0  # 0 = serf's default for the cluster size


@dataclass(slots=True)
class SerfConfig:
    """serf's Config (defaults as ``serf.DefaultConfig``); ``memberlist`` is the LAN profile by default."""

    memberlist: MemberlistConfig
    tags: dict[str, str] = field(default_factory=dict)
    protocol_version: int = 4
    broadcast_timeout: float = 5.0
    leave_propagate_delay: float = 1.0
    event_buffer: int = 512
    query_buffer: int = 512
    reap_interval: float = 15.0
    recent_intent_timeout: float = 300.0
    reconnect_interval: float = 30.0
    reconnect_timeout: float = 24 * 3600.0
    tombstone_timeout: float = 24 * 3600.0
    query_timeout_mult: int = 16
    query_response_size_limit: int = 1024
    query_size_limit: int = 1024
    user_event_size_limit: int = 512
    max_queue_depth: int = 4096
    disable_coordinates: bool = False
    snapshot_clock_interval: float = 0.5

    @property
    def node_name(self) -> str:
        return self.memberlist.name


@dataclass(slots=True)
class _Intent:
    ltime: int
    kind: sw.SerfMessageType
    received: float


@dataclass(slots=True)
class _OurQuery:
    id: int
    ltime: int
    deadline: float
    acks: set[str] = field(default_factory=set)
    responses: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _EventSlot:
    ltime: int
    events: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass(slots=True)
class _QuerySlot:
    ltime: int
    ids: list[int] = field(default_factory=list)


class Serf(Delegate):
    """One serf instance over its own memberlist."""

    def __init__(self, config: SerfConfig, rng: random.Random | None = None,
                 snapshot: SnapshotState | None = None) -> None:
        if not PROTOCOL_VERSION_MIN <= config.protocol_version <= PROTOCOL_VERSION_MAX:
            raise ValueError(f"serf protocol version {config.protocol_version} not supported")
        if config.user_event_size_limit > USER_EVENT_HARD_LIMIT:
            raise ValueError("user event size limit exceeds 9 KiB")
        self.config = config
        self.rng = rng or random.Random()
        ml = config.memberlist
        ml.delegate_protocol_min = PROTOCOL_VERSION_MIN
        ml.delegate_protocol_max = PROTOCOL_VERSION_MAX
        ml.delegate_protocol_version = config.protocol_version
        self.memberlist = Memberlist(ml, self, self.rng)
        self.state = SerfState.ALIVE
        self.clock = LamportClock()
        self.event_clock = LamportClock()
        self.query_clock = LamportClock()
        self.event_min_time = 0
        self.query_min_time = 0
        self.event_join_ignore = False
        self.members: dict[str, Member] = {}
        self._recent_intents: dict[str, _Intent] = {}
        self._event_slots: list[_EventSlot | None] = [None] * config.event_buffer
        self._query_slots: list[_QuerySlot | None] = [None] * config.query_buffer
        self._our_queries: dict[int, _OurQuery] = {}
        self._answered: set[tuple[int, int]] = set()
        retransmit = ml.retransmit_mult
        gossip_soon = self.memberlist.gossip_soon
        self.intent_broadcasts = BroadcastQueue(retransmit, self.num_members, gossip_soon)
        self.event_broadcasts = BroadcastQueue(retransmit, self.num_members, gossip_soon)
        self.query_broadcasts = BroadcastQueue(retransmit, self.num_members, gossip_soon)
        self._timers = TimerQueue()
        self._events: list[SerfEvent] = []
        self._snapshot_lines: list[str] = []
        self._snapshot_clocks = (0, 0, 0)
        self._join_requests: set[int] = set()
        self._join_succeeded = False
        self._leave_phase = ""
        self._leave_deadline = 0.0
        self.coordinates = None if config.disable_coordinates else CoordinateClient()
        self.coordinate_cache: dict[str, sw.Coordinate] = {}
        self.rejoin_addresses: list[Address] = []
        if snapshot is not None:
            self._restore(snapshot)
        self.encode_tags(config.tags)  # validate size now

    # ------------------------------------------------------------ lifecycle

    def _restore(self, snapshot: SnapshotState) -> None:
        for clock, saved in ((self.clock, snapshot.clock), (self.event_clock, snapshot.event_clock),
                             (self.query_clock, snapshot.query_clock)):
            clock.increment()
            clock.witness(saved)
        self.event_min_time = snapshot.event_clock + 1
        self.query_min_time = snapshot.query_clock + 1
        self.rejoin_addresses = [addr for name, addr in snapshot.alive.items()
                                 if name != self.name]

    def start(self, now: float) -> None:
        self.memberlist.start(now)
        cfg = self.config
        self._timers.schedule(now + cfg.reap_interval, self._reap_tick)
        self._timers.schedule(now + cfg.reconnect_interval, self._reconnect_tick)
        self._timers.schedule(now + cfg.snapshot_clock_interval, self._snapshot_clock_tick)

    def shutdown(self) -> None:
        self.state = SerfState.SHUTDOWN
        self.memberlist.shutdown()
        self._timers.clear()

    # ---------------------------------------------------- driver interface

    @property
    def name(self) -> str:
        return self.config.node_name

    @property
    def address(self) -> Address:
        return self.memberlist.address

    @property
    def codec(self):
        return self.memberlist.codec

    def take_actions(self) -> list[SendPacket | StreamRequest]:
        return self.memberlist.take_actions()

    def take_events(self) -> list[SerfEvent]:
        events, self._events = self._events, []
        return events

    def take_snapshot_lines(self) -> list[str]:
        lines, self._snapshot_lines = self._snapshot_lines, []
        return lines

    def next_deadline(self) -> float | None:
        deadlines = [d for d in (self.memberlist.next_deadline(), self._timers.next_deadline())
                     if d is not None]
        return min(deadlines) if deadlines else None

    def tick(self, now: float) -> None:
        self.memberlist.tick(now)
        self._timers.run_due(self.memberlist.now)
        self._advance_leave()

    def handle_packet(self, data: bytes, from_addr: Address, now: float) -> None:
        self.memberlist.handle_packet(data, from_addr, now)

    def handle_stream(self, data: bytes, from_addr: Address, now: float) -> bytes | None:
        return self.memberlist.handle_stream(data, from_addr, now)

    def stream_reply(self, request_id: int, data: bytes, now: float) -> str | None:
        error = self.memberlist.stream_reply(request_id, data, now)
        self._join_progress(request_id, error is None)
        return error

    def stream_failed(self, request_id: int, now: float, refused: bool = False) -> None:
        self.memberlist.stream_failed(request_id, now, refused)
        self._join_progress(request_id, False)

    def handle_unreachable(self, addr: Address, now: float) -> None:
        self.memberlist.handle_unreachable(addr, now)

    @property
    def now(self) -> float:
        return self.memberlist.now

    # ---------------------------------------------------------- public ops

    def num_members(self) -> int:
        return len(self.members)

    def local_member(self) -> Member:
        return self.members[self.name]

    def join(self, addresses: list[Address], now: float, ignore_old: bool = False) -> list[int]:
        """Push/pull with each address; the join intent goes out on the first success."""
        self.event_join_ignore = ignore_old
        ids = self.memberlist.join(addresses, now)
        self._join_requests.update(ids)
        return ids

    def _join_progress(self, request_id: int, ok: bool) -> None:
        """After the last join push/pull: one join intent if any succeeded."""
        if request_id not in self._join_requests:
            return
        self._join_requests.discard(request_id)
        self._join_succeeded |= ok
        if not self._join_requests:
            if self._join_succeeded:
                self._broadcast_join(self.clock.time())
            self._join_succeeded = False
            self.event_join_ignore = False

    def leave(self, now: float) -> None:
        """Start a graceful leave; ``state`` becomes ``LEFT`` once it has propagated."""
        self.memberlist.advance(now)
        if self.state != SerfState.ALIVE:
            return
        self.state = SerfState.LEAVING
        self._snapshot_lines.append("leave")
        msg = sw.LeaveIntent(ltime=self.clock.time(), node=self.name)
        self.clock.increment()
        self._handle_leave_intent(msg)
        if self._has_alive_members():
            self.intent_broadcasts.queue(sw.encode_serf(msg), notify="leave-intent")
            self._leave_phase = "intent"
            self._leave_deadline = now + self.config.broadcast_timeout
        else:
            self._start_memberlist_leave()

    def _start_memberlist_leave(self) -> None:
        self.memberlist.leave(self.now)
        self._leave_phase = "memberlist"
        self._leave_deadline = self.now + self.config.broadcast_timeout

    def _advance_leave(self) -> None:
        if not self._leave_phase:
            return
        timed_out = self.now >= self._leave_deadline
        if self._leave_phase == "intent" and (
                "leave-intent" in self.intent_broadcasts.take_finished() or timed_out):
            self._start_memberlist_leave()
        if self._leave_phase == "memberlist" and (
                self.memberlist.leave_broadcast_done or self.now >= self._leave_deadline):
            self._leave_phase = "propagate"
            self._leave_deadline = self.now + self.config.leave_propagate_delay
            self._timers.schedule(self._leave_deadline, self._advance_leave)
        if self._leave_phase == "propagate" and self.now >= self._leave_deadline:
            self._leave_phase = ""
            self.state = SerfState.LEFT

    def _has_alive_members(self) -> bool:
        return any(m.status == MemberStatus.ALIVE for n, m in self.members.items() if n != self.name)

    def set_tags(self, tags: dict[str, str], now: float) -> None:
        self.encode_tags(tags)
        self.config.tags = dict(tags)
        self.memberlist.update_node(now)

    def user_event(self, name: str, payload: bytes, coalesce: bool, now: float) -> None:
        self.memberlist.advance(now)
        limit = self.config.user_event_size_limit
        if len(name.encode()) + len(payload) > limit:
            raise ValueError(f"user event exceeds configured limit of {limit} bytes")
        msg = sw.UserEventMessage(ltime=self.event_clock.time(), name=name, payload=payload,
                                  cc=coalesce)
        self.event_clock.increment()
        raw = sw.encode_serf(msg)
        if len(raw) > limit:
            raise ValueError(f"encoded user event exceeds limit of {limit} bytes")
        self._handle_user_event(msg)
        self.event_broadcasts.queue(raw)

    def default_query_timeout(self) -> float:
        n = self.memberlist.estimated_num_nodes()
        gossip = self.config.memberlist.gossip_interval
        return gossip * self.config.query_timeout_mult * math.ceil(math.log10(n + 1))

    def query(self, name: str, payload: bytes, params: QueryParams | None, now: float) -> int:
        """Start a query; returns its id.  Acks/responses/done arrive as events."""
        self.memberlist.advance(now)
        params = params or QueryParams()
        timeout = params.timeout or self.default_query_timeout()
        filters = []
        if params.filter_nodes:
            filters.append(sw.encode_node_filter(params.filter_nodes))
        for tag, expr in params.filter_tags.items():
            filters.append(sw.encode_tag_filter(tag, expr))
        addr, port = self.address
        msg = sw.Query(ltime=self.query_clock.time(), id=self.rng.getrandbits(31), addr=addr,
                       port=port, source_node=self.name, filters=filters,
                       flags=sw.QueryFlag.ACK if params.request_ack else 0,
                       relay_factor=params.relay_factor, timeout=int(timeout * 1e9), name=name,
                       payload=payload)
        self.query_clock.increment()
        raw = sw.encode_serf(msg)
        if len(raw) > self.config.query_size_limit:
            raise ValueError(f"query exceeds limit of {self.config.query_size_limit} bytes")
        ours = _OurQuery(id=msg.id, ltime=msg.ltime, deadline=now + timeout)
        self._our_queries[msg.ltime] = ours
        self._timers.schedule(ours.deadline, lambda: self._query_done(ours))
        self._handle_query(msg)
        self.query_broadcasts.queue(raw)
        return msg.id

    def _query_done(self, ours: _OurQuery) -> None:
        if self._our_queries.get(ours.ltime) is ours:
            del self._our_queries[ours.ltime]
            self._events.append(QueryDone(ours.id))

    def respond(self, query: QueryEvent, payload: bytes, now: float) -> None:
        """Answer a query once, before its deadline (raises ValueError otherwise)."""
        self.memberlist.advance(now)
        key = (query.ltime, query.id)
        if key in self._answered:
            raise ValueError("response already sent")
        if now > query.deadline:
            raise ValueError("response is past the deadline")
        resp = sw.QueryResponse(ltime=query.ltime, id=query.id, from_node=self.name,
                                payload=payload)
        raw = sw.encode_serf(resp)
        if len(raw) > self.config.query_response_size_limit:
            raise ValueError("response exceeds limit of "
                             f"{self.config.query_response_size_limit} bytes")
        self._answered.add(key)
        self._timers.schedule(query.deadline, lambda: self._answered.discard(key))
        self._send_query_response(query.source, query.source_node, query.relay_factor, raw)

    def _send_query_response(self, dest: Address, dest_name: str, relay_factor: int,
                             raw: bytes) -> None:
        self.memberlist.send_to_address(dest, raw)
        if relay_factor <= 0:
            return
        peers = [m for m in self.members.values()
                 if m.status == MemberStatus.ALIVE and m.name != self.name]
        self.rng.shuffle(peers)
        relayed = sw.encode_relay(dest, dest_name, raw)
        for peer in peers[:relay_factor]:
            self.memberlist.send_to_address((peer.addr, peer.port), relayed)

    def remove_failed_node(self, name: str, now: float, prune: bool = False) -> None:
        """Force a failed member to left by broadcasting a leave intent on its behalf."""
        self.memberlist.advance(now)
        msg = sw.LeaveIntent(ltime=self.clock.time(), node=name, prune=prune)
        self.clock.increment()
        self._handle_leave_intent(msg)
        self.intent_broadcasts.queue(sw.encode_serf(msg))

    def encode_tags(self, tags: dict[str, str]) -> bytes:
        if self.config.protocol_version < 3:
            meta = tags.get("role", "").encode()
        else:
            meta = sw.encode_tags(tags)
        if len(meta) > 512:
            raise ValueError(f"encoded tags are {len(meta)} bytes, limit 512")
        return meta

    # ------------------------------------------------- memberlist delegate

    def node_meta(self, limit: int) -> bytes:
        return self.encode_tags(self.config.tags)

    def get_broadcasts(self, overhead: int, limit: int, fresh: bool = False) -> list[bytes]:
        messages: list[bytes] = []
        used = 0
        for queue in (self.intent_broadcasts, self.query_broadcasts, self.event_broadcasts):
            queue.prune(self.config.max_queue_depth)
            batch = (queue.fresh if fresh else queue.get)(overhead, limit - used)
            used += sum(len(m) + overhead for m in batch)
            messages += batch
        return messages

    def notify_msg(self, message: bytes) -> None:
        if not message:
            return
        if message[0] == sw.SerfMessageType.RELAY:
            try:
                header, inner = sw.decode_relay(message)
            except DecodeError:
                return
            dest = (header.dest_addr.ip, header.dest_addr.port)
            self.memberlist.send_to_address(dest, inner)
            return
        try:
            msg_type, body = sw.decode_serf(message)
        except DecodeError:
            return
        rebroadcast: BroadcastQueue | None = None
        if msg_type == sw.SerfMessageType.LEAVE:
            rebroadcast = self.intent_broadcasts if self._handle_leave_intent(body) else None
        elif msg_type == sw.SerfMessageType.JOIN:
            rebroadcast = self.intent_broadcasts if self._handle_join_intent(body) else None
        elif msg_type == sw.SerfMessageType.USER_EVENT:
            rebroadcast = self.event_broadcasts if self._handle_user_event(body) else None
        elif msg_type == sw.SerfMessageType.QUERY:
            rebroadcast = self.query_broadcasts if self._handle_query(body) else None
        elif msg_type == sw.SerfMessageType.QUERY_RESPONSE:
            self._handle_query_response(body)
        if rebroadcast is not None:
            rebroadcast.queue(bytes(message))

    def local_state(self, join: bool) -> bytes:
        state = sw.PushPullState(
            ltime=self.clock.time(),
            status_ltimes={name: m.status_ltime for name, m in self.members.items()},
            left_members=[name for name, m in self.members.items()
                          if m.status == MemberStatus.LEFT],
            event_ltime=self.event_clock.time(),
            events=[None if slot is None else sw.UserEvents(
                ltime=slot.ltime,
                events=[sw.UserEventEntry(name=n, payload=p) for n, p in slot.events])
                for slot in self._event_slots],
            query_ltime=self.query_clock.time(),
        )
        return sw.encode_serf(state)

    def merge_remote_state(self, state: bytes, join: bool) -> None:
        try:
            msg_type, pp = sw.decode_serf(state)
        except DecodeError:
            return
        if msg_type != sw.SerfMessageType.PUSH_PULL:
            return
        if pp.ltime > 0:
            self.clock.witness(pp.ltime - 1)
        if pp.event_ltime > 0:
            self.event_clock.witness(pp.event_ltime - 1)
        if pp.query_ltime > 0:
            self.query_clock.witness(pp.query_ltime - 1)
        left = set(pp.left_members)
        for name in pp.left_members:
            self._handle_leave_intent(sw.LeaveIntent(ltime=pp.status_ltimes.get(name, 0) + 1,
                                                     node=name))
        for name, ltime in pp.status_ltimes.items():
            if name not in left:
                self._handle_join_intent(sw.JoinIntent(ltime=ltime, node=name))
        if join and self.event_join_ignore:
            self.event_min_time = max(self.event_min_time, pp.event_ltime)
        for events in pp.events:
            if events is None:
                continue
            for entry in events.events:
                self._handle_user_event(sw.UserEventMessage(ltime=events.ltime, name=entry.name,
                                                            payload=entry.payload))

    def notify_join(self, node: NodeRecord) -> None:
        member = self.members.get(node.name)
        if member is None:
            member = Member(name=node.name, addr=node.addr, port=node.port,
                            status=MemberStatus.ALIVE)
            intent = self._recent_intent(node.name)
            if intent is not None:
                member.status_ltime = intent.ltime
                if intent.kind == sw.SerfMessageType.LEAVE:
                    member.status = MemberStatus.LEAVING
            self.members[node.name] = member
        else:
            member.status = MemberStatus.ALIVE
            member.leave_time = 0.0
            member.addr, member.port = node.addr, node.port
        self._update_member(member, node)
        self._snapshot_lines.append(f"alive: {node.name} {_host_port(node.addr, node.port)}")
        self._events.append(MemberEvent(MemberEventType.JOIN, (_copy(member),)))

    def notify_leave(self, node: NodeRecord) -> None:
        member = self.members.get(node.name)
        if member is None:
            return
        if member.status == MemberStatus.LEAVING or (
                member.status == MemberStatus.ALIVE and node.state == NodeState.LEFT):
            member.status = MemberStatus.LEFT
            event = MemberEventType.LEAVE
        elif member.status == MemberStatus.ALIVE:
            member.status = MemberStatus.FAILED
            event = MemberEventType.FAILED
        else:
            return
        member.leave_time = self.now
        self._snapshot_lines.append(f"not-alive: {node.name}")
        self._events.append(MemberEvent(event, (_copy(member),)))

    def notify_update(self, node: NodeRecord) -> None:
        member = self.members.get(node.name)
        if member is None:
            return
        member.addr, member.port = node.addr, node.port
        self._update_member(member, node)
        self._events.append(MemberEvent(MemberEventType.UPDATE, (_copy(member),)))

    def _update_member(self, member: Member, node: NodeRecord) -> None:
        member.tags = sw.decode_tags(node.meta)
        v = node.vsn
        (member.protocol_min, member.protocol_max, member.protocol_cur,
         member.delegate_min, member.delegate_max, member.delegate_cur) = tuple(v[:6])

    def ack_payload(self) -> bytes:
        if self.coordinates is None:
            return b""
        return bytes([PING_VERSION]) + encode_struct(self.coordinates.coordinate)

    def notify_ping_complete(self, node: NodeRecord, rtt: float, payload: bytes) -> None:
        if self.coordinates is None or not payload or payload[0] != PING_VERSION:
            return
        try:
            coord = decode_struct(sw.Coordinate, unpack(payload[1:]))
        except DecodeError:
            return
        if self.coordinates.update(node.name, coord, rtt):
            self.coordinate_cache[node.name] = coord

    # ------------------------------------------------------------- intents

    def _recent_intent(self, name: str) -> _Intent | None:
        intent = self._recent_intents.pop(name, None)
        if intent is None or self.now - intent.received > self.config.recent_intent_timeout:
            return None
        return intent

    def _upsert_intent(self, name: str, kind: sw.SerfMessageType, ltime: int) -> bool:
        existing = self._recent_intents.get(name)
        if existing is None or ltime > existing.ltime:
            self._recent_intents[name] = _Intent(ltime, kind, self.now)
            return True
        return False

    def _broadcast_join(self, ltime: int) -> None:
        msg = sw.JoinIntent(ltime=ltime, node=self.name)
        self.clock.witness(ltime)
        self._handle_join_intent(msg)
        self.intent_broadcasts.queue(sw.encode_serf(msg))

    def _handle_leave_intent(self, msg: sw.LeaveIntent) -> bool:
        self.clock.witness(msg.ltime)
        member = self.members.get(msg.node)
        if member is None:
            return self._upsert_intent(msg.node, sw.SerfMessageType.LEAVE, msg.ltime)
        if msg.ltime <= member.status_ltime:
            return False
        if msg.node == self.name and self.state == SerfState.ALIVE:
            self._broadcast_join(self.clock.time())
            return False
        if member.status == MemberStatus.ALIVE:
            member.status = MemberStatus.LEAVING
            member.status_ltime = msg.ltime
            return True
        if member.status == MemberStatus.FAILED:
            member.status = MemberStatus.LEFT
            member.status_ltime = msg.ltime
            self._events.append(MemberEvent(MemberEventType.LEAVE, (_copy(member),)))
            if msg.prune:
                self._reap_member(member)
            return True
        if member.status == MemberStatus.LEFT and msg.prune:
            self._reap_member(member)
        return False

    def _handle_join_intent(self, msg: sw.JoinIntent) -> bool:
        self.clock.witness(msg.ltime)
        member = self.members.get(msg.node)
        if member is None:
            return self._upsert_intent(msg.node, sw.SerfMessageType.JOIN, msg.ltime)
        if msg.ltime <= member.status_ltime:
            return False
        member.status_ltime = msg.ltime
        if member.status == MemberStatus.LEAVING:
            member.status = MemberStatus.ALIVE
        return True

    # -------------------------------------------------------------- events

    def _too_old(self, ltime: int, clock: LamportClock, size: int) -> bool:
        cur = clock.time()
        return cur > size and ltime < cur - size

    def _handle_user_event(self, msg: sw.UserEventMessage) -> bool:
        self.event_clock.witness(msg.ltime)
        size = len(self._event_slots)
        if msg.ltime < self.event_min_time or self._too_old(msg.ltime, self.event_clock, size):
            return False
        idx = msg.ltime % size
        slot = self._event_slots[idx]
        entry = (msg.name, msg.payload)
        if slot is not None and slot.ltime == msg.ltime:
            if entry in slot.events:
                return False
        else:
            slot = _EventSlot(msg.ltime)
            self._event_slots[idx] = slot
        slot.events.append(entry)
        self._events.append(UserEvent(msg.ltime, msg.name, msg.payload, msg.cc))
        return True

    def _handle_query(self, query: sw.Query) -> bool:
        self.query_clock.witness(query.ltime)
        size = len(self._query_slots)
        if query.ltime < self.query_min_time or self._too_old(query.ltime, self.query_clock, size):
            return False
        idx = query.ltime % size
        slot = self._query_slots[idx]
        if slot is not None and slot.ltime == query.ltime:
            if query.id in slot.ids:
                return False
        else:
            slot = _QuerySlot(query.ltime)
            self._query_slots[idx] = slot
        slot.ids.append(query.id)
        rebroadcast = not query.flags & sw.QueryFlag.NO_BROADCAST
        if not self._should_process(query.filters):
            return rebroadcast
        source = (query.addr, query.port)
        if query.flags & sw.QueryFlag.ACK:
            ack = sw.QueryResponse(ltime=query.ltime, id=query.id, from_node=self.name,
                                   flags=sw.QueryFlag.ACK)
            self._send_query_response(source, query.source_node, query.relay_factor,
                                      sw.encode_serf(ack))
        event = QueryEvent(ltime=query.ltime, id=query.id, name=query.name,
                           payload=query.payload, source=source, source_node=query.source_node,
                           relay_factor=query.relay_factor,
                           deadline=self.now + query.timeout / 1e9)
        if query.name.startswith(INTERNAL_QUERY_PREFIX):
            self._handle_internal_query(event)
        else:
            self._events.append(event)
        return rebroadcast

    def _should_process(self, filters: list[bytes]) -> bool:
        for raw in filters:
            try:
                if not raw:
                    return False
                if raw[0] == sw.FilterType.NODE:
                    if self.name not in ListOf(STR).decode(unpack(raw[1:])):
                        return False
                elif raw[0] == sw.FilterType.TAG:
                    tag = decode_struct(sw.TagFilter, unpack(raw[1:]))
                    if re.search(tag.expr, self.config.tags.get(tag.tag, "")) is None:
                        return False
                else:
                    return False
            except (DecodeError, re.error):
                return False
        return True

    def _handle_query_response(self, resp: sw.QueryResponse) -> None:
        ours = self._our_queries.get(resp.ltime)
        if ours is None or ours.id != resp.id:
            return
        if resp.flags & sw.QueryFlag.ACK:
            if resp.from_node not in ours.acks:
                ours.acks.add(resp.from_node)
                self._events.append(QueryAck(resp.id, resp.from_node))
        elif resp.from_node not in ours.responses:
            ours.responses.add(resp.from_node)
            self._events.append(QueryResponseEvent(resp.id, resp.from_node, resp.payload))

    # ------------------------------------------------------ internal queries

    def _handle_internal_query(self, query: QueryEvent) -> None:
        """Answer serf's own queries; ``_serf_ping`` only wants the ack, already sent."""
        kind = query.name[len(INTERNAL_QUERY_PREFIX):]
        if kind == "conflict":
            member = self.members.get(query.payload.decode("utf-8", "surrogateescape"))
            if member is None or member.name == self.name:
                return
            wire_member = sw.MemberWire(
                name=member.name, addr=member.addr, port=member.port, tags=member.tags,
                status=int(member.status), protocol_min=member.protocol_min,
                protocol_max=member.protocol_max, protocol_cur=member.protocol_cur,
                delegate_min=member.delegate_min, delegate_max=member.delegate_max,
                delegate_cur=member.delegate_cur)
            self.respond(query, sw.encode_serf(wire_member), self.now)
        elif kind in ("install-key", "use-key", "remove-key", "list-keys"):
            self.respond(query, self._key_query(kind, query.payload), self.now)

    def _key_query(self, kind: str, payload: bytes) -> bytes:
        resp = sw.KeyResponse()
        keyring = self.config.memberlist.keyring
        try:
            if keyring is None:
                raise KeyringError("Keyring is empty (encryption not enabled)")
            if kind != "list-keys":
                _, req = sw.decode_serf(payload)
                key = req.key
                if kind == "install-key":
                    keyring.add_key(key)
                elif kind == "use-key":
                    keyring.use_key(key)
                else:
                    keyring.remove_key(key)
            else:
                resp.keys = [base64.b64encode(k).decode() for k in keyring.keys]
                resp.primary_key = base64.b64encode(keyring.primary_key or b"").decode()
            resp.result = True
        except (KeyringError, DecodeError, AttributeError) as exc:
            resp.message = str(exc)
        raw = sw.encode_serf(resp)
        while resp.keys and len(raw) > self.config.query_response_size_limit - 64:
            resp.keys.pop()
            resp.message = "truncated key list response, showing first keys"
            raw = sw.encode_serf(resp)
        return raw

    # ------------------------------------------------------------- reaping

    def _reap_tick(self) -> None:
        self._timers.schedule(self.now + self.config.reap_interval, self._reap_tick)
        for member in list(self.members.values()):
            if member.status == MemberStatus.FAILED:
                timeout = self.config.reconnect_timeout
            elif member.status == MemberStatus.LEFT:
                timeout = self.config.tombstone_timeout
            else:
                continue
            if self.now - member.leave_time > timeout:
                self._reap_member(member)
        for name, intent in list(self._recent_intents.items()):
            if self.now - intent.received > self.config.recent_intent_timeout:
                del self._recent_intents[name]

    def _reap_member(self, member: Member) -> None:
        self.members.pop(member.name, None)
        self.memberlist.forget(member.name)
        self.coordinate_cache.pop(member.name, None)
        if self.coordinates is not None:
            self.coordinates.forget(member.name)
        self._events.append(MemberEvent(MemberEventType.REAP, (_copy(member),)))

    def _reconnect_tick(self) -> None:
        self._timers.schedule(self.now + self.config.reconnect_interval, self._reconnect_tick)
        failed = [m for m in self.members.values() if m.status == MemberStatus.FAILED]
        if not failed:
            return
        left = sum(1 for m in self.members.values() if m.status == MemberStatus.LEFT)
        alive = max(1, len(self.members) - len(failed) - left)
        if self.rng.random() > len(failed) / alive:
            return
        target = self.rng.choice(failed)
        self.memberlist.join([(target.addr, target.port)], self.now)

    def _snapshot_clock_tick(self) -> None:
        self._timers.schedule(self.now + self.config.snapshot_clock_interval,
                              self._snapshot_clock_tick)
        clocks = (self.clock.time(), self.event_clock.time(), self.query_clock.time())
        if clocks != self._snapshot_clocks:
            for label, old, new in zip(("clock", "event-clock", "query-clock"),
                                       self._snapshot_clocks, clocks, strict=True):
                if old != new:
                    self._snapshot_lines.append(f"{label}: {new}")
            self._snapshot_clocks = clocks


def _copy(member: Member) -> Member:
    return Member(**{name: getattr(member, name) for name in Member.__slots__})


def _host_port(addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def encode_key_request(key: bytes) -> bytes:
    return sw.encode_serf(sw.KeyRequest(key=key))

