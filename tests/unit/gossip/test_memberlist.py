"""memberlist core in the simulator: join, failure detection, Lifeguard, leave, merge rules."""

import random

import pytest

from proconsul.gossip import wire
from proconsul.gossip.broadcast import BroadcastQueue, retransmit_limit
from proconsul.gossip.keyring import Keyring
from proconsul.gossip.memberlist import (
    Delegate,
    Memberlist,
    MemberlistConfig,
    NodeRecord,
    SendPacket,
    StreamRequest,
)
from proconsul.gossip.suspicion import Awareness, Suspicion, suspicion_timeout
from proconsul.gossip.wire import NodeState

from .sim import SimNetwork


class Recorder(Delegate):
    def __init__(self, meta: bytes = b"") -> None:
        self.meta = meta
        self.events: list[tuple[str, str, NodeState]] = []
        self.conflicts: list[tuple[str, str]] = []
        self.messages: list[bytes] = []

    def node_meta(self, limit):
        return self.meta

    def notify_join(self, node):
        self.events.append(("join", node.name, node.state))

    def notify_leave(self, node):
        self.events.append(("leave", node.name, node.state))

    def notify_update(self, node):
        self.events.append(("update", node.name, node.state))

    def notify_conflict(self, existing, other):
        self.conflicts.append((existing.addr, other.addr))

    def notify_msg(self, message):
        self.messages.append(message)


def make(net: SimNetwork, i: int, **cfg) -> Memberlist:
    config = MemberlistConfig.lan(f"node{i}", bind_addr=f"127.0.0.{i}", bind_port=7946, **cfg)
    return net.add(Memberlist(config, Recorder(), random.Random(i)))


def cluster(n: int, seed: int = 1, loss: float = 0.0, **cfg) -> tuple[SimNetwork, list[Memberlist]]:
    net = SimNetwork(seed=seed, loss=loss)
    nodes = [make(net, i + 1, **cfg) for i in range(n)]
    for node in nodes[1:]:
        node.join([nodes[0].address], net.now)
        net.pump(node)
    return net, nodes


def state_of(observer: Memberlist, target: Memberlist) -> NodeState | None:
    node = observer.nodes.get(target.name)
    return None if node is None else node.state


def all_alive(nodes) -> bool:
    return all(state_of(a, b) == NodeState.ALIVE for a in nodes for b in nodes)


def test_default_configs_match_memberlist():
    lan, wan, local = (MemberlistConfig.lan("a"), MemberlistConfig.wan("a"),
                       MemberlistConfig.local("a"))
    assert (lan.probe_interval, lan.probe_timeout, lan.suspicion_mult, lan.gossip_nodes) == \
        (1.0, 0.5, 4, 3)
    assert (wan.probe_interval, wan.probe_timeout, wan.suspicion_mult, wan.gossip_nodes,
            wan.tcp_timeout, wan.push_pull_interval) == (5.0, 3.0, 6, 4, 30.0, 60.0)
    assert (local.indirect_checks, local.retransmit_mult, local.probe_timeout,
            local.gossip_interval) == (1, 2, 0.2, 0.1)
    assert lan.vsn() == bytes([1, 5, 2, 0, 0, 0])


def test_three_nodes_join_and_converge():
    net, nodes = cluster(3)
    assert net.run_until_true(lambda: all_alive(nodes), 5.0)
    joins = {(e[0], e[1]) for e in nodes[0].delegate.events}
    assert {("join", "node2"), ("join", "node3")} <= joins


def test_killed_node_is_suspected_then_dead_within_lifeguard_bounds():
    net, nodes = cluster(3)
    assert net.run_until_true(lambda: all_alive(nodes), 5.0)
    victim = nodes[2]
    net.kill(victim)
    killed_at = net.now
    assert net.run_until_true(lambda: state_of(nodes[0], victim) == NodeState.SUSPECT, 5.0)
    assert net.run_until_true(
        lambda: all(state_of(n, victim) == NodeState.DEAD for n in nodes[:2]), 15.0)
    # n=3 → k=0, timeout = SuspicionMult × 1 × ProbeInterval = 4 s, plus at most a few probe rounds.
    assert net.now - killed_at >= 4.0
    assert net.now - killed_at < 4.0 + 5 * 1.0


def test_graceful_leave_is_left_not_dead():
    net, nodes = cluster(3)
    assert net.run_until_true(lambda: all_alive(nodes), 5.0)
    nodes[1].leave(net.now)
    net.pump(nodes[1])
    assert net.run_until_true(lambda: nodes[1].leave_broadcast_done, 5.0)
    assert net.run_until_true(
        lambda: state_of(nodes[0], nodes[1]) == state_of(nodes[2], nodes[1]) == NodeState.LEFT, 5.0)
    assert ("leave", "node2", NodeState.LEFT) in nodes[0].delegate.events


def test_false_suspicion_is_refuted_with_higher_incarnation():
    net, nodes = cluster(3)
    assert net.run_until_true(lambda: all_alive(nodes), 5.0)
    target = nodes[2]
    before = target.local_node().incarnation
    suspect = wire.encode_message(wire.Suspect(incarnation=before, node=target.name,
                                               from_node="node1"))
    target.handle_packet(suspect, nodes[0].address, net.now)
    net.pump(target)
    assert target.local_node().incarnation > before
    assert target.awareness.score == 1
    net.run_for(10.0)
    assert all(state_of(n, target) == NodeState.ALIVE for n in nodes)


def test_indirect_probe_keeps_node_alive_across_a_cut_link():
    net, nodes = cluster(3, disable_tcp_pings=True)
    assert net.run_until_true(lambda: all_alive(nodes), 5.0)
    net.cut_link(nodes[0], nodes[2])
    net.run_for(30.0)
    assert all_alive(nodes)
    # Never even suspected: a refutation would have raised node3's incarnation.
    assert nodes[2].local_node().incarnation == 1
    assert nodes[0].awareness.score == 0


def test_without_indirect_probes_a_cut_link_causes_suspicion_and_refutation():
    net, nodes = cluster(3, disable_tcp_pings=True, indirect_checks=0)
    assert net.run_until_true(lambda: all_alive(nodes), 5.0)
    net.cut_link(nodes[0], nodes[2])
    net.run_for(30.0)
    assert nodes[2].local_node().incarnation > 1


def test_nack_missing_raises_awareness():
    net, nodes = cluster(3, disable_tcp_pings=True)
    assert net.run_until_true(lambda: all_alive(nodes), 5.0)
    net.kill(nodes[1])
    net.kill(nodes[2])  # no relay can nack: node1 blames itself a little
    assert net.run_until_true(lambda: nodes[0].awareness.score >= 1, 10.0)


def test_larger_cluster_with_loss_has_no_false_deaths():
    net, nodes = cluster(12, seed=7, loss=0.05)
    assert net.run_until_true(lambda: all_alive(nodes), 30.0)
    net.run_for(40.0)
    assert all(state_of(a, b) != NodeState.DEAD for a in nodes for b in nodes)
    net.kill(nodes[5])
    assert net.run_until_true(
        lambda: all(state_of(n, nodes[5]) in (NodeState.DEAD, None)
                    for n in nodes if n is not nodes[5]), 60.0)


def test_encrypted_cluster_and_wrong_key_isolation():
    key = bytes(range(16))
    net = SimNetwork()
    a = net.add(Memberlist(MemberlistConfig.lan("a", bind_addr="10.0.0.1",
                                                keyring=Keyring([key])), Recorder()))
    b = net.add(Memberlist(MemberlistConfig.lan("b", bind_addr="10.0.0.2",
                                                keyring=Keyring([key])), Recorder()))
    c = net.add(Memberlist(MemberlistConfig.lan("c", bind_addr="10.0.0.3",
                                                keyring=Keyring([bytes(16)])), Recorder()))
    b.join([a.address], net.now)
    c.join([a.address], net.now)
    net.pump(b)
    net.pump(c)
    assert net.run_until_true(lambda: all_alive([a, b]), 5.0)
    net.run_for(3.0)
    assert "c" not in a.nodes and a.stats.streams_rejected >= 1


def test_meta_update_and_size_limit():
    net, nodes = cluster(2)
    assert net.run_until_true(lambda: all_alive(nodes), 5.0)
    nodes[1].delegate.meta = b"role=x"
    nodes[1].update_node(net.now)
    net.pump(nodes[1])
    assert net.run_until_true(lambda: nodes[0].nodes["node2"].meta == b"role=x", 5.0)
    assert ("update", "node2", NodeState.ALIVE) in nodes[0].delegate.events
    nodes[1].delegate.meta = b"x" * 513
    with pytest.raises(ValueError):
        nodes[1].update_node(net.now)


def alive_for(name, addr, inc, vsn=bytes([1, 5, 2, 0, 0, 0])):
    return wire.encode_message(wire.Alive(incarnation=inc, node=name, addr=addr, port=7946,
                                          vsn=vsn))


def test_conflicting_address_and_dead_node_reclaim():
    net = SimNetwork()
    core = make(net, 1, dead_node_reclaim_time=10.0)
    core.handle_packet(alive_for("x", "10.0.0.9", 1), ("10.0.0.9", 7946), 0.0)
    core.handle_packet(alive_for("x", "10.0.0.10", 5), ("10.0.0.10", 7946), 0.1)
    assert core.nodes["x"].addr == "10.0.0.9"
    assert core.delegate.conflicts == [("10.0.0.9", "10.0.0.10")]
    dead = wire.encode_message(wire.Dead(incarnation=1, node="x", from_node="node1"))
    core.handle_packet(dead, ("10.0.0.9", 7946), 1.0)
    core.handle_packet(alive_for("x", "10.0.0.10", 1), ("10.0.0.10", 7946), 5.0)
    assert core.nodes["x"].state == NodeState.DEAD  # too early to reclaim
    core.handle_packet(alive_for("x", "10.0.0.10", 1), ("10.0.0.10", 7946), 12.0)
    assert core.nodes["x"].addr == "10.0.0.10" and core.nodes["x"].state == NodeState.ALIVE


def test_alive_with_bad_version_range_and_stale_incarnation_ignored():
    net = SimNetwork()
    core = make(net, 1)
    core.handle_packet(alive_for("y", "10.0.0.9", 1, vsn=bytes([3, 2, 2, 0, 0, 0])),
                       ("10.0.0.9", 7946), 0.0)
    assert "y" not in core.nodes
    core.handle_packet(alive_for("y", "10.0.0.9", 4), ("10.0.0.9", 7946), 0.0)
    core.handle_packet(wire.encode_message(wire.Suspect(incarnation=3, node="y", from_node="z")),
                       ("10.0.0.9", 7946), 0.0)
    assert core.nodes["y"].state == NodeState.ALIVE


def test_push_pull_with_incompatible_protocol_is_refused():
    net = SimNetwork()
    core = make(net, 1)
    node = wire.PushNodeState(name="old", addr="10.0.0.5", port=7946, incarnation=1,
                              state=NodeState.ALIVE, vsn=bytes([1, 1, 1, 0, 0, 0]))
    data = core.codec.encode_stream(wire.encode_push_pull(wire.PushPull(join=True, nodes=[node])))
    reply = core.handle_stream(data, ("10.0.0.5", 7946), 0.0)
    assert reply is not None and "old" not in core.nodes and core.stats.streams_rejected == 1


def test_merge_treats_remote_dead_as_suspect():
    net = SimNetwork()
    core = make(net, 1)
    core.handle_packet(alive_for("z", "10.0.0.7", 2), ("10.0.0.7", 7946), 0.0)
    node = wire.PushNodeState(name="z", addr="10.0.0.7", port=7946, incarnation=2,
                              state=NodeState.DEAD, vsn=bytes([1, 5, 2, 0, 0, 0]))
    data = core.codec.encode_stream(wire.encode_push_pull(wire.PushPull(join=False, nodes=[node])))
    core.handle_stream(data, ("10.0.0.7", 7946), 0.0)
    assert core.nodes["z"].state == NodeState.SUSPECT


def test_ping_reply_goes_to_source_address_with_piggyback():
    net = SimNetwork()
    core = make(net, 1)
    core.take_actions()
    core.handle_packet(alive_for("w", "10.0.0.8", 1), ("10.0.0.8", 7946), 0.0)
    ping = wire.encode_message(wire.Ping(seq_no=42, node="node1", source_addr="10.0.0.8",
                                         source_port=9000, source_node="w"))
    core.handle_packet(ping, ("1.2.3.4", 1), 0.0)
    (sent,) = [a for a in core.take_actions() if isinstance(a, SendPacket)]
    assert sent.addr == ("10.0.0.8", 9000)
    leaves, _ = wire.unwrap_packet(core.codec.decode_packet(sent.data))
    assert wire.decode_message(leaves[0]) == (wire.MessageType.ACK, wire.Ack(seq_no=42))
    assert any(leaf[0] == wire.MessageType.ALIVE for leaf in leaves[1:])
    core.handle_packet(wire.encode_message(wire.Ping(seq_no=1, node="other")), ("1.2.3.4", 1), 0)
    assert core.take_actions() == []


# ----------------------------------------------------------- pure helpers


def test_suspicion_timeout_shrinks_with_confirmations():
    assert suspicion_timeout(4, 1, 1.0) == 4.0
    assert suspicion_timeout(4, 100, 1.0) == 8.0
    s = Suspicion("a", k=3, min_timeout=2.0, max_timeout=12.0, start=0.0)
    assert s.timeout() == 12.0
    assert s.confirm("b") and not s.confirm("b") and not s.confirm("a")
    t1 = s.timeout()
    assert s.confirm("c")
    t2 = s.timeout()
    assert s.confirm("d") and not s.confirm("e")
    assert 12.0 > t1 > t2 > s.timeout() == 2.0
    assert Suspicion("a", k=0, min_timeout=2.0, max_timeout=12.0, start=1.0).deadline() == 3.0


def test_awareness_bounds_and_scale():
    aw = Awareness(8)
    aw.apply_delta(-1)
    assert aw.score == 0 and aw.scale(1.0) == 1.0
    aw.apply_delta(100)
    assert aw.score == 7 and aw.scale(0.5) == 4.0


def test_broadcast_queue_limits_and_invalidation():
    assert retransmit_limit(4, 1) == 4 and retransmit_limit(4, 10) == 8
    q = BroadcastQueue(2, lambda: 5)  # limit 2 × ceil(log10 6) = 2
    q.queue(b"a" * 10, name="n1", notify="first")
    q.queue(b"b" * 10, name="n1")
    assert q.take_finished() == ["first"] and len(q) == 1
    q.queue(b"c" * 30)
    assert q.get(2, 100) == [b"c" * 30, b"b" * 10]
    assert q.get(2, 20) == [b"b" * 10]  # c does not fit
    assert len(q) == 1
    assert q.get(2, 100) == [b"c" * 30] and len(q) == 0


def test_node_record_defaults():
    node = NodeRecord(name="a", addr="1.2.3.4", port=1)
    assert node.dead_or_left() and node.protocol_max == 0


def test_tcp_fallback_ping_and_unknown_stream_type():
    net = SimNetwork()
    core = make(net, 1)
    ping = core.codec.encode_stream(wire.encode_message(wire.Ping(seq_no=9, node="node1")))
    reply = core.handle_stream(ping, ("10.0.0.9", 1), 0.0)
    assert core.codec.decode_stream(reply) == (wire.MessageType.ACK, wire.Ack(seq_no=9))
    bad = core.codec.encode_stream(wire.encode_message(wire.Nack(seq_no=1)))
    msg_type, body = core.codec.decode_stream(core.handle_stream(bad, ("10.0.0.9", 1), 0.0))
    assert msg_type == wire.MessageType.ERROR and "invalid msgType" in body.error


def test_tick_held_by_a_failing_probe_starts_the_next_probe_at_once():
    # Go's probe ticker keeps one tick while probe() blocks: failed probes run back to back.
    cfg = MemberlistConfig.lan("a", bind_addr="10.0.0.1", lifeguard=False, indirect_checks=0,
                               disable_tcp_pings=True, suspicion_mult=100)
    core = Memberlist(cfg, rng=random.Random(1))
    core.start(0.0)
    for i in (2, 3):
        alive = wire.Alive(incarnation=1, node=f"n{i}", addr=f"10.0.0.{i}", port=7946,
                           meta=b"", vsn=cfg.vsn())
        core.handle_packet(wire.encode_message(alive), ("10.0.0.9", 7946), 0.0)
    pings = []
    for step in range(1, 1001):
        core.tick(step / 100)
        for action in core.take_actions():
            leaves, _ = wire.unwrap_packet(core.codec.decode_packet(action.data))
            if any(leaf[0] == wire.MessageType.PING for leaf in leaves):
                pings.append(step / 100)
    gaps = [b - a for a, b in zip(pings, pings[1:], strict=False)]
    assert len(pings) >= 9 and max(gaps) < 1.02  # one tick step of slack


def _update_spread_time(eager: bool) -> float:
    net, nodes = cluster(20, eager_gossip=eager)
    assert net.run_until_true(lambda: all_alive(nodes), 30.0)
    net.run_for(5.0)  # let the join broadcasts run out
    nodes[0].delegate.meta = b"v2"
    start = net.now
    nodes[0].update_node(net.now)
    net.pump(nodes[0])
    assert net.run_until_true(
        lambda: all(n.nodes["node1"].meta == b"v2" for n in nodes[1:]), 10.0, step=0.002)
    return net.now - start


def test_eager_gossip_spreads_a_new_broadcast_without_waiting_for_ticks():
    # With 2 ms links, ticks (200 ms, random phase) set the spread time without it.
    eager, ticked = _update_spread_time(True), _update_spread_time(False)
    assert eager < 0.15 < ticked


def _probing_core(**cfg) -> tuple[Memberlist, tuple[str, int]]:
    """A core that knows one peer, n2, and has just sent it a probe ping."""
    config = MemberlistConfig.lan("a", bind_addr="10.0.0.1", **cfg)
    core = Memberlist(config, rng=random.Random(1))
    core.start(0.0)
    alive = wire.Alive(incarnation=1, node="n2", addr="10.0.0.2", port=7946, meta=b"",
                       vsn=config.vsn())
    core.handle_packet(wire.encode_message(alive), ("10.0.0.2", 7946), 0.0)
    core.tick(config.probe_interval)
    assert core._probe is not None and core._probe.node == "n2"
    core.take_actions()
    return core, ("10.0.0.2", 7946)


def test_port_unreachable_fails_the_probe_at_once_without_charging_awareness():
    core, n2 = _probing_core()
    core.handle_unreachable(("10.0.0.3", 7946), 1.01)  # someone else: ignored
    core.handle_unreachable(("10.0.0.2", 7947), 1.01)
    assert core.nodes["n2"].state == NodeState.ALIVE
    core.handle_unreachable(n2, 1.01)
    assert core.nodes["n2"].state == NodeState.SUSPECT
    assert core.stats.probes_unreachable == 1
    assert core.awareness.score == 0 and core._probe is None
    core.handle_unreachable(n2, 1.02)  # no probe running: nothing more
    assert core.stats.probes_unreachable == 1


def test_port_unreachable_is_ignored_when_switched_off():
    core, n2 = _probing_core(unreachable_fails_probe=False)
    core.handle_unreachable(n2, 1.01)
    assert core.nodes["n2"].state == NodeState.ALIVE and core._probe is not None
    core.tick(2.0)  # the probe interval ends unanswered: the usual failure
    assert core.nodes["n2"].state == NodeState.SUSPECT and core.awareness.score == 1


def test_refused_tcp_fallback_ping_fails_the_probe():
    core, _ = _probing_core()
    core.tick(1.0 + core.config.probe_timeout)  # the direct ping timed out
    stream = next(a for a in core.take_actions() if isinstance(a, StreamRequest))
    core.stream_failed(stream.request_id, 1.6)  # a timeout says nothing definite
    assert core.nodes["n2"].state == NodeState.ALIVE
    core, _ = _probing_core()
    core.tick(1.0 + core.config.probe_timeout)
    stream = next(a for a in core.take_actions() if isinstance(a, StreamRequest))
    core.stream_failed(stream.request_id, 1.6, refused=True)
    assert core.nodes["n2"].state == NodeState.SUSPECT and core.awareness.score == 0


def _suspected_after(host_up: bool) -> float:
    net, nodes = cluster(5, disable_tcp_pings=True)
    assert net.run_until_true(lambda: all_alive(nodes), 5.0)
    net.run_for(0.37)
    victim = nodes[4]
    net.kill(victim, host_up=host_up)
    killed_at = net.now
    assert net.run_until_true(
        lambda: any(state_of(n, victim) != NodeState.ALIVE for n in nodes[:4]), 10.0, step=0.001)
    return net.now - killed_at


def test_crashed_process_on_a_live_host_is_suspected_a_probe_interval_sooner():
    # Same seed, same schedule: with port-unreachable reports the first probe of the
    # victim fails on the spot instead of at the end of its probe interval.
    crashed, host_down = _suspected_after(True), _suspected_after(False)
    assert crashed <= host_down - 0.9
