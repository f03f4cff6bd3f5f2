"""serf core in the simulator: members and tags, intents, user events, queries, reaping, snapshot."""

import random

import pytest

from proconsul.gossip import serf_wire as sw
from proconsul.gossip.keyring import Keyring
from proconsul.gossip.memberlist import MemberlistConfig
from proconsul.gossip.serf import (
    LamportClock,
    MemberEvent,
    MemberEventType,
    MemberStatus,
    QueryAck,
    QueryDone,
    QueryEvent,
    QueryParams,
    QueryResponseEvent,
    Serf,
    SerfConfig,
    SerfState,
    UserEvent,
    encode_key_request,
)
from proconsul.gossip.snapshot import SnapshotState, compaction_threshold
from proconsul.gossip.vivaldi import CoordinateClient, distance

from .sim import SimNetwork


class Node:
    """A serf core plus everything it emitted."""

    def __init__(self, serf: Serf) -> None:
        self.serf = serf
        self.events: list = []
        self.snapshot: list[str] = []

    def drain(self) -> None:
        self.events += self.serf.take_events()
        self.snapshot += self.serf.take_snapshot_lines()

    def status(self, other: "Node") -> MemberStatus | None:
        member = self.serf.members.get(other.serf.name)
        return None if member is None else member.status

    def of_type(self, cls):
        return [e for e in self.events if isinstance(e, cls)]


class SerfSim(SimNetwork):
    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.nodes: list[Node] = []

    def pump(self, core) -> None:
        super().pump(core)
        for node in self.nodes:
            node.drain()


def make_cluster(n: int, seed: int = 3, keyring_key: bytes | None = None, **serf_cfg):
    net = SerfSim(seed=seed)
    nodes = []
    for i in range(1, n + 1):
        ml = MemberlistConfig.lan(f"s{i}", bind_addr=f"127.0.0.{i}", bind_port=7946,
                                  keyring=Keyring([keyring_key]) if keyring_key else None)
        cfg = SerfConfig(memberlist=ml, tags={"role": "node", "idx": str(i)}, **serf_cfg)
        node = Node(Serf(cfg, random.Random(seed * 100 + i)))
        net.nodes.append(node)
        nodes.append(node)
        node.serf.start(net.now)
        net.cores[node.serf.address] = node.serf
    for node in nodes[1:]:
        node.serf.join([nodes[0].serf.address], net.now)
        net.pump(node.serf)
    return net, nodes


def all_alive(nodes) -> bool:
    return all(a.status(b) == MemberStatus.ALIVE for a in nodes for b in nodes)


def test_lamport_clock():
    clock = LamportClock()
    assert clock.time() == 0 and clock.increment() == 1
    clock.witness(0)
    assert clock.time() == 1
    clock.witness(1)
    assert clock.time() == 2
    clock.witness(10)
    assert clock.time() == 11


def test_members_join_with_tags_and_join_events():
    net, nodes = make_cluster(3)
    assert net.run_until_true(lambda: all_alive(nodes), 5.0)
    member = nodes[0].serf.members["s3"]
    assert member.tags == {"role": "node", "idx": "3"}
    assert (member.addr, member.port) == ("127.0.0.3", 7946)
    assert (member.delegate_min, member.delegate_max, member.delegate_cur) == (2, 5, 4)
    joined = {m.name for e in nodes[0].of_type(MemberEvent) if e.type == MemberEventType.JOIN
              for m in e.members}
    assert joined == {"s1", "s2", "s3"}
    assert "alive: s2 127.0.0.2:7946" in nodes[0].snapshot


def test_tag_update_produces_update_event():
    net, nodes = make_cluster(2)
    assert net.run_until_true(lambda: all_alive(nodes), 5.0)
    nodes[1].serf.set_tags({"role": "db"}, net.now)
    net.pump(nodes[1].serf)
    assert net.run_until_true(lambda: nodes[0].serf.members["s2"].tags == {"role": "db"}, 5.0)
    assert any(e.type == MemberEventType.UPDATE for e in nodes[0].of_type(MemberEvent))
    with pytest.raises(ValueError):
        nodes[1].serf.set_tags({"big": "x" * 600}, net.now)


def test_user_event_delivered_once_everywhere():
    net, nodes = make_cluster(4)
    assert net.run_until_true(lambda: all_alive(nodes), 5.0)
    nodes[2].serf.user_event("deploy", b"v1", coalesce=False, now=net.now)
    net.pump(nodes[2].serf)
    net.run_for(5.0)
    for node in nodes:
        events = [e for e in node.of_type(UserEvent) if e.name == "deploy"]
        assert [(e.payload, e.ltime, e.coalesce) for e in events] == [(b"v1", 0, False)]
    with pytest.raises(ValueError):
        nodes[0].serf.user_event("big", b"x" * 600, coalesce=False, now=net.now)


def test_late_joiner_gets_old_events_unless_ignore_old():
    net, nodes = make_cluster(2)
    assert net.run_until_true(lambda: all_alive(nodes), 5.0)
    nodes[0].serf.user_event("old", b"1", coalesce=True, now=net.now)
    net.pump(nodes[0].serf)
    net.run_for(2.0)
    for idx, ignore_old in ((3, False), (4, True)):
        ml = MemberlistConfig.lan(f"s{idx}", bind_addr=f"127.0.0.{idx}")
        late = Node(Serf(SerfConfig(memberlist=ml), random.Random(idx)))
        net.nodes.append(late)
        late.serf.start(net.now)
        net.cores[late.serf.address] = late.serf
        late.serf.join([nodes[0].serf.address], net.now, ignore_old=ignore_old)
        net.pump(late.serf)
        net.run_for(2.0)
        got = [e.name for e in late.of_type(UserEvent)]
        assert got == ([] if ignore_old else ["old"])


def test_query_with_ack_responses_and_done():
    net, nodes = make_cluster(3)
    assert net.run_until_true(lambda: all_alive(nodes), 5.0)
    qid = nodes[0].serf.query("who", b"?", QueryParams(request_ack=True, timeout=3.0), net.now)
    net.pump(nodes[0].serf)
    assert net.run_until_true(lambda: all(n.of_type(QueryEvent) for n in nodes), 2.0)
    for node in nodes:
        (query,) = node.of_type(QueryEvent)
        assert (query.name, query.payload, query.source_node) == ("who", b"?", "s1")
        node.serf.respond(query, node.serf.name.encode(), net.now)
        with pytest.raises(ValueError):
            node.serf.respond(query, b"again", net.now)
        net.pump(node.serf)
    net.run_for(4.0)
    acks = {e.from_node for e in nodes[0].of_type(QueryAck) if e.query_id == qid}
    responses = {(e.from_node, e.payload) for e in nodes[0].of_type(QueryResponseEvent)}
    assert acks == {"s1", "s2", "s3"}
    assert responses == {("s1", b"s1"), ("s2", b"s2"), ("s3", b"s3")}
    assert nodes[0].of_type(QueryDone) == [QueryDone(qid)]
    late = nodes[1].of_type(QueryEvent)[0]
    with pytest.raises(ValueError):
        Serf.respond(nodes[2].serf, late, b"late", net.now + 10)


@pytest.mark.parametrize(("params", "expected"), [
    (QueryParams(filter_nodes=["s2"]), {"s2"}),
    (QueryParams(filter_tags={"idx": "^[23]$"}), {"s2", "s3"}),
    (QueryParams(filter_tags={"idx": "1", "role": "nomatch"}), set()),
])
def test_query_filters(params, expected):
    net, nodes = make_cluster(3)
    assert net.run_until_true(lambda: all_alive(nodes), 5.0)
    nodes[0].serf.query("f", b"", params, net.now)
    net.pump(nodes[0].serf)
    net.run_for(3.0)
    assert {n.serf.name for n in nodes if n.of_type(QueryEvent)} == expected


def test_query_relay_factor_sends_relayed_copies():
    net, nodes = make_cluster(3)
    assert net.run_until_true(lambda: all_alive(nodes), 5.0)
    nodes[0].serf.query("r", b"", QueryParams(relay_factor=2, timeout=3.0), net.now)
    net.pump(nodes[0].serf)
    net.run_for(1.0)
    (query,) = nodes[1].of_type(QueryEvent)
    nodes[1].serf.respond(query, b"ok", net.now)
    sent = nodes[1].serf.take_actions()
    assert len(sent) == 3  # one direct, two relays
    for action in sent:
        net._at(net.now, net._packet(nodes[1].serf.address, action))
    net.run_for(1.0)
    assert [e.from_node for e in nodes[0].of_type(QueryResponseEvent)] == ["s2"]


def test_failed_then_reaped_and_leave_then_left():
    net, nodes = make_cluster(3, reconnect_timeout=20.0, tombstone_timeout=30.0,
                              reap_interval=5.0)
    assert net.run_until_true(lambda: all_alive(nodes), 5.0)
    nodes[1].serf.leave(net.now)
    net.pump(nodes[1].serf)
    assert net.run_until_true(lambda: nodes[1].serf.state == SerfState.LEFT, 10.0)
    assert net.run_until_true(lambda: nodes[0].status(nodes[1]) == MemberStatus.LEFT, 5.0)
    assert "leave" in nodes[1].snapshot
    net.kill(nodes[2].serf)
    assert net.run_until_true(lambda: nodes[0].status(nodes[2]) == MemberStatus.FAILED, 15.0)
    types = [e.type for e in nodes[0].of_type(MemberEvent)]
    assert MemberEventType.LEAVE in types and MemberEventType.FAILED in types
    assert net.run_until_true(lambda: "s3" not in nodes[0].serf.members, 40.0)
    assert net.run_until_true(lambda: "s2" not in nodes[0].serf.members, 40.0)
    reaped = [m.name for e in nodes[0].of_type(MemberEvent) if e.type == MemberEventType.REAP
              for m in e.members]
    assert reaped == ["s3", "s2"]


def test_force_leave_turns_failed_into_left():
    net, nodes = make_cluster(3)
    assert net.run_until_true(lambda: all_alive(nodes), 5.0)
    net.kill(nodes[2].serf)
    assert net.run_until_true(lambda: nodes[0].status(nodes[2]) == MemberStatus.FAILED, 15.0)
    nodes[0].serf.remove_failed_node("s3", net.now)
    net.pump(nodes[0].serf)
    assert net.run_until_true(lambda: nodes[1].status(nodes[2]) == MemberStatus.LEFT, 5.0)


def test_stale_leave_intent_about_ourselves_is_refuted():
    net, nodes = make_cluster(2)
    assert net.run_until_true(lambda: all_alive(nodes), 5.0)
    me = nodes[1].serf
    fake = sw.encode_serf(sw.LeaveIntent(ltime=me.clock.time() + 5, node="s2"))
    nodes[0].serf.notify_msg(fake)
    nodes[0].serf.intent_broadcasts.queue(fake)
    net.run_for(5.0)
    assert all_alive(nodes) and me.state == SerfState.ALIVE
    assert nodes[0].serf.members["s2"].status_ltime > me.clock.time() - 1 - 5


def test_internal_ping_and_key_queries():
    key = bytes(range(16))
    new_key = bytes([7]) * 16
    net, nodes = make_cluster(2, keyring_key=key)
    assert net.run_until_true(lambda: all_alive(nodes), 5.0)
    nodes[0].serf.query("_serf_ping", b"", QueryParams(timeout=2.0, request_ack=True), net.now)
    net.pump(nodes[0].serf)
    net.run_for(2.5)
    assert {a.from_node for a in nodes[0].of_type(QueryAck)} == {"s1", "s2"}
    assert not nodes[0].of_type(QueryResponseEvent)  # ping is answered by the ack alone
    for name, payload in (("_serf_install-key", encode_key_request(new_key)),
                          ("_serf_list-keys", encode_key_request(b""))):
        nodes[0].events.clear()
        nodes[0].serf.query(name, payload, QueryParams(timeout=2.0), net.now)
        net.pump(nodes[0].serf)
        net.run_for(2.5)
        responses = nodes[0].of_type(QueryResponseEvent)
        assert {r.from_node for r in responses} == {"s1", "s2"}
        assert not nodes[1].of_type(QueryEvent)  # internal queries are not surfaced
    _, resp = sw.decode_serf(responses[0].payload)
    assert resp.result and len(resp.keys) == 2
    assert nodes[1].serf.config.memberlist.keyring.keys == [key, new_key]


def test_snapshot_parse_compact_and_restore():
    text = "\n".join([
        "# comment", "alive: a 10.0.0.1:7946", "alive: b 10.0.0.2:7946", "clock: 5",
        "event-clock: 7", "query-clock: 2", "not-alive: b", "coordinate: ignored", "alive: bad",
    ])
    state = SnapshotState.parse(text)
    assert state.alive == {"a": ("10.0.0.1", 7946)}
    assert (state.clock, state.event_clock, state.query_clock) == (5, 7, 2)
    assert SnapshotState.parse("\n".join(state.compacted_lines())) == state
    assert SnapshotState.parse(text + "\nleave").alive == {}
    assert SnapshotState.parse(text + "\nleave", rejoin_after_leave=True).alive == state.alive
    assert compaction_threshold(10) == 128 * 1024 and compaction_threshold(1000) == 256000
    serf = Serf(SerfConfig(memberlist=MemberlistConfig.lan("z")), snapshot=state)
    assert (serf.clock.time(), serf.event_clock.time(), serf.query_clock.time()) == (6, 8, 3)
    assert serf.rejoin_addresses == [("10.0.0.1", 7946)]
    assert not serf._handle_user_event(sw.UserEventMessage(ltime=7, name="old"))
    assert serf._handle_user_event(sw.UserEventMessage(ltime=8, name="new"))


def test_coordinates_converge_on_simulated_rtt():
    net, nodes = make_cluster(3)
    assert net.run_until_true(lambda: all_alive(nodes), 5.0)
    net.run_for(60.0)
    a, b = nodes[0].serf.coordinates.coordinate, nodes[1].serf.coordinates.coordinate
    rtt = 2 * net.latency
    assert abs(distance(a, b) - rtt) < rtt
    assert "s2" in nodes[0].serf.coordinate_cache


def test_vivaldi_client_rejects_bad_samples_and_learns_distance():
    client = CoordinateClient()
    assert not client.update("x", sw.Coordinate(vec=[0.0] * 3), 0.01)
    assert not client.update("x", sw.Coordinate(), 11.0)
    other = CoordinateClient(random.Random(1))
    for _ in range(200):
        client.update("b", other.coordinate, 0.05)
        other.update("a", client.coordinate, 0.05)
    assert abs(distance(client.coordinate, other.coordinate) - 0.05) < 0.01


def test_tags_meta_encoding_golden():
    assert sw.encode_tags({}) == b"\xff\x80"
    assert sw.encode_tags({"role": "x"}) == b"\xff\x81\xa4role\xa1x"
    assert sw.decode_tags(b"\xff\x81\xa4role\xa1x") == {"role": "x"}
    assert sw.decode_tags(b"consul") == {"role": "consul"}


def test_serf_message_roundtrip_and_relay():
    q = sw.Query(ltime=3, id=99, addr="127.0.0.1", port=7946, source_node="a",
                 filters=[sw.encode_node_filter(["a"])], flags=1, relay_factor=2,
                 timeout=5_000_000_000, name="n", payload=b"p")
    assert sw.decode_serf(sw.encode_serf(q)) == (sw.SerfMessageType.QUERY, q)
    relay = sw.encode_relay(("10.0.0.1", 8000), "a", b"\x05inner")
    header, inner = sw.decode_relay(relay)
    assert (header.dest_addr.ip, header.dest_addr.port, inner) == ("10.0.0.1", 8000, b"\x05inner")


def test_reconnector_heals_a_partition():
    net, nodes = make_cluster(3, reconnect_interval=5.0)
    assert net.run_until_true(lambda: all_alive(nodes), 5.0)
    for other in nodes[:2]:
        net.cut_link(other.serf, nodes[2].serf)
    assert net.run_until_true(lambda: nodes[0].status(nodes[2]) == MemberStatus.FAILED
                              and nodes[2].status(nodes[0]) == MemberStatus.FAILED, 20.0)
    net.run_for(40.0)  # long enough for memberlist to forget the dead nodes entirely
    assert "s3" not in nodes[0].serf.memberlist.nodes
    net.cut.clear()
    assert net.run_until_true(lambda: all_alive(nodes), 60.0)
