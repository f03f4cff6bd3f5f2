"""Targeted tests of the sans-IO Raft core, one feature at a time."""

from __future__ import annotations

import random

import msgspec
import pytest

from proconsul.raft.config import Configuration, RaftConfig, Server, Suffrage
from proconsul.raft.core import (
    ConfigurationChangeInProgressError,
    LeadershipTransferInProgressError,
    RaftCore,
    Role,
)
from proconsul.raft.interface import NotLeaderError
from proconsul.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Entry,
    EntryType,
    HardState,
    InstallSnapshot,
    RequestVote,
    RequestVoteResponse,
    TimeoutNow,
    decode_message,
    encode_message,
)
from tests.unit.raft.harness import FAST, Net


def test_single_voter_elects_itself_and_commits_at_once() -> None:
    net = Net(1)
    net.elect()
    index = net.propose(b"x")
    assert net.cores["n0"].commit_index == index
    assert net.commands("n0") == [b"x"]


def _lone_voter(**stored: object) -> RaftCore:
    return RaftCore("a", "a", FAST, random.Random(1), now=100.0, **stored)


def test_a_restarted_lone_voter_leads_at_its_first_tick_without_an_election_timeout() -> None:
    configuration = Configuration((Server("a", "a"),))
    entries = [Entry(1, 1, EntryType.CONFIGURATION, configuration.encode()),
               Entry(2, 1, EntryType.COMMAND, b"x")]
    core = _lone_voter(hard_state=HardState(1, None), entries=entries)
    assert core.next_deadline() == 100.0  # not 100 + heartbeat_timeout * (1 + random)
    core.tick(100.0)  # the clock has not moved since the restart
    ready = core.ready()
    assert core.role is Role.LEADER and core.term == 2
    assert ready.soft_state is not None and ready.soft_state.role is Role.LEADER
    assert ready.hard_state == HardState(2, "a")
    assert [(e.index, e.type) for e in ready.entries] == [(3, EntryType.NOOP)]
    assert not ready.messages  # no votes to ask for
    # The noop commits as soon as it is stored, and with it the entry from before the crash.
    assert [e.index for e in ready.committed] == [1, 2, 3]


def test_a_bootstrapped_lone_voter_leads_at_its_next_tick() -> None:
    core = _lone_voter()
    assert core.next_deadline() > 100.0  # no configuration yet: not a voter, no hurry
    core.bootstrap(Configuration((Server("a", "a"),)))
    core.tick(100.0)
    assert core.role is Role.LEADER


def test_a_voter_with_peers_still_waits_out_the_election_timeout() -> None:
    configuration = Configuration((Server("a", "a"), Server("b", "b")))
    entries = [Entry(1, 1, EntryType.CONFIGURATION, configuration.encode())]
    core = _lone_voter(hard_state=HardState(1, None), entries=entries)
    assert core.next_deadline() >= 100.0 + FAST.heartbeat_timeout
    core.tick(100.0)
    assert core.role is Role.FOLLOWER and not core.ready().messages


def test_the_voter_left_alone_by_a_removal_takes_over_at_once() -> None:
    net = Net(2)
    leader = net.elect()
    other = next(i for i in net.cores if i != leader)
    net.advance(0.2)
    net.cores[leader].remove_server(leader)
    net.pump()
    net.advance(0.02)  # one tick, far below any timeout
    assert net.leader() == other


def test_leader_appends_a_noop_when_elected() -> None:
    net = Net(3)
    leader = net.elect()
    core = net.cores[leader]
    entry = core.log.entry(core.log.last_index)
    assert (entry.type, entry.term) == (EntryType.NOOP, core.term)
    net.advance(0.2)
    assert all(c.commit_index == entry.index for c in net.cores.values())


def test_three_voters_replicate_and_apply_in_order() -> None:
    net = Net(3)
    net.elect()
    for i in range(10):
        net.propose(b"c%d" % i)
    net.advance(0.2)
    expected = [b"c%d" % i for i in range(10)]
    assert all(net.commands(i) == expected for i in net.cores)


def test_followers_learn_a_new_commit_index_without_waiting_for_a_heartbeat() -> None:
    net = Net(3)
    net.elect()
    net.advance(0.2)
    index = net.propose(b"x")  # delivers messages, lets no time pass
    assert all(core.commit_index == index for core in net.cores.values())
    assert all(net.commands(i) == [b"x"] for i in net.cores)
    net.sent.clear()
    net.pump()
    assert not net.sent  # told once


def test_followers_refuse_proposals_and_name_the_leader() -> None:
    net = Net(3)
    leader = net.elect()
    follower = next(i for i in net.cores if i != leader)
    with pytest.raises(NotLeaderError) as raised:
        net.cores[follower].propose(b"x")
    assert raised.value.leader_address == leader


def test_appends_are_batched_by_max_append_entries() -> None:
    net = Net(3, config=msgspec.structs.replace(FAST, max_append_entries=4))
    leader = net.elect()
    net.advance(0.2)
    core = net.cores[leader]
    for i in range(10):
        core.propose(b"c%d" % i)
    net.sent.clear()
    net.pump()
    appends = [m for m in net.sent if isinstance(m, AppendEntries) and m.entries]
    assert max(len(m.entries) for m in appends) == 4
    assert sum(len(m.entries) for m in appends) == 20  # 10 entries to each of 2 followers


def test_pipelining_respects_the_inflight_limit() -> None:
    config = msgspec.structs.replace(FAST, max_append_entries=1, max_inflight_appends=3)
    net = Net(2, config=config)
    leader = net.elect()
    net.advance(0.2)
    follower = next(i for i in net.cores if i != leader)
    net.cut.add(follower)  # answers never come back
    core = net.cores[leader]
    for i in range(10):
        core.propose(b"c%d" % i)
    net.sent.clear()
    net.pump()
    assert len([m for m in net.sent if isinstance(m, AppendEntries)]) == 3
    assert not core.has_ready()  # a full window is nothing to do, not a busy loop


def test_pre_vote_keeps_a_partitioned_node_from_inflating_its_term() -> None:
    net = Net(3)
    leader = net.elect()
    term = net.cores[leader].term
    follower = next(i for i in net.cores if i != leader)
    net.cut.add(follower)
    net.advance(10.0)
    assert net.cores[follower].term == term
    net.cut.clear()
    net.advance(1.0)
    assert net.leader() == leader and net.cores[leader].term == term


def test_without_pre_vote_a_partitioned_node_inflates_its_term() -> None:
    net = Net(3, config=msgspec.structs.replace(FAST, pre_vote=False))
    leader = net.elect()
    term = net.cores[leader].term
    follower = next(i for i in net.cores if i != leader)
    net.cut.add(follower)
    net.advance(10.0)
    assert net.cores[follower].term > term + 2


def test_check_quorum_leader_steps_down_when_cut_off() -> None:
    net = Net(3)
    leader = net.elect()
    net.cut.add(leader)
    net.advance(FAST.leader_lease_timeout + 0.05)
    assert net.cores[leader].role is Role.FOLLOWER
    assert net.cores[leader].leader_id is None


def test_leader_without_check_quorum_stays_leader_when_cut_off() -> None:
    net = Net(3, config=msgspec.structs.replace(FAST, check_quorum=False))
    leader = net.elect()
    net.cut.add(leader)
    net.advance(3.0)
    assert net.cores[leader].is_leader


def test_followers_in_leader_lease_ignore_vote_requests() -> None:
    net = Net(3)
    leader = net.elect()
    follower = next(i for i in net.cores if i != leader)
    core = net.cores[follower]
    term = core.term
    core.step(RequestVote("n9", follower, term + 5, 10**6, term + 5), net.now)
    assert core.term == term and core.leader_id == leader and not core.ready().messages


def _core(server_id: str, terms: list[int], term: int) -> RaftCore:
    config = Configuration((Server("a", "a"), Server("b", "b"), Server("c", "c")))
    entries = [Entry(1, 1, EntryType.CONFIGURATION, config.encode())]
    entries += [
        Entry(i + 2, t, EntryType.COMMAND, b"%s%d" % (server_id.encode(), i))
        for i, t in enumerate(terms)
    ]
    return RaftCore(
        server_id, server_id, FAST, random.Random(1), hard_state=HardState(term), entries=entries
    )


def test_conflict_backtracking_skips_a_whole_term_per_round_trip() -> None:
    leader = _core("a", [2, 2, 4, 4], 4)
    follower = _core("b", [2, 2] + [3] * 50, 3)
    leader.tick(leader.next_deadline())  # pre-vote for term 5
    leader.step(RequestVoteResponse("c", "a", 5, True, pre_vote=True), 0)
    leader.step(RequestVoteResponse("c", "a", 5, True), 0)
    assert leader.is_leader
    rejections = 0
    pending = [m for m in leader.ready().messages if m.dst == "b"]
    for _ in range(20):
        if not pending:
            break
        for message in pending:
            follower.step(message, 0)
        replies = follower.ready().messages
        rejections += sum(
            1 for r in replies if isinstance(r, AppendEntriesResponse) and not r.success
        )
        for reply in replies:
            leader.step(reply, 0)
        pending = [
            m for m in leader.ready().messages if m.dst == "b" and isinstance(m, AppendEntries)
        ]
    assert rejections == 1
    assert [follower.log.term(i) for i in range(1, leader.log.last_index + 1)] == [
        leader.log.term(i) for i in range(1, leader.log.last_index + 1)
    ]
    assert follower.log.last_index == leader.log.last_index


def test_a_lagging_follower_catches_up_through_a_chunked_snapshot() -> None:
    config = msgspec.structs.replace(FAST, trailing_logs=0, snapshot_chunk_size=16)
    net = Net(3, config=config)
    leader = net.elect()
    lagging = next(i for i in net.cores if i != leader)
    net.crash(lagging)
    for i in range(20):
        net.propose(b"command-%d" % i)
    net.snapshot(leader)
    assert net.cores[leader].log.first_index > 2
    net.sent.clear()
    net.start(lagging)
    net.advance(3.0)
    chunks = [m for m in net.sent if isinstance(m, InstallSnapshot)]
    assert len(chunks) > 3 and chunks[-1].done
    assert net.commands(lagging) == net.commands(leader) == [b"command-%d" % i for i in range(20)]
    assert net.disks[lagging].snapshot is not None


def test_leadership_transfer_hands_over_before_an_election_timeout() -> None:
    net = Net(3)
    leader = net.elect()
    net.advance(0.2)
    target = next(i for i in net.cores if i != leader)
    net.sent.clear()
    assert net.cores[leader].transfer_leadership(target) == target
    with pytest.raises(LeadershipTransferInProgressError):
        net.cores[leader].propose(b"x")
    net.pump()
    assert any(isinstance(m, TimeoutNow) for m in net.sent)
    assert net.leader() == target


def test_leadership_transfer_gives_up_after_an_election_timeout() -> None:
    net = Net(3)
    leader = net.elect()
    net.advance(0.2)
    target = next(i for i in net.cores if i != leader)
    net.crash(target)
    net.cores[leader].transfer_leadership(target)
    net.advance(FAST.election_timeout + 0.1)
    assert net.leader() == leader
    net.propose(b"after")


def test_read_index_is_confirmed_by_a_quorum() -> None:
    net = Net(3)
    leader = net.elect()
    net.advance(0.2)
    index = net.propose(b"x")
    net.cores[leader].read_index(7)
    net.pump()
    assert [(r.request_id, r.index) for r in net.read_states[leader]] == [(7, index)]


def test_read_index_fails_when_the_leader_is_cut_off() -> None:
    net = Net(3)
    leader = net.elect()
    net.advance(0.2)
    net.cut.add(leader)
    net.cores[leader].read_index(1)
    net.pump()
    assert net.read_states[leader] == []
    net.advance(1.0)
    assert [(r.request_id, r.index) for r in net.read_states[leader]] == [(1, None)]


def test_read_index_waits_for_the_first_commit_of_the_term() -> None:
    net = Net(3)
    n0, n1 = net.cores["n0"], net.cores["n1"]
    net.now = n0.next_deadline()
    n0.tick(net.now)
    while not n0.is_leader:  # win with n1's vote, holding back everything else
        for message in n0.ready().messages:
            if message.dst == "n1":
                n1.step(message, net.now)
        for message in n1.ready().messages:
            n0.step(message, net.now)
    assert n0.commit_index < n0.log.last_index  # the no-op is not committed yet
    n0.read_index(1)
    assert n0.ready().read_states == []
    net.advance(0.5)
    assert [(r.request_id, r.index) for r in net.read_states["n0"]] == [(1, n0.log.last_index)]


def test_barrier_is_a_committed_entry() -> None:
    net = Net(3)
    leader = net.elect()
    index, _ = net.cores[leader].propose(b"", EntryType.BARRIER)
    net.pump()
    assert net.cores[leader].commit_index >= index


def test_nonvoter_replicates_but_does_not_count_for_quorum() -> None:
    net = Net(3, nonvoters=1)
    leader = net.elect()
    net.advance(0.2)
    net.propose(b"one")
    net.advance(0.2)  # followers learn the commit index from the next message
    assert net.commands("n3") == [b"one"]
    net.cut.add("n3")
    voter = next(i for i in ("n0", "n1", "n2") if i != leader)
    net.cut.add(voter)
    index = net.propose(b"two")
    assert net.cores[leader].commit_index == index  # leader + one voter is a quorum of three
    net.cut.clear()
    net.advance(0.5)  # lost appends are resent once overdue
    assert net.commands("n3") == [b"one", b"two"]


def test_nonvoter_never_campaigns() -> None:
    net = Net(1, nonvoters=1)
    net.crash("n0")
    net.advance(10.0)
    assert net.cores["n1"].role is Role.FOLLOWER and net.cores["n1"].term == 1


def test_add_nonvoter_then_promote_then_remove() -> None:
    net = Net(3, spares=1)
    leader = net.elect()
    net.advance(0.2)
    core = net.cores[leader]
    core.add_nonvoter("n3", "n3")
    with pytest.raises(ConfigurationChangeInProgressError):
        core.remove_server("n2")
    net.pump()
    net.advance(0.3)
    assert core.configuration.get("n3") == Server("n3", "n3", Suffrage.NONVOTER)
    assert net.cores["n3"].configuration == core.configuration
    net.propose(b"x")
    net.advance(0.2)
    assert net.commands("n3") == [b"x"]

    core.add_voter("n3", "n3")
    net.advance(0.3)
    assert core.configuration.voters() == ("n0", "n1", "n2", "n3")
    # Four voters need three: the leader plus one more is no longer enough.
    others = [i for i in ("n0", "n1", "n2", "n3") if i != leader]
    net.cut.update(others[:2])
    index, _ = core.propose(b"needs-three")
    net.pump()
    assert core.commit_index < index
    net.cut.clear()
    net.advance(0.5)
    assert core.commit_index >= index

    core.remove_server("n3")
    net.advance(0.3)
    assert core.configuration.get("n3") is None
    assert net.cores["n3"].configuration.get("n3") is None  # it learned it was removed
    net.advance(10.0)
    assert net.leader() == leader and net.cores["n3"].role is Role.FOLLOWER


def test_removing_the_leader_makes_it_step_down() -> None:
    net = Net(3)
    leader = net.elect()
    net.advance(0.2)
    net.cores[leader].remove_server(leader)
    net.advance(0.3)
    assert not net.cores[leader].is_leader
    net.advance(3.0)
    new_leader = net.leader()
    assert new_leader not in (None, leader)
    assert net.cores[new_leader].configuration.get(leader) is None


def test_restart_keeps_term_vote_and_log() -> None:
    net = Net(3)
    leader = net.elect()
    net.propose(b"durable")
    net.advance(0.3)
    term = net.cores[leader].term
    for server_id in list(net.cores):
        net.crash(server_id)
        net.start(server_id)
        assert net.cores[server_id].term == term
    net.elect()
    net.advance(0.5)
    assert all(net.commands(i) == [b"durable"] for i in net.cores)


def test_messages_roundtrip_through_msgpack() -> None:
    entry = Entry(
        3, 2, EntryType.CONFIGURATION, Configuration((Server("a", "1.2.3.4:8300"),)).encode()
    )
    message = AppendEntries("a", "b", 2, "1.2.3.4:8300", 2, 1, [entry], 2)
    assert decode_message(encode_message(message)) == message
    assert Configuration.decode(entry.data).servers[0].address == "1.2.3.4:8300"
    # Configurations use hashicorp/raft's field names.
    assert msgspec.msgpack.decode(entry.data) == {
        "Servers": [{"ID": "a", "Address": "1.2.3.4:8300", "Suffrage": 0}]
    }


def test_consul_timing_scales_with_raft_multiplier() -> None:
    config = RaftConfig.with_multiplier(5)
    assert (config.heartbeat_timeout, config.election_timeout, config.leader_lease_timeout) == (
        5.0,
        5.0,
        2.5,
    )
    assert config.max_append_entries == 64


def test_a_pause_to_restore_a_snapshot_neither_starts_an_election_nor_ends_a_lease() -> None:
    """A driver restoring a big snapshot cannot read messages for seconds; once it resumes,
    the pause must not count as silence (or every follower campaigns after an install)."""
    for resumed in (True, False):
        net = Net(3)
        leader_id = net.elect()
        leader = net.cores[leader_id]
        follower = next(c for i, c in net.cores.items() if i != leader_id)
        paused_until = net.now + 10 * FAST.election_timeout
        if resumed:
            follower.resume_after_pause(paused_until)
            leader.resume_after_pause(paused_until)
        follower.tick(paused_until)
        leader.tick(paused_until)
        if resumed:
            assert follower.role is Role.FOLLOWER and leader.role is Role.LEADER
        else:  # what it guards against
            assert follower.role is not Role.FOLLOWER or leader.role is not Role.LEADER
