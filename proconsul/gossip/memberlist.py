"""memberlist (SWIM + Lifeguard) as a sans-IO core.

The core is fed packets (``handle_packet``), complete inbound stream messages
(``handle_stream``, which returns the reply), replies to the streams it asked
for (``stream_reply``/``stream_failed``) and clock ticks (``tick``).  It never
reads a clock or a socket: every entry point takes ``now`` (seconds, any
monotonic origin) and the caller drains ``take_actions()`` for packets to send
and streams to open.  Upper layers plug in through ``Delegate``.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from dataclasses import dataclass, field

from proconsul.gossip import wire
from proconsul.gossip.broadcast import BroadcastQueue
from proconsul.gossip.keyring import Keyring
from proconsul.gossip.msgpack import DecodeError
from proconsul.gossip.suspicion import Awareness, Suspicion, suspicion_timeout
from proconsul.gossip.timers import Timer, TimerQueue
from proconsul.gossip.wire import MessageType, NodeState, PacketCodec, WireError

__all__ = [
    "PROTOCOL_VERSION_MAX", "PROTOCOL_VERSION_MIN", "META_MAX_SIZE", "Delegate", "Memberlist",
    "MemberlistConfig", "NodeRecord", "SendPacket", "StreamRequest",
]

PROTOCOL_VERSION_MIN = 1
PROTOCOL_VERSION_MAX = 5
META_MAX_SIZE = 512
Address = tuple[str, int]


@dataclass(slots=True)
class MemberlistConfig:
    """memberlist's Config; build with ``lan()``, ``wan()`` or ``local()``."""

    name: str
    bind_addr: str = "0.0.0.0"
    bind_port: int = 7946
    advertise_addr: str = ""
    advertise_port: int = 0
    protocol_version: int = 2
    tcp_timeout: float = 10.0
    indirect_checks: int = 3
    retransmit_mult: int = 4
    suspicion_mult: int = 4
    suspicion_max_timeout_mult: int = 6
    push_pull_interval: float = 30.0
    probe_timeout: float = 0.5
    probe_interval: float = 1.0
    disable_tcp_pings: bool = False
    awareness_max_multiplier: int = 8
    gossip_nodes: int = 3
    gossip_interval: float = 0.2
    gossip_to_the_dead_time: float = 30.0
    enable_compression: bool = True
    udp_buffer_size: int = 1400
    dead_node_reclaim_time: float = 0.0
    label: str = ""
    skip_inbound_label_check: bool = False
    keyring: Keyring | None = None
    gossip_verify_incoming: bool = True
    gossip_verify_outgoing: bool = True
    delegate_protocol_min: int = 0
    delegate_protocol_max: int = 0
    delegate_protocol_version: int = 0
    lifeguard: bool = True  # False: plain SWIM (fixed timeouts, no nacks, no buddy suspect)
    # Beyond memberlist: a newly queued broadcast also goes out at once instead of only at
    # the next tick (at most one such extra round per quarter interval). The extra sends
    # are not counted against the message's retransmit limit, so the ticks spread it as
    # memberlist would; the extra round only makes it arrive sooner.
    eager_gossip: bool = True
    # Beyond memberlist: when the network reports that nothing listens at a probed node's
    # address (ICMP port unreachable for the ping, or a refused TCP fallback ping), the
    # probe fails at once instead of after the probe interval: a crashed process on a live
    # host is suspected about a second sooner. Suspicion and its timeout are unchanged, so
    # a node that is in fact alive still refutes in time; a host that is down sends no
    # such report and is found the usual way.
    unreachable_fails_probe: bool = True

    @classmethod
    def lan(cls, name: str, **overrides) -> MemberlistConfig:
        return cls(name=name, **overrides)

    @classmethod
    def wan(cls, name: str, **overrides) -> MemberlistConfig:
        values = dict(tcp_timeout=30.0, suspicion_mult=6, push_pull_interval=60.0,
                      probe_timeout=3.0, probe_interval=5.0, gossip_nodes=4,
                      gossip_interval=0.5, gossip_to_the_dead_time=60.0)
        values.update(overrides)
        return cls(name=name, **values)

    @classmethod
    def local(cls, name: str, **overrides) -> MemberlistConfig:
        values = dict(tcp_timeout=1.0, indirect_checks=1, retransmit_mult=2, suspicion_mult=3,
                      push_pull_interval=15.0, probe_timeout=0.2, probe_interval=1.0,
                      gossip_interval=0.1, gossip_to_the_dead_time=15.0)
        values.update(overrides)
        return cls(name=name, **values)

    def vsn(self) -> bytes:
        return bytes([PROTOCOL_VERSION_MIN, PROTOCOL_VERSION_MAX, self.protocol_version,
                      self.delegate_protocol_min, self.delegate_protocol_max,
                      self.delegate_protocol_version])


@dataclass(slots=True)
class NodeRecord:
    """What we know about one member."""

    name: str
    addr: str
    port: int
    meta: bytes = b""
    incarnation: int = 0
    state: NodeState = NodeState.DEAD
    state_change: float = 0.0
    vsn: bytes = bytes(6)

    @property
    def address(self) -> Address:
        return (self.addr, self.port)

    @property
    def protocol_max(self) -> int:
        return self.vsn[1] if len(self.vsn) > 1 else 0

    def dead_or_left(self) -> bool:
        return self.state in (NodeState.DEAD, NodeState.LEFT)


@dataclass(frozen=True, slots=True)
class SendPacket:
    """Send ``data`` as one UDP datagram to ``addr``."""

    addr: Address
    data: bytes


@dataclass(frozen=True, slots=True)
class StreamRequest:
    """Open TCP to ``addr``, write ``data``; if ``expect_reply`` read one framed
    message and hand it to ``stream_reply(request_id, ...)`` (or report
    ``stream_failed``)."""

    request_id: int
    addr: Address
    data: bytes
    expect_reply: bool
    timeout: float


class Delegate:
    """Hooks for the layer above (serf); every method has a do-nothing default."""

    def node_meta(self, limit: int) -> bytes:
        return b""

    def notify_msg(self, message: bytes) -> None:
        pass

    def get_broadcasts(self, overhead: int, limit: int, fresh: bool = False) -> list[bytes]:
        """Messages to piggy-back; ``fresh``: only untransmitted ones, left uncounted."""
        return []

    def local_state(self, join: bool) -> bytes:
        return b""

    def merge_remote_state(self, state: bytes, join: bool) -> None:
        pass

    def notify_join(self, node: NodeRecord) -> None:
        pass

    def notify_leave(self, node: NodeRecord) -> None:
        pass

    def notify_update(self, node: NodeRecord) -> None:
        pass

    def notify_merge(self, nodes: list[NodeRecord]) -> str | None:
        """Return an error string to refuse a push/pull merge."""
        return None

    def notify_conflict(self, existing: NodeRecord, other: NodeRecord) -> None:
        pass

    def ack_payload(self) -> bytes:
        return b""

    def notify_ping_complete(self, node: NodeRecord, rtt: float, payload: bytes) -> None:
        pass


@dataclass(slots=True)
class _Probe:
    node: str
    seq_no: int
    sent: float
    expected_nacks: int = 0
    nacks: int = 0
    timers: list[Timer] = field(default_factory=list)


@dataclass(slots=True)
class _Relay:
    requester: Address
    seq_no: int
    send_nack: bool
    timer: Timer | None = None


@dataclass(slots=True)
class _PendingStream:
    kind: str
    join: bool = False
    probe_seq: int = 0


@dataclass(slots=True)
class Stats:
    """Counters for dropped input and state changes, useful to tests and metrics."""

    packets_dropped: int = 0
    parts_dropped: int = 0
    streams_rejected: int = 0
    probes_unreachable: int = 0  # probes failed at once: nothing listened at the target
    suspected: Counter[str] = field(default_factory=Counter)  # alive → suspect, per node
    declared_dead: Counter[str] = field(default_factory=Counter)  # → dead (not left), per node


class Memberlist:
    """One memberlist instance: membership state, failure detector and gossip."""

    def __init__(self, config: MemberlistConfig, delegate: Delegate | None = None,
                 rng: random.Random | None = None) -> None:
        self.config = config
        self.delegate = delegate or Delegate()
        self.rng = rng or random.Random()
        self.codec = PacketCodec(
            label=config.label, keyring=config.keyring,
            verify_incoming=config.gossip_verify_incoming,
            verify_outgoing=config.gossip_verify_outgoing,
            compression=config.enable_compression,
            skip_inbound_label_check=config.skip_inbound_label_check,
            encryption_version=0 if config.protocol_version < 2 else 1,
        )
        self.now = 0.0
        self.stats = Stats()
        # Without Lifeguard the awareness score is pinned at 0 (probe deadlines never scale).
        self.awareness = Awareness(config.awareness_max_multiplier if config.lifeguard else 1)
        self.broadcasts = BroadcastQueue(config.retransmit_mult, self.estimated_num_nodes,
                                         on_queue=self.gossip_soon)
        self._gossip_timer: Timer | None = None
        self._last_early_gossip = -math.inf
        self.nodes: dict[str, NodeRecord] = {}
        self._probe_order: list[str] = []
        self._probe_index = 0
        self._suspicions: dict[str, tuple[Suspicion, Timer]] = {}
        self._timers = TimerQueue()
        self._actions: list[SendPacket | StreamRequest] = []
        self._seq = itertools.count(1)
        self._request_ids = itertools.count(1)
        self._incarnation = 0
        self._ack_handlers: dict[int, _Probe | _Relay] = {}
        self._probe: _Probe | None = None
        self._probe_tick_held = False
        self._streams: dict[int, _PendingStream] = {}
        self.leaving = False
        self.leave_broadcast_done = False
        self.started = False

    # ------------------------------------------------------------ identity

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def address(self) -> Address:
        cfg = self.config
        return (cfg.advertise_addr or cfg.bind_addr, cfg.advertise_port or cfg.bind_port)

    def local_node(self) -> NodeRecord:
        return self.nodes[self.name]

    def members(self) -> list[NodeRecord]:
        """Alive and suspect members, including ourselves."""
        return [n for n in self.nodes.values() if not n.dead_or_left()]

    def estimated_num_nodes(self) -> int:
        """memberlist's estNumNodes: every node we track, dead ones included until forgotten."""
        return max(1, len(self.nodes))

    # ------------------------------------------------------------ plumbing

    def take_actions(self) -> list[SendPacket | StreamRequest]:
        actions, self._actions = self._actions, []
        return actions

    def next_deadline(self) -> float | None:
        return self._timers.next_deadline()

    def tick(self, now: float) -> None:
        self.now = max(self.now, now)
        self._timers.run_due(self.now)
        self._check_leave_done()

    def advance(self, now: float) -> None:
        """Move the core's notion of now forward (never backwards)."""
        self.now = max(self.now, now)

    def _check_leave_done(self) -> None:
        if "leave" in self.broadcasts.take_finished():
            self.leave_broadcast_done = True

    def start(self, now: float) -> None:
        """Announce ourselves (alive) and start the probe, gossip and push/pull tickers."""
        self.update_node(now)
        self.started = True
        cfg = self.config
        self._timers.schedule(now + self.rng.random() * cfg.probe_interval, self._probe_tick)
        self._gossip_timer = self._timers.schedule(now + self.rng.random() * cfg.gossip_interval,
                                                   self._gossip_tick)
        if cfg.push_pull_interval > 0:
            self._timers.schedule(now + self.rng.random() * cfg.push_pull_interval,
                                  self._push_pull_tick)

    def shutdown(self) -> None:
        self._timers.clear()
        self.started = False

    def _next_incarnation(self) -> int:
        self._incarnation += 1
        return self._incarnation

    def _next_seq(self) -> int:
        return next(self._seq) & 0xFFFFFFFF

    # --------------------------------------------------------- public ops

    def join(self, addresses: list[Address], now: float) -> list[int]:
        """Start a join push/pull with each address; returns the stream request ids."""
        self.advance(now)
        return [self._send_push_pull(addr, join=True) for addr in addresses]

    def leave(self, now: float) -> None:
        """Broadcast our own death (graceful leave); ``leave_broadcast_done`` turns True when sent."""
        self.advance(now)
        self.leaving = True
        me = self.local_node()
        if me.dead_or_left():
            self.leave_broadcast_done = True
            return
        self._dead_node(wire.Dead(incarnation=me.incarnation, node=self.name, from_node=self.name))
        if not any(n.state == NodeState.ALIVE for n in self.nodes.values() if n.name != self.name):
            self.leave_broadcast_done = True

    def update_node(self, now: float) -> None:
        """Read our meta from the delegate and gossip it (alive) with a new incarnation."""
        self.advance(now)
        meta = self.delegate.node_meta(META_MAX_SIZE)
        if len(meta) > META_MAX_SIZE:
            raise ValueError(f"node meta is {len(meta)} bytes, limit {META_MAX_SIZE}")
        addr, port = self.address
        alive = wire.Alive(incarnation=self._next_incarnation(), node=self.name, addr=addr,
                           port=port, meta=meta, vsn=self.config.vsn())
        self._alive_node(alive, bootstrap=True)

    def send_to_address(self, addr: Address, message: bytes) -> None:
        """Best-effort user message over UDP (memberlist SendToAddress)."""
        self._send_raw(addr, wire.user_packet(message))

    def send_reliable(self, addr: Address, message: bytes) -> int:
        """User message over a TCP stream; returns the stream request id."""
        data = self.codec.encode_stream(wire.encode_user_stream(message))
        return self._open_stream(addr, data, _PendingStream("user"), expect_reply=False)

    def forget(self, name: str) -> None:
        """Remove a dead or left node completely (serf's reaper)."""
        node = self.nodes.get(name)
        if node is not None and node.dead_or_left() and name != self.name:
            del self.nodes[name]
            if name in self._probe_order:
                self._probe_order.remove(name)

    # ------------------------------------------------------------- output

    def _open_stream(self, addr: Address, data: bytes, pending: _PendingStream,
                     expect_reply: bool = True) -> int:
        request_id = next(self._request_ids)
        if expect_reply:
            self._streams[request_id] = pending
        self._actions.append(StreamRequest(request_id, addr, data, expect_reply,
                                           self.config.tcp_timeout))
        return request_id

    def _send_raw(self, addr: Address, message: bytes, node: NodeRecord | None = None) -> None:
        with_crc = node is not None and node.protocol_max >= 5
        self._actions.append(SendPacket(addr, self.codec.encode_packet(message, with_crc)))

    def _send_msg(self, addr: Address, message: bytes) -> None:
        """Send one message with as many queued broadcasts piggy-backed as fit."""
        avail = (self.config.udp_buffer_size - len(message) - wire.COMPOUND_HEADER_OVERHEAD
                 - self.codec.packet_overhead())
        extra = self._get_broadcasts(wire.COMPOUND_PART_OVERHEAD, avail)
        if not extra:
            self._send_raw(addr, message)
        else:
            for packet in wire.make_compounds([message, *extra]):
                self._send_raw(addr, packet)

    def _get_broadcasts(self, overhead: int, limit: int, fresh: bool = False) -> list[bytes]:
        if fresh:
            messages = self.broadcasts.fresh(overhead, limit)
        else:
            messages = self.broadcasts.get(overhead, limit)
        used = sum(len(m) + overhead for m in messages)
        user = self.delegate.get_broadcasts(overhead + wire.USER_MSG_OVERHEAD, limit - used,
                                            fresh)
        messages += [wire.user_packet(m) for m in user]
        self._check_leave_done()
        return messages

    def _broadcast(self, name: str, message: bytes, notify: str | None = None) -> None:
        self.broadcasts.queue(message, name=name, notify=notify)

    # ------------------------------------------------------------- inbound

    def handle_packet(self, data: bytes, from_addr: Address, now: float) -> None:
        """Process one UDP datagram; malformed input is counted and dropped."""
        self.advance(now)
        try:
            message = self.codec.decode_packet(data)
            leaves, dropped = wire.unwrap_packet(message)
        except (WireError, DecodeError):
            self.stats.packets_dropped += 1
            return
        self.stats.parts_dropped += dropped
        for leaf in leaves:
            try:
                self._handle_message(leaf, from_addr)
            except (WireError, DecodeError, ValueError):
                self.stats.parts_dropped += 1
        self._check_leave_done()

    def _handle_message(self, message: bytes, from_addr: Address) -> None:
        msg_type = message[0]
        if msg_type == MessageType.USER:
            self.delegate.notify_msg(message[1:])
            return
        if msg_type in wire.GOSSIP_TYPES:
            msg_type, body = wire.decode_gossip(bytes(message))
        else:
            msg_type, body = wire.decode_message(message)
        if msg_type == MessageType.PING:
            self._handle_ping(body, from_addr)
        elif msg_type == MessageType.INDIRECT_PING:
            self._handle_indirect_ping(body, from_addr)
        elif msg_type == MessageType.ACK:
            self._handle_ack(body.seq_no, body.payload)
        elif msg_type == MessageType.NACK:
            self._handle_nack(body.seq_no)
        elif msg_type == MessageType.SUSPECT:
            self._suspect_node(body)
        elif msg_type == MessageType.ALIVE:
            self._alive_node(body)
        elif msg_type == MessageType.DEAD:
            self._dead_node(body)
        else:
            raise WireError(f"unexpected packet message type {msg_type}")

    def handle_stream(self, data: bytes, from_addr: Address, now: float) -> bytes | None:
        """Process one inbound stream message; returns the bytes to write back, if any."""
        self.advance(now)
        try:
            msg_type, body = self.codec.decode_stream(data)
        except (WireError, DecodeError) as exc:
            self.stats.streams_rejected += 1
            return self._stream_error(str(exc))
        if msg_type == MessageType.PUSH_PULL:
            reply = self.codec.encode_stream(wire.encode_push_pull(self._local_state(body.join)))
            error = self._merge_remote_state(body)
            if error is not None:
                self.stats.streams_rejected += 1
            return reply
        if msg_type == MessageType.USER:
            self.delegate.notify_msg(body)
            return None
        if msg_type == MessageType.PING:
            if body.node and body.node != self.name:
                return None
            ack = wire.Ack(seq_no=body.seq_no, payload=self.delegate.ack_payload())
            return self.codec.encode_stream(wire.encode_message(ack))
        self.stats.streams_rejected += 1
        return self._stream_error(f"received invalid msgType ({int(msg_type)})")

    def _stream_error(self, text: str) -> bytes:
        return self.codec.encode_stream(wire.encode_message(wire.ErrorResponse(error=text)))

    def stream_reply(self, request_id: int, data: bytes, now: float) -> str | None:
        """A reply arrived for one of our streams; returns an error text or None."""
        self.advance(now)
        pending = self._streams.pop(request_id, None)
        if pending is None:
            return "unknown stream request"
        try:
            msg_type, body = self.codec.decode_stream(data)
        except (WireError, DecodeError) as exc:
            return str(exc)
        if pending.kind == "push_pull":
            if msg_type == MessageType.ERROR:
                return f"remote error: {body.error}"
            if msg_type != MessageType.PUSH_PULL:
                return f"unexpected reply type {int(msg_type)}"
            return self._merge_remote_state(body)
        if pending.kind == "ping":
            ok = msg_type == MessageType.ACK and body.seq_no == pending.probe_seq
            if ok and self._probe is not None and self._probe.seq_no == pending.probe_seq:
                self._probe_success(self._probe)
            return None if ok else "TCP ping got no matching ack"
        return None

    def stream_failed(self, request_id: int, now: float, refused: bool = False) -> None:
        """The stream could not be opened, written or answered in time; ``refused``: the
        connection was refused (nothing listens there)."""
        self.advance(now)
        pending = self._streams.pop(request_id, None)
        probe = self._probe
        if (refused and pending is not None and pending.kind == "ping" and probe is not None
                and probe.seq_no == pending.probe_seq):
            self._probe_unreachable(probe)

    def handle_unreachable(self, addr: Address, now: float) -> None:
        """The network reports that nothing listens at ``addr`` (an ICMP port unreachable
        for a packet we sent there). A probe of the node at that address fails now."""
        self.advance(now)
        probe = self._probe
        node = self.nodes.get(probe.node) if probe is not None else None
        if node is not None and node.address == addr:
            self._probe_unreachable(probe)

    # ---------------------------------------------------------- ping/ack

    def _handle_ping(self, ping: wire.Ping, from_addr: Address) -> None:
        if ping.node and ping.node != self.name:
            return
        ack = wire.Ack(seq_no=ping.seq_no, payload=self.delegate.ack_payload())
        reply_to = (ping.source_addr, ping.source_port) if ping.source_addr else from_addr
        self._send_msg(reply_to, wire.encode_message(ack))

    def _handle_indirect_ping(self, ind: wire.IndirectPing, from_addr: Address) -> None:
        requester = (ind.source_addr, ind.source_port) if ind.source_addr else from_addr
        seq = self._next_seq()
        relay = _Relay(requester=requester, seq_no=ind.seq_no, send_nack=ind.nack)
        self._ack_handlers[seq] = relay
        relay.timer = self._timers.schedule(self.now + self.config.probe_timeout,
                                            lambda: self._relay_timeout(seq))
        addr, port = self.address
        ping = wire.Ping(seq_no=seq, node=ind.node, source_addr=addr, source_port=port,
                         source_node=self.name)
        self._send_msg((ind.target, ind.port), wire.encode_message(ping))

    def _relay_timeout(self, seq: int) -> None:
        relay = self._ack_handlers.pop(seq, None)
        if isinstance(relay, _Relay) and relay.send_nack:
            self._send_msg(relay.requester, wire.encode_message(wire.Nack(seq_no=relay.seq_no)))

    def _handle_ack(self, seq: int, payload: bytes) -> None:
        handler = self._ack_handlers.pop(seq, None)
        if isinstance(handler, _Relay):
            if handler.timer is not None:
                handler.timer.cancel()
            ack = wire.Ack(seq_no=handler.seq_no, payload=payload)
            self._send_msg(handler.requester, wire.encode_message(ack))
        elif isinstance(handler, _Probe) and handler is self._probe:
            node = self.nodes.get(handler.node)
            direct_deadline = handler.sent + self.config.probe_timeout
            if node is not None and self.now <= direct_deadline:
                self.delegate.notify_ping_complete(node, self.now - handler.sent, payload)
            self._probe_success(handler)

    def _handle_nack(self, seq: int) -> None:
        handler = self._ack_handlers.get(seq)
        if isinstance(handler, _Probe):
            handler.nacks += 1

    # -------------------------------------------------------------- probing

    def _probe_tick(self) -> None:
        """memberlist's probe ticker: a tick that finds a probe still running is held
        (Go's ticker channel keeps one) and fires as soon as that probe ends."""
        self._timers.schedule(self.now + self.config.probe_interval, self._probe_tick)
        if self._probe is not None:
            self._probe_tick_held = True
            return
        self._start_probe()

    def _start_probe(self) -> None:
        node = self._next_probe_target()
        if node is not None:
            self._probe_node(node)

    def _release_held_tick(self) -> None:
        if self._probe_tick_held and self._probe is None and self.started:
            self._probe_tick_held = False
            self._start_probe()

    def _next_probe_target(self) -> NodeRecord | None:
        for _ in range(len(self._probe_order) + 1):
            if self._probe_index >= len(self._probe_order):
                self._reset_probe_order()
                self._probe_index = 0
                if not self._probe_order:
                    return None
            name = self._probe_order[self._probe_index]
            self._probe_index += 1
            node = self.nodes.get(name)
            if node is None or name == self.name or node.dead_or_left():
                continue
            return node
        return None

    def _reset_probe_order(self) -> None:
        """Forget nodes dead for longer than GossipToTheDeadTime, then shuffle."""
        limit = self.config.gossip_to_the_dead_time
        for name, node in list(self.nodes.items()):
            if name != self.name and node.dead_or_left() and self.now - node.state_change > limit:
                del self.nodes[name]
        self._probe_order = [name for name in self._probe_order if name in self.nodes]
        self.rng.shuffle(self._probe_order)

    def _probe_node(self, node: NodeRecord) -> None:
        cfg = self.config
        seq = self._next_seq()
        probe = _Probe(node=node.name, seq_no=seq, sent=self.now)
        self._probe = probe
        self._ack_handlers[seq] = probe
        addr, port = self.address
        ping = wire.encode_message(wire.Ping(seq_no=seq, node=node.name, source_addr=addr,
                                             source_port=port, source_node=self.name))
        if node.state == NodeState.ALIVE or not cfg.lifeguard:
            self._send_msg(node.address, ping)
        else:  # Lifeguard's buddy system: tell the suspect directly so it can refute
            suspect = wire.encode_message(wire.Suspect(incarnation=node.incarnation,
                                                       node=node.name, from_node=self.name))
            self._send_raw(node.address, wire.make_compound([ping, suspect]), node)
        deadline = self.now + self.awareness.scale(cfg.probe_interval)
        probe.timers = [
            self._timers.schedule(self.now + cfg.probe_timeout, lambda: self._probe_indirect(probe)),
            self._timers.schedule(deadline, lambda: self._probe_failed(probe)),
        ]

    def _probe_indirect(self, probe: _Probe) -> None:
        node = self.nodes.get(probe.node)
        if probe is not self._probe or node is None:
            return
        addr, port = self.address
        peers = self._random_nodes(
            self.config.indirect_checks,
            lambda n: n.name != node.name and n.state == NodeState.ALIVE)
        for peer in peers:
            nack = self.config.lifeguard and peer.protocol_max >= 4
            probe.expected_nacks += nack
            ind = wire.IndirectPing(seq_no=probe.seq_no, target=node.addr, port=node.port,
                                    node=node.name, nack=nack, source_addr=addr,
                                    source_port=port, source_node=self.name)
            self._send_msg(peer.address, wire.encode_message(ind))
        if not self.config.disable_tcp_pings and node.protocol_max >= 3:
            ping = wire.Ping(seq_no=probe.seq_no, node=node.name, source_addr=addr,
                             source_port=port, source_node=self.name)
            self._open_stream(node.address, self.codec.encode_stream(wire.encode_message(ping)),
                              _PendingStream("ping", probe_seq=probe.seq_no))

    def _end_probe(self, probe: _Probe) -> None:
        for timer in probe.timers:
            timer.cancel()
        self._ack_handlers.pop(probe.seq_no, None)
        if self._probe is probe:
            self._probe = None

    def _probe_success(self, probe: _Probe) -> None:
        self._end_probe(probe)
        self.awareness.apply_delta(-1)
        self._release_held_tick()

    def _probe_unreachable(self, probe: _Probe) -> None:
        """The target's host answered that nothing listens there: a definite failure,
        so no indirect probes are awaited and our own health score is not charged."""
        if self.config.unreachable_fails_probe:
            self.stats.probes_unreachable += 1
            self._probe_failed(probe, definite=True)

    def _probe_failed(self, probe: _Probe, definite: bool = False) -> None:
        if probe is not self._probe:
            return
        self._end_probe(probe)
        if not definite:  # Lifeguard: a probe that just went unanswered may be our fault
            missed = probe.expected_nacks - probe.nacks if probe.expected_nacks else 1
            self.awareness.apply_delta(max(0, missed))
        node = self.nodes.get(probe.node)
        if node is not None and not node.dead_or_left():
            self._suspect_node(wire.Suspect(incarnation=node.incarnation, node=node.name,
                                            from_node=self.name))
        self._release_held_tick()

    def _random_nodes(self, k: int, keep) -> list[NodeRecord]:
        """Up to ``k`` distinct other nodes passing ``keep`` (memberlist's kRandomNodes:
        at most 3n random draws, so a call costs O(k) however large the cluster)."""
        order = self._probe_order
        n = len(order)
        chosen: list[NodeRecord] = []
        names: set[str] = set()
        for _ in range(3 * n):
            if len(chosen) >= k:
                break
            name = order[int(self.rng.random() * n)]
            node = self.nodes.get(name)
            if node is None or name == self.name or name in names or not keep(node):
                continue
            names.add(name)
            chosen.append(node)
        return chosen

    # ----------------------------------------------------- gossip, push/pull

    def gossip_soon(self) -> None:
        """A broadcast was queued: with ``eager_gossip``, run an extra gossip round now,
        unless the next tick is due within a quarter interval or an extra round ran less
        than a quarter interval ago. The ticks keep their own schedule."""
        cfg, timer = self.config, self._gossip_timer
        if not cfg.eager_gossip or not self.started or timer is None or timer.cancelled:
            return
        gap = cfg.gossip_interval / 4
        if timer.when - self.now <= gap or self.now - self._last_early_gossip < gap:
            return
        self._last_early_gossip = self.now
        self._timers.schedule(self.now, self._early_gossip_round)

    def _early_gossip_round(self) -> None:
        """Send what was never sent, spending none of its transmissions: the ticks still
        spread every message exactly as memberlist's would; this only adds speed."""
        self._gossip_round(fresh=True)

    def _gossip_tick(self) -> None:
        self._gossip_timer = self._timers.schedule(self.now + self.config.gossip_interval,
                                                   self._gossip_tick)
        self._gossip_round()

    def _gossip_round(self, fresh: bool = False) -> None:
        cfg = self.config

        def gossip_target(n: NodeRecord) -> bool:
            if not n.dead_or_left():
                return True
            return self.now - n.state_change <= cfg.gossip_to_the_dead_time

        avail = cfg.udp_buffer_size - wire.COMPOUND_HEADER_OVERHEAD - self.codec.packet_overhead()
        for node in self._random_nodes(cfg.gossip_nodes, gossip_target):
            messages = self._get_broadcasts(wire.COMPOUND_PART_OVERHEAD, avail, fresh)
            if not messages:
                return
            if len(messages) == 1:
                self._send_raw(node.address, messages[0], node)
            else:
                for packet in wire.make_compounds(messages):
                    self._send_raw(node.address, packet, node)

    def push_pull_scale(self) -> float:
        n = self.estimated_num_nodes()
        interval = self.config.push_pull_interval
        if n <= 32:
            return interval
        return interval * (math.ceil(math.log2(n) - math.log2(32)) + 1)

    def _push_pull_tick(self) -> None:
        self._timers.schedule(self.now + self.push_pull_scale(), self._push_pull_tick)
        peers = self._random_nodes(1, lambda n: n.state == NodeState.ALIVE)
        if peers:
            self._send_push_pull(peers[0].address, join=False)

    def _local_state(self, join: bool) -> wire.PushPull:
        nodes = [wire.PushNodeState(name=n.name, addr=n.addr, port=n.port, meta=n.meta,
                                    incarnation=n.incarnation, state=int(n.state), vsn=n.vsn)
                 for n in self.nodes.values()]
        return wire.PushPull(join=join, nodes=nodes, user_state=self.delegate.local_state(join))

    def _send_push_pull(self, addr: Address, join: bool) -> int:
        data = self.codec.encode_stream(wire.encode_push_pull(self._local_state(join)))
        return self._open_stream(addr, data, _PendingStream("push_pull", join=join))

    def _verify_protocol(self, remote: list[wire.PushNodeState]) -> str | None:
        vsns = [n.vsn for n in self.nodes.values() if n.state == NodeState.ALIVE]
        vsns += [n.vsn for n in remote]
        if any(len(v) < 6 for v in vsns):
            return "node has an incomplete version vector"
        for lo, hi, cur, what in ((0, 1, 2, "protocol"), (3, 4, 5, "delegate protocol")):
            max_min = max(v[lo] for v in vsns)
            min_max = min(v[hi] for v in vsns)
            for v in vsns:
                if not max_min <= v[cur] <= min_max:
                    return f"{what} version {v[cur]} not in [{max_min}, {min_max}]"
        return None

    def _merge_remote_state(self, remote: wire.PushPull) -> str | None:
        error = self._verify_protocol(remote.nodes)
        if error is not None:
            return error
        records = [NodeRecord(name=n.name, addr=n.addr, port=n.port, meta=n.meta,
                              incarnation=n.incarnation, state=_node_state(n.state), vsn=n.vsn)
                   for n in remote.nodes]
        error = self.delegate.notify_merge(records)
        if error is not None:
            return error
        for node in remote.nodes:
            state = _node_state(node.state)
            if state == NodeState.ALIVE:
                self._alive_node(wire.Alive(incarnation=node.incarnation, node=node.name,
                                            addr=node.addr, port=node.port, meta=node.meta,
                                            vsn=node.vsn))
            elif state == NodeState.LEFT:
                self._dead_node(wire.Dead(incarnation=node.incarnation, node=node.name,
                                          from_node=node.name))
            else:
                self._suspect_node(wire.Suspect(incarnation=node.incarnation, node=node.name,
                                                from_node=self.name))
        if remote.user_state:
            self.delegate.merge_remote_state(remote.user_state, remote.join)
        return None

    # ------------------------------------------------------- state machine

    def _refute(self, me: NodeRecord, accused_incarnation: int) -> None:
        inc = self._next_incarnation()
        if accused_incarnation >= inc:
            self._incarnation = accused_incarnation + 1
            inc = self._incarnation
        me.incarnation = inc
        self.awareness.apply_delta(1)
        alive = wire.Alive(incarnation=inc, node=me.name, addr=me.addr, port=me.port,
                           meta=me.meta, vsn=me.vsn)
        self._broadcast(me.name, wire.encode_gossip(alive))

    def _alive_node(self, alive: wire.Alive, bootstrap: bool = False) -> None:
        vsn = alive.vsn
        if len(vsn) >= 3 and (vsn[0] == 0 or vsn[1] == 0 or vsn[0] > vsn[1]):
            return
        node = self.nodes.get(alive.node)
        updates_address = False
        if node is None:
            node = NodeRecord(name=alive.node, addr=alive.addr, port=alive.port, meta=alive.meta,
                              state=NodeState.DEAD, vsn=vsn or bytes(6))
            self.nodes[alive.node] = node
            self._probe_order.insert(self.rng.randint(0, len(self._probe_order)), alive.node)
        elif (node.addr, node.port) != (alive.addr, alive.port):
            reclaim = self.config.dead_node_reclaim_time
            can_reclaim = reclaim > 0 and self.now - node.state_change > reclaim
            if node.state == NodeState.LEFT or (node.state == NodeState.DEAD and can_reclaim):
                updates_address = True
            else:
                other = NodeRecord(name=alive.node, addr=alive.addr, port=alive.port,
                                   meta=alive.meta, vsn=vsn)
                self.delegate.notify_conflict(node, other)
                return
        is_local = alive.node == self.name
        if alive.incarnation <= node.incarnation and not is_local and not updates_address:
            return
        if alive.incarnation < node.incarnation and is_local:
            return
        self._clear_suspicion(alive.node)
        old_state, old_meta = node.state, node.meta
        if not bootstrap and is_local:
            if (alive.incarnation == node.incarnation and alive.meta == node.meta
                    and alive.vsn == node.vsn):
                return
            self._refute(node, alive.incarnation)
        else:
            self._broadcast(alive.node, wire.encode_gossip(alive))
            if vsn:
                node.vsn = vsn
            node.incarnation = alive.incarnation
            node.meta = alive.meta
            node.addr, node.port = alive.addr, alive.port
            if node.state != NodeState.ALIVE:
                node.state = NodeState.ALIVE
                node.state_change = self.now
        if old_state in (NodeState.DEAD, NodeState.LEFT):
            self.delegate.notify_join(node)
        elif old_meta != node.meta:
            self.delegate.notify_update(node)

    def _suspect_node(self, suspect: wire.Suspect) -> None:
        node = self.nodes.get(suspect.node)
        if node is None or suspect.incarnation < node.incarnation:
            return
        existing = self._suspicions.get(suspect.node)
        if existing is not None:
            suspicion, timer = existing
            if suspicion.confirm(suspect.from_node):
                timer.cancel()
                self._broadcast(suspect.node, wire.encode_gossip(suspect))
                self._schedule_suspicion(suspect.node, suspicion)
            return
        if node.state != NodeState.ALIVE:
            return
        if suspect.node == self.name:
            self._refute(node, suspect.incarnation)
            return
        self._broadcast(suspect.node, wire.encode_gossip(suspect))
        node.incarnation = suspect.incarnation
        node.state = NodeState.SUSPECT
        node.state_change = self.now
        self.stats.suspected[suspect.node] += 1
        cfg = self.config
        # Lifeguard's dynamic timeout: start long, shrink with k independent confirmations.
        k = cfg.suspicion_mult - 2 if cfg.lifeguard else 0
        n = self.estimated_num_nodes()
        if n - 2 < k:
            k = 0
        min_timeout = suspicion_timeout(cfg.suspicion_mult, n, cfg.probe_interval)
        max_timeout = cfg.suspicion_max_timeout_mult * min_timeout
        suspicion = Suspicion(suspect.from_node, k, min_timeout, max_timeout, self.now)
        self._schedule_suspicion(suspect.node, suspicion)

    def _schedule_suspicion(self, name: str, suspicion: Suspicion) -> None:
        change_time = self.nodes[name].state_change

        def expire() -> None:
            self._suspicions.pop(name, None)
            node = self.nodes.get(name)
            if node is not None and node.state == NodeState.SUSPECT \
                    and node.state_change == change_time:
                self._dead_node(wire.Dead(incarnation=node.incarnation, node=name,
                                          from_node=self.name))

        timer = self._timers.schedule(max(self.now, suspicion.deadline()), expire)
        self._suspicions[name] = (suspicion, timer)

    def _clear_suspicion(self, name: str) -> None:
        existing = self._suspicions.pop(name, None)
        if existing is not None:
            existing[1].cancel()

    def _dead_node(self, dead: wire.Dead) -> None:
        node = self.nodes.get(dead.node)
        if node is None or dead.incarnation < node.incarnation:
            return
        self._clear_suspicion(dead.node)
        if node.dead_or_left():
            return
        notify = None
        if dead.node == self.name:
            if not self.leaving:
                self._refute(node, dead.incarnation)
                return
            notify = "leave"
        self._broadcast(dead.node, wire.encode_gossip(dead), notify=notify)
        node.incarnation = dead.incarnation
        node.state = NodeState.LEFT if dead.node == dead.from_node else NodeState.DEAD
        node.state_change = self.now
        if node.state == NodeState.DEAD:
            self.stats.declared_dead[dead.node] += 1
        self.delegate.notify_leave(node)


def _node_state(value: int) -> NodeState:
    try:
        return NodeState(value)
    except ValueError:
        return NodeState.DEAD
