"""The sans-IO Raft state machine.

:class:`RaftCore` is fed clock ticks (:meth:`~RaftCore.tick`), messages
(:meth:`~RaftCore.step`) and requests (:meth:`~RaftCore.propose`,
membership changes, :meth:`~RaftCore.transfer_leadership`,
:meth:`~RaftCore.read_index`). It never does I/O; instead :meth:`~RaftCore.ready`
hands out a :class:`Ready` batch that the caller must process in order:

1. write ``snapshot_chunks`` into the incoming snapshot (a chunk at offset 0
   starts a new one); if ``snapshot`` is set, make that received snapshot
   current and delete the stored entries through its index -- and all later
   ones too, unless the stored entry at its index has its term;
2. persist ``hard_state`` and ``entries`` (stored entries at or after
   ``entries[0].index`` are replaced), durably;
3. only then send ``messages`` (they may promise what step 2 stored);
4. restore the state machine from ``snapshot`` if set, then apply
   ``committed`` in order;
5. answer the reads in ``read_states`` once the state machine has applied
   their index.

Times are plain seconds chosen by the caller; randomness comes from the
``random.Random`` handed in.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import repeat

import msgspec

from proconsul.raft.config import Configuration, RaftConfig, Server, Suffrage, quorum_size
from proconsul.raft.interface import ConsensusError, NotLeaderError
from proconsul.raft.log import RaftLog
from proconsul.raft.messages import (
    AppendEntries,
    AppendEntriesResponse,
    Entry,
    EntryType,
    HardState,
    Heartbeat,
    HeartbeatResponse,
    InstallSnapshot,
    InstallSnapshotResponse,
    Message,
    RequestVote,
    RequestVoteResponse,
    SnapshotMeta,
    TimeoutNow,
)

SnapshotReader = Callable[[SnapshotMeta, int, int], bytes]
"""``reader(meta, offset, size)`` returns up to ``size`` bytes of the snapshot ``meta``."""


class LeadershipTransferInProgressError(ConsensusError):
    """Proposals are refused while leadership is being handed over."""

    def __init__(self) -> None:
        super().__init__("leadership transfer in progress")


class ConfigurationChangeInProgressError(ConsensusError):
    """A membership change waits for the previous one (and the leader's first entry) to commit."""

    def __init__(self) -> None:
        super().__init__("configuration change in progress")


class Role(enum.Enum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


class SoftState(msgspec.Struct, frozen=True):
    """Volatile facts worth reporting when they change."""

    role: Role
    term: int
    leader_id: str | None
    leader_address: str | None


class SnapshotChunk(msgspec.Struct, frozen=True):
    meta: SnapshotMeta
    offset: int
    data: bytes


class ReadState(msgspec.Struct, frozen=True):
    """A read-index answer: reads are linearizable once ``index`` is applied.

    ``index`` is None when leadership was lost before a quorum confirmed it.
    """

    request_id: int
    index: int | None


class Ready(msgspec.Struct):
    """One batch of work for the caller; see the module docstring for the order.

    A struct, not a dataclass: one is made per batch, and a struct is built without a
    Python-level ``__init__``."""

    snapshot_chunks: list[SnapshotChunk] = msgspec.field(default_factory=list)
    snapshot: SnapshotMeta | None = None
    hard_state: HardState | None = None
    entries: list[Entry] = msgspec.field(default_factory=list)
    messages: list[Message] = msgspec.field(default_factory=list)
    committed: list[Entry] = msgspec.field(default_factory=list)
    soft_state: SoftState | None = None
    read_states: list[ReadState] = msgspec.field(default_factory=list)


class _Flow(enum.Enum):
    PROBE = 1  # one append at a time until the follower's match is known
    REPLICATE = 2  # optimistic, pipelined appends
    SNAPSHOT = 3  # streaming the snapshot, one chunk at a time


# On Python 3.11 every ``SomeEnum.MEMBER`` lookup goes through EnumType's Python-level
# ``__getattr__`` hook (about a thousand instructions); the paths taken per write and per
# message use these module constants instead.
_LEADER = Role.LEADER
_COMMAND = EntryType.COMMAND
_PROBE, _REPLICATE, _SNAPSHOT = _Flow.PROBE, _Flow.REPLICATE, _Flow.SNAPSHOT


@dataclass(slots=True)
class _Progress:
    """The leader's view of one follower."""

    next: int
    last_contact: float
    match: int = 0
    flow: _Flow = _PROBE
    probe_sent: bool = False
    inflight: deque[tuple[int, float]] = field(default_factory=deque)  # (last index, sent at)
    snapshot: SnapshotMeta | None = None
    snapshot_offset: int = 0
    snapshot_sent: bool = False
    read_ack: int = 0
    commit_sent: int = 0  # the leader commit index last sent in an append


@dataclass(slots=True)
class _PendingRead:
    request_id: int
    index: int
    seq: int


class RaftCore:
    """One Raft server's protocol state; see the module docstring for how to drive it."""

    def __init__(
        self,
        server_id: str,
        address: str,
        config: RaftConfig,
        rng: random.Random,
        *,
        hard_state: HardState | None = None,
        snapshot: SnapshotMeta | None = None,
        entries: list[Entry] | None = None,
        snapshot_reader: SnapshotReader | None = None,
        now: float = 0.0,
    ) -> None:
        self.id = server_id
        self.address = address
        self._cfg = config
        self._rng = rng
        self._read_snapshot = snapshot_reader
        self._now = now

        hard_state = hard_state or HardState()
        self.term = hard_state.term
        self.vote = hard_state.vote
        self._saved_hard_state = hard_state

        self.log = RaftLog(snapshot, entries)
        self.commit_index = self.log.snapshot_index
        self._applied_through = self.commit_index
        self.role = Role.FOLLOWER
        self.leader_id: str | None = None
        self.leader_address: str | None = None
        self.last_leader_contact = float("-inf")
        self.configuration, self.configuration_index = self._scan_configuration(self.log.last_index)

        self._votes: dict[str, bool] = {}
        self._election_deadline = 0.0
        self._reset_election_timer()

        # Leader state.
        self._progress: dict[str, _Progress] = {}
        self._heartbeat_due = 0.0
        self._term_start_index = 0
        self._read_seq = 0
        self._reads: list[_PendingRead] = []
        self._reads_awaiting_commit: list[int] = []
        self._read_broadcast_needed = False
        self.transfer_target: str | None = None  # leadership is being handed to it
        self._transfer_deadline = 0.0

        # Follower state for a snapshot being received: (snapshot index, next offset).
        self._incoming_snapshot: tuple[int, int] | None = None

        # Output not yet handed out by ready().
        self._messages: list[Message] = []
        self._unstable_from: int | None = None
        self._snapshot_chunks: list[SnapshotChunk] = []
        self._installed_snapshot: SnapshotMeta | None = None
        self._read_states: list[ReadState] = []
        self._reported_soft_state = self.soft_state()

    # ------------------------------------------------------------------ queries

    def soft_state(self) -> SoftState:
        return SoftState(self.role, self.term, self.leader_id, self.leader_address)

    @property
    def is_leader(self) -> bool:
        return self.role is _LEADER

    def follower_progress(self) -> dict[str, tuple[int, float]]:
        """The leader's view of each other server: (match index, time last heard from)."""
        return {peer: (p.match, p.last_contact) for peer, p in self._progress.items()}

    def next_deadline(self) -> float:
        """The time by which :meth:`tick` should next be called."""
        if self.role is not _LEADER:
            return self._now if self._alone() else self._election_deadline
        deadline = self._heartbeat_due
        if self.transfer_target is not None:
            deadline = min(deadline, self._transfer_deadline)
        if self._progress and self._cfg.check_quorum:  # alone, its own contact is now
            deadline = min(deadline, self._quorum_contact() + self._cfg.leader_lease_timeout)
        return deadline

    def has_ready(self) -> bool:
        saved, reported = self._saved_hard_state, self._reported_soft_state
        return bool(
            self._messages
            or self._unstable_from is not None
            or self._snapshot_chunks
            or self._installed_snapshot
            or self._read_states
            or self._applied_through < self.commit_index
            or self.term != saved.term or self.vote != saved.vote
            or self.role is not reported.role or self.term != reported.term
            or self.leader_id != reported.leader_id
            or self.leader_address != reported.leader_address
            or (
                self.role is _LEADER
                and (self._read_broadcast_needed or (self._progress and self._appends_pending()))
            )
        )

    # ------------------------------------------------------------------ inputs

    def tick(self, now: float) -> None:
        """Advance the clock; fires elections, heartbeats and lease checks that are due."""
        self._now = max(self._now, now)
        if self.role is _LEADER:
            if (
                self._progress  # alone, its own contact is now: no lease to lose
                and self._cfg.check_quorum
                and self._now - self._quorum_contact() >= self._cfg.leader_lease_timeout
            ):
                self._become_follower(self.term, None, None)
                return
            if self.transfer_target is not None and self._now >= self._transfer_deadline:
                self.transfer_target = None
            if self._now >= self._heartbeat_due:
                self._broadcast_heartbeat()
        elif self._now >= self._election_deadline or self._alone():
            self.leader_id = self.leader_address = None
            if self.configuration.is_voter(self.id):
                self._campaign(pre_vote=self._cfg.pre_vote, transfer=False)
            else:
                self.role = Role.FOLLOWER
                self._reset_election_timer()

    def step(self, message: Message, now: float) -> None:
        """Handle one message addressed to this server."""
        self._now = max(self._now, now)
        if message.dst != self.id:
            return
        if isinstance(message, RequestVote):
            self._on_request_vote(message)
            return
        if isinstance(message, RequestVoteResponse):
            self._on_vote_response(message)
            return
        from_leader = isinstance(message, AppendEntries | Heartbeat | InstallSnapshot | TimeoutNow)
        if message.term > self.term:
            if from_leader:
                self._become_follower(message.term, message.src, message.leader_address)
            else:
                self._become_follower(message.term, None, None)
        elif message.term < self.term:
            if isinstance(message, AppendEntries | Heartbeat | InstallSnapshot):
                # Tell the stale leader about the newer term so it steps down.
                self._send(AppendEntriesResponse(self.id, message.src, self.term, success=False))
            return
        if from_leader:
            self._on_leader_message(message)
        elif self.role is _LEADER:
            progress = self._progress.get(message.src)
            if progress is None:
                return
            progress.last_contact = self._now
            if isinstance(message, AppendEntriesResponse):
                self._on_append_response(message, progress)
            elif isinstance(message, HeartbeatResponse):
                self._on_heartbeat_response(message, progress)
            elif isinstance(message, InstallSnapshotResponse):
                self._on_snapshot_response(message, progress)

    def propose(self, data: bytes, entry_type: EntryType = EntryType.COMMAND) -> tuple[int, int]:
        """Append a new entry as leader; returns its (index, term)."""
        self._check_can_propose()
        return self._append(entry_type, data), self.term

    def propose_commands(self, commands: list[bytes], now: float) -> int:
        """Append one command entry per item as leader, in order, at time ``now``; returns
        the first's index (the entries take the indexes after it and the current term)."""
        if self.role is not _LEADER or self.transfer_target is not None:
            self._check_can_propose()
        if now > self._now:
            self._now = now
        log, term, count = self.log, self.term, len(commands)
        first = log.last_index + 1
        if count == 1:  # one writer at a time: no iterators to make
            log.extend([Entry(first, term, _COMMAND, commands[0])])
        else:  # map() over the Entry type: no Python-level frame per entry or for the list
            log.extend(list(map(Entry, range(first, first + count), repeat(term, count),
                                repeat(_COMMAND, count), commands)))
        if self._unstable_from is None:
            self._unstable_from = first
        voters = self.configuration.voter_ids
        if (len(voters) == 1 and voters[0] == self.id and not self._reads_awaiting_commit
                and self.configuration_index <= self.commit_index):
            # _maybe_commit() of a lone voter whose configuration is committed: all it
            # appends commits at once (the entries are of its term; no reads wait).
            self.commit_index = log.last_index
        else:
            self._maybe_commit()
        return first

    def add_voter(self, server_id: str, address: str) -> int:
        """Add a voter, or promote a non-voter; returns the configuration entry's index."""
        return self._change_configuration(
            self.configuration.with_server(Server(server_id, address, Suffrage.VOTER))
        )

    def add_nonvoter(self, server_id: str, address: str) -> int:
        """Add a server that replicates the log but does not vote (a voter stays a voter)."""
        existing = self.configuration.get(server_id)
        suffrage = existing.suffrage if existing else Suffrage.NONVOTER
        return self._change_configuration(
            self.configuration.with_server(Server(server_id, address, suffrage))
        )

    def demote_voter(self, server_id: str) -> int:
        existing = self.configuration.get(server_id)
        if existing is None:
            raise ConsensusError(f"unknown server {server_id}")
        return self._change_configuration(
            self.configuration.with_server(Server(server_id, existing.address, Suffrage.NONVOTER))
        )

    def remove_server(self, server_id: str) -> int:
        return self._change_configuration(self.configuration.without(server_id))

    def transfer_leadership(self, target: str | None = None) -> str:
        """Hand leadership to ``target`` (default: the most up-to-date voter); returns the target."""
        self._check_can_propose()
        if target is None:
            candidates = [
                (progress.match, peer)
                for peer, progress in self._progress.items()
                if self.configuration.is_voter(peer)
            ]
            if not candidates:
                raise ConsensusError("no other voter to transfer leadership to")
            target = max(candidates)[1]
        elif target == self.id or not self.configuration.is_voter(target):
            raise ConsensusError(f"cannot transfer leadership to {target}")
        self.transfer_target = target
        self._transfer_deadline = self._now + self._cfg.election_timeout
        progress = self._progress[target]
        if progress.match == self.log.last_index:
            self._send_timeout_now(target)
        return target

    def bootstrap(self, configuration: Configuration) -> bool:
        """Make ``configuration`` the first log entry of a pristine server.

        Returns False, changing nothing, once the server has any state: a
        term, a log entry or a snapshot (as hashicorp/raft's BootstrapCluster).
        """
        if self.term or self.log.last_index or self.log.snapshot is not None:
            return False
        if not configuration.voters():
            raise ConsensusError("a configuration needs at least one voter")
        self.term = 1
        entry = Entry(1, 1, EntryType.CONFIGURATION, configuration.encode())
        self.log.append(entry)
        self._note_appended([entry])
        self._reset_election_timer()
        return True

    def read_index(self, request_id: int) -> None:
        """Ask for a linearizable read point; the answer arrives as a :class:`ReadState`."""
        if self.role is not _LEADER:
            raise self._not_leader()
        if self.commit_index < self._term_start_index:
            self._reads_awaiting_commit.append(request_id)
        else:
            self._start_read(request_id)

    def snapshot_meta(self, index: int, size: int) -> SnapshotMeta:
        """Metadata for a state machine snapshot taken at applied ``index``."""
        assert self.log.snapshot_index <= index <= self._applied_through
        term = self.log.term(index)
        assert term is not None
        configuration, configuration_index = self._configuration_at(index)
        return SnapshotMeta(index, term, configuration, configuration_index, size)

    def compact(self, meta: SnapshotMeta) -> int:
        """Record that snapshot ``meta`` is stored; returns the index through which
        stored log entries may now be deleted (keeping ``trailing_logs``)."""
        if meta.index > self.log.snapshot_index:
            self.log.snapshot = meta
        through = meta.index - self._cfg.trailing_logs
        self.log.compact(through)
        return max(through, 0)

    def restore_user_snapshot(self, size: int) -> SnapshotMeta:
        """Leader only: adopt an operator's snapshot (``size`` bytes) as the whole state.

        As hashicorp/raft's ``Restore``, the snapshot takes the index after the
        last log entry and the current term, and the log is emptied: no entry
        exists at or before that index any more, so every follower's next append
        finds no previous entry and the leader sends it the snapshot instead.
        Entries not yet committed are dropped (their proposers get an error).
        The caller must store the snapshot under the returned metadata, make the
        log empty, and restore the state machine from it, before anything else.
        """
        if self.role is not _LEADER:
            raise self._not_leader()
        if self.configuration_index > self.commit_index:
            raise ConsensusError(
                "cannot restore snapshot now, wait until the configuration entry at "
                f"{self.configuration_index} has been applied (have applied {self.commit_index})")
        meta = SnapshotMeta(self.log.last_index + 1, self.term, self.configuration,
                            self.configuration_index, size)
        self.log.restore(meta)
        self.commit_index = self._applied_through = meta.index
        self._unstable_from = None
        return meta

    def resume_after_pause(self, now: float) -> None:
        """The driver could not run until ``now`` (it was restoring the state machine
        from a snapshot): that pause is not silence from the other servers, whose
        messages wait unread. A follower counts its leader as heard from now and a
        leader its followers, so the pause alone neither starts an election nor
        ends a lease; real silence still does, one timeout later."""
        self._now = max(self._now, now)
        if self.role is _LEADER:
            for progress in self._progress.values():
                progress.last_contact = max(progress.last_contact, self._now)
        elif self.role is Role.FOLLOWER and self.leader_id is not None:
            self.last_leader_contact = self._now
            self._reset_election_timer()

    def ready(self) -> Ready:
        """Take the pending batch of work (see the module docstring)."""
        if self.role is _LEADER:
            for peer, progress in self._progress.items():
                self._send_appends(peer, progress)
            if self._read_broadcast_needed:
                self._broadcast_heartbeat()
        # The state checks and slices inline: this runs once per batch of writes.
        term, saved, reported, log = self.term, self._saved_hard_state, \
            self._reported_soft_state, self.log
        hard_state = soft_state = None
        if term != saved.term or self.vote != saved.vote:
            hard_state = self._saved_hard_state = HardState(term, self.vote)
        if (self.role is not reported.role or term != reported.term
                or self.leader_id != reported.leader_id
                or self.leader_address != reported.leader_address):
            soft_state = self._reported_soft_state = self.soft_state()
        unstable, applied, commit = self._unstable_from, self._applied_through, \
            self.commit_index
        entries = [] if unstable is None else log.slice(unstable, log.last_index)
        committed = []
        if applied < commit:
            # A lone voter commits what it appends: then the same entries, one list.
            committed = entries if unstable == applied + 1 and commit == log.last_index \
                else log.slice(applied + 1, commit)
            self._applied_through = commit
        ready = Ready(self._snapshot_chunks, self._installed_snapshot, hard_state, entries,
                      self._messages, committed, soft_state, self._read_states)
        self._messages = []
        self._unstable_from = None
        self._snapshot_chunks = []
        self._installed_snapshot = None
        self._read_states = []
        return ready

    def take_liveness(self, durable_term: int) -> list[Message]:
        """Take the pending heartbeats and heartbeat answers of a term no newer than
        ``durable_term`` (the last one on disk) out of the next batch, to be sent now.

        They promise nothing that waits on storage (a heartbeat's commit never passes
        what its follower holds), so the driver sends them while it writes the last
        batch: a slow disk write then neither ends the leader's lease nor starts an
        election, as hashicorp/raft's heartbeats do not wait for its log writes.
        """
        kept: list[Message] = []
        taken: list[Message] = []
        for m in self._messages:
            liveness = isinstance(m, Heartbeat | HeartbeatResponse) and m.term <= durable_term
            (taken if liveness else kept).append(m)
        if taken:
            self._messages = kept
        return taken

    # ------------------------------------------------------------------ roles

    def _reset_election_timer(self) -> None:
        if self.role in (Role.CANDIDATE, Role.PRE_CANDIDATE):
            base = self._cfg.election_timeout
        else:
            base = self._cfg.heartbeat_timeout
        self._election_deadline = self._now + base * (1.0 + self._rng.random())

    def _become_follower(
        self, term: int, leader_id: str | None, leader_address: str | None
    ) -> None:
        if term != self.term:
            self.term = term
            self.vote = None
        if self.role is _LEADER:
            self._abandon_leadership()
        self.role = Role.FOLLOWER
        self.leader_id = leader_id
        self.leader_address = leader_address
        self._reset_election_timer()

    def _abandon_leadership(self) -> None:
        self._read_states.extend(ReadState(read.request_id, None) for read in self._reads)
        self._read_states.extend(ReadState(rid, None) for rid in self._reads_awaiting_commit)
        self._reads = []
        self._reads_awaiting_commit = []
        self._read_broadcast_needed = False
        self._progress = {}
        self.transfer_target = None

    def _alone(self) -> bool:
        """Whether this server is the only voter: nobody else can lead or needs hearing
        from, so there is no election timeout to wait out (a restarted single server,
        ``-bootstrap``, ``-dev``, the voter left by a removal): it campaigns at once."""
        return self.configuration.voters() == (self.id,)

    def _campaign(self, *, pre_vote: bool, transfer: bool) -> None:
        if pre_vote:
            self.role = Role.PRE_CANDIDATE
            vote_term = self.term + 1
        else:
            self.role = Role.CANDIDATE
            self.term += 1
            self.vote = self.id
            vote_term = self.term
        self.leader_id = self.leader_address = None
        self._votes = {self.id: True}
        self._reset_election_timer()
        if self._tally_votes():
            return
        for peer in self.configuration.voters():
            if peer != self.id:
                self._send(
                    RequestVote(
                        self.id,
                        peer,
                        vote_term,
                        self.log.last_index,
                        self.log.last_term,
                        pre_vote=pre_vote,
                        leadership_transfer=transfer,
                    )
                )

    def _tally_votes(self) -> bool:
        """Act on the votes so far; True if the poll is decided."""
        voters = self.configuration.voters()
        needed = quorum_size(len(voters))
        granted = sum(1 for v in voters if self._votes.get(v) is True)
        rejected = sum(1 for v in voters if self._votes.get(v) is False)
        if granted >= needed:
            if self.role is Role.PRE_CANDIDATE:
                self._campaign(pre_vote=False, transfer=False)
            else:
                self._become_leader()
            return True
        if rejected > len(voters) - needed:
            self._become_follower(self.term, None, None)
            return True
        return False

    def _become_leader(self) -> None:
        self.role = _LEADER
        self.leader_id = self.id
        self.leader_address = self.address
        self._progress = {}
        self._reads = []
        self._reads_awaiting_commit = []
        self._read_seq = 0
        self.transfer_target = None
        self._sync_progress()
        self._term_start_index = self._append(EntryType.NOOP, b"")
        self._heartbeat_due = self._now
        self._broadcast_heartbeat()

    def _sync_progress(self) -> None:
        """Track the other servers of the latest configuration.

        A removed server keeps receiving the log until its removal commits, so
        it learns that it was removed and does not campaign.
        """
        members = [peer for peer in self.configuration.ids() if peer != self.id]
        if self.configuration_index <= self.commit_index:
            for peer in [p for p in self._progress if p not in members]:
                del self._progress[peer]
        for peer in members:
            if peer not in self._progress:
                self._progress[peer] = _Progress(
                    next=self.log.last_index + 1, last_contact=self._now
                )

    # ------------------------------------------------------------------ voting

    def _in_leader_lease(self) -> bool:
        """Whether a leader was heard from recently enough that votes should be refused.

        This keeps a server that missed its own removal (or rejoins after a
        partition without pre-vote) from deposing a healthy leader.
        """
        if self.role is _LEADER:
            return True
        return (
            self.leader_id is not None
            and self._now - self.last_leader_contact < self._cfg.heartbeat_timeout
        )

    def _on_request_vote(self, m: RequestVote) -> None:
        if m.term > self.term:
            if self._in_leader_lease() and not m.leadership_transfer:
                return
            if not m.pre_vote:
                self._become_follower(m.term, None, None)
        if m.term < self.term:
            self._send(RequestVoteResponse(self.id, m.src, self.term, False, m.pre_vote))
            return
        can_vote = (
            self.vote == m.src
            or (self.vote is None and self.leader_id is None)
            or (m.pre_vote and m.term > self.term)
        )
        up_to_date = (m.last_log_term, m.last_log_index) >= (
            self.log.last_term,
            self.log.last_index,
        )
        # Votes go to any up-to-date candidate, even one outside our configuration: ours
        # may be stale. Removed servers are kept from disrupting by pre-vote and leases.
        if can_vote and up_to_date:
            self._send(RequestVoteResponse(self.id, m.src, m.term, True, m.pre_vote))
            if not m.pre_vote:
                self.vote = m.src
                self._reset_election_timer()
        else:
            self._send(RequestVoteResponse(self.id, m.src, self.term, False, m.pre_vote))

    def _on_vote_response(self, m: RequestVoteResponse) -> None:
        if self.role is Role.PRE_CANDIDATE and m.pre_vote:
            if m.granted and m.term == self.term + 1:
                self._votes[m.src] = True
            elif not m.granted:
                if m.term > self.term:
                    self._become_follower(m.term, None, None)
                    return
                self._votes[m.src] = False
            self._tally_votes()
        elif self.role is Role.CANDIDATE and not m.pre_vote:
            if m.term > self.term:
                self._become_follower(m.term, None, None)
            elif m.term == self.term:
                self._votes[m.src] = m.granted
                self._tally_votes()
        elif m.term > self.term and not m.granted:
            self._become_follower(m.term, None, None)

    # ------------------------------------------------------------------ follower side

    def _on_leader_message(
        self, m: AppendEntries | Heartbeat | InstallSnapshot | TimeoutNow
    ) -> None:
        if self.role is _LEADER:
            return  # two leaders in one term cannot happen; ignore rather than corrupt
        if self.role is not Role.FOLLOWER:
            self._become_follower(self.term, m.src, m.leader_address)
        self.leader_id = m.src
        self.leader_address = m.leader_address
        if isinstance(m, TimeoutNow):
            if self.configuration.is_voter(self.id):
                self._campaign(pre_vote=False, transfer=True)
            return
        self.last_leader_contact = self._now
        self._reset_election_timer()
        if isinstance(m, AppendEntries):
            self._on_append(m)
        elif isinstance(m, Heartbeat):
            self._commit_to(min(m.commit, self.log.last_index))
            self._send(HeartbeatResponse(self.id, m.src, self.term, m.read_seq))
        else:
            self._on_snapshot_chunk(m)

    def _on_append(self, m: AppendEntries) -> None:
        entries = m.entries
        if m.prev_log_index < self.commit_index:
            # Everything up to our commit index is known to match the leader.
            entries = entries[self.commit_index - m.prev_log_index :]
        else:
            term = self.log.term(m.prev_log_index)
            if term != m.prev_log_term:
                self._reject_append(m, term)
                return
        for position, entry in enumerate(entries):
            existing = self.log.term(entry.index)
            if existing == entry.term:
                continue
            assert entry.index > self.commit_index, "conflict with a committed entry"
            new = entries[position:]
            self.log.replace_from(new)
            if self.configuration_index >= entry.index:
                self.configuration, self.configuration_index = self._scan_configuration(
                    entry.index - 1
                )
            self._note_appended(new)
            break
        last_new = max(m.prev_log_index + len(m.entries), self.commit_index)
        self._commit_to(min(m.leader_commit, last_new))
        self._send(
            AppendEntriesResponse(self.id, m.src, self.term, success=True, last_index=last_new)
        )

    def _reject_append(self, m: AppendEntries, term: int | None) -> None:
        if term is None:
            conflict_term, conflict_index = 0, self.log.last_index + 1
        else:
            conflict_term, conflict_index = term, m.prev_log_index
            floor = max(self.commit_index, self.log.first_index)
            while conflict_index - 1 > floor and self.log.term(conflict_index - 1) == term:
                conflict_index -= 1
        self._send(
            AppendEntriesResponse(
                self.id,
                m.src,
                self.term,
                success=False,
                last_index=self.log.last_index,
                rejected_index=m.prev_log_index,
                conflict_index=conflict_index,
                conflict_term=conflict_term,
            )
        )

    def _on_snapshot_chunk(self, m: InstallSnapshot) -> None:
        meta = m.meta
        if meta.index <= self.commit_index:
            self._send(
                InstallSnapshotResponse(
                    self.id, m.src, self.term, meta.index, m.offset, meta.size, done=True
                )
            )
            return
        incoming = self._incoming_snapshot
        if m.offset != 0 and (incoming is None or incoming != (meta.index, m.offset)):
            expected = incoming[1] if incoming is not None and incoming[0] == meta.index else 0
            self._send(
                InstallSnapshotResponse(self.id, m.src, self.term, meta.index, m.offset, expected)
            )
            return
        self._snapshot_chunks.append(SnapshotChunk(meta, m.offset, m.data))
        next_offset = m.offset + len(m.data)
        if not m.done:
            self._incoming_snapshot = (meta.index, next_offset)
            self._send(
                InstallSnapshotResponse(
                    self.id, m.src, self.term, meta.index, m.offset, next_offset
                )
            )
            return
        self._incoming_snapshot = None
        self._install_snapshot(meta)
        self._send(
            InstallSnapshotResponse(
                self.id, m.src, self.term, meta.index, m.offset, next_offset, done=True
            )
        )

    def _install_snapshot(self, meta: SnapshotMeta) -> None:
        """Adopt a received snapshot; entries after it survive only if the log agrees at its index."""
        if self.log.term(meta.index) == meta.term:
            self.log.snapshot = meta
            self.log.compact(meta.index)
        else:
            self.log.restore(meta)
            self.configuration, self.configuration_index = (
                meta.configuration,
                meta.configuration_index,
            )
        if self.configuration_index < meta.configuration_index:
            self.configuration, self.configuration_index = (
                meta.configuration,
                meta.configuration_index,
            )
        self.commit_index = self._applied_through = meta.index
        if self._unstable_from is not None:
            self._unstable_from = max(self._unstable_from, meta.index + 1)
            if self._unstable_from > self.log.last_index:
                self._unstable_from = None
        self._installed_snapshot = meta

    # ------------------------------------------------------------------ leader side

    def _check_can_propose(self) -> None:
        if self.role is not _LEADER:
            raise self._not_leader()
        if self.transfer_target is not None:
            raise LeadershipTransferInProgressError()

    def _not_leader(self) -> NotLeaderError:
        return NotLeaderError(self.leader_address)

    def _append(self, entry_type: EntryType, data: bytes) -> int:
        index = self.log.last_index + 1
        self.log.append(Entry(index, self.term, entry_type, data))
        if self._unstable_from is None:
            self._unstable_from = index
        if entry_type is EntryType.CONFIGURATION:
            self.configuration = Configuration.decode(data)
            self.configuration_index = index
            self._sync_progress()
        self._maybe_commit()
        return index

    def _note_appended(self, entries: list[Entry]) -> None:
        first = entries[0].index
        if self._unstable_from is None or first < self._unstable_from:
            self._unstable_from = first
        for entry in reversed(entries):
            if entry.type is EntryType.CONFIGURATION:
                self.configuration = Configuration.decode(entry.data)
                self.configuration_index = entry.index
                break

    def _change_configuration(self, new: Configuration) -> int:
        self._check_can_propose()
        if (
            self.commit_index < self._term_start_index
            or self.configuration_index > self.commit_index
        ):
            raise ConfigurationChangeInProgressError()
        if not new.voters():
            raise ConsensusError("a configuration needs at least one voter")
        return self._append(EntryType.CONFIGURATION, new.encode())

    def _quorum_contact(self) -> float:
        """The latest time by which a quorum of voters (this one included) had been heard from."""
        voters = self.configuration.voter_ids
        if not voters or (len(voters) == 1 and voters[0] == self.id):
            return self._now  # nobody else to hear from
        contacts = sorted(
            (self._now if v == self.id else self._progress[v].last_contact for v in voters),
            reverse=True,
        )
        return contacts[quorum_size(len(voters)) - 1]

    def _maybe_commit(self) -> None:
        voters = self.configuration.voter_ids
        if not voters:
            return
        last, me, progress = self.log.last_index, self.id, self._progress
        if len(voters) == 1 and voters[0] == me:
            candidate = last
        else:
            matches = sorted([last if v == me else progress[v].match for v in voters],
                             reverse=True)
            candidate = matches[quorum_size(len(voters)) - 1]
        if candidate <= self.commit_index or self.log.term(candidate) != self.term:
            return
        self.commit_index = candidate
        if self._reads_awaiting_commit and self.commit_index >= self._term_start_index:
            waiting, self._reads_awaiting_commit = self._reads_awaiting_commit, []
            for request_id in waiting:
                self._start_read(request_id)
        if self.configuration_index <= self.commit_index:
            if self.id not in voters:
                self._become_follower(self.term, None, None)
            elif len(self._progress) > len(self.configuration.servers) - 1:
                self._sync_progress()

    def _commit_to(self, index: int) -> None:
        if index > self.commit_index:
            self.commit_index = index

    def _appends_pending(self) -> bool:
        """Whether :meth:`_send_appends` would send a replicating follower something."""
        if not self._progress:
            return False
        last, commit, window = self.log.last_index, self.commit_index, self._cfg.max_inflight_appends
        return any(
            p.flow is _REPLICATE
            and (p.commit_sent < commit if p.next > last else len(p.inflight) < window)
            for p in self._progress.values()
        )

    def _send_appends(self, peer: str, progress: _Progress) -> None:
        cfg = self._cfg
        while True:
            if progress.flow is _SNAPSHOT:
                self._send_snapshot_chunk(peer, progress)
                return
            if progress.flow is _PROBE and progress.probe_sent:
                return
            caught_up = progress.next > self.log.last_index
            if progress.flow is _REPLICATE and (
                caught_up or len(progress.inflight) >= cfg.max_inflight_appends
            ):
                if caught_up and progress.commit_sent < self.commit_index:
                    # Nothing new to send, but the commit index moved: tell the follower now
                    # rather than at the next heartbeat, so its stale reads catch up.
                    self._send_append(peer, progress, self.log.last_index, self.log.last_term, [])
                return
            prev = progress.next - 1
            prev_term = self.log.term(prev)
            if prev_term is None:
                progress.flow = _SNAPSHOT
                progress.inflight.clear()
                progress.snapshot = None
                continue
            high = min(self.log.last_index, prev + cfg.max_append_entries)
            entries = self.log.slice(progress.next, high) if high > prev else []
            self._send_append(peer, progress, prev, prev_term, entries)
            if progress.flow is _PROBE:
                progress.probe_sent = True
                return
            progress.inflight.append((high, self._now))
            progress.next = high + 1

    def _send_append(self, peer: str, progress: _Progress, prev: int, prev_term: int,
                     entries: list[Entry]) -> None:
        commit = self.commit_index
        progress.commit_sent = commit
        self._send(AppendEntries(self.id, peer, self.term, self.address, prev, prev_term,
                                 entries, commit))

    def _send_snapshot_chunk(self, peer: str, progress: _Progress) -> None:
        latest = self.log.snapshot
        assert latest is not None and self._read_snapshot is not None
        if progress.snapshot is None or progress.snapshot.index != latest.index:
            progress.snapshot = latest
            progress.snapshot_offset = 0
            progress.snapshot_sent = False
        if progress.snapshot_sent:
            return
        offset = progress.snapshot_offset
        data = self._read_snapshot(latest, offset, self._cfg.snapshot_chunk_size)
        done = offset + len(data) >= latest.size
        self._send(
            InstallSnapshot(self.id, peer, self.term, self.address, latest, offset, data, done)
        )
        progress.snapshot_sent = True

    def _on_append_response(self, m: AppendEntriesResponse, progress: _Progress) -> None:
        if m.success:
            self._on_match(m.src, progress, m.last_index)
            return
        if progress.flow is _REPLICATE:
            if m.rejected_index <= progress.match:
                return
        elif progress.flow is _PROBE:
            if m.rejected_index != progress.next - 1:
                return
        else:
            return
        retry = m.conflict_index
        if m.conflict_term:
            index = min(m.rejected_index, self.log.last_index)
            term = self.log.term(index)
            while term is not None and term > m.conflict_term:
                index -= 1
                term = self.log.term(index)
            if term == m.conflict_term:
                retry = index + 1
        progress.next = max(progress.match + 1, min(retry, m.rejected_index))
        self._probe(progress)

    def _probe(self, progress: _Progress) -> None:
        progress.flow = _PROBE
        progress.probe_sent = False
        progress.inflight.clear()

    def _on_match(self, peer: str, progress: _Progress, index: int) -> None:
        advanced = index > progress.match
        if advanced:
            progress.match = index
        if progress.flow is _PROBE:
            progress.flow = _REPLICATE
            progress.next = progress.match + 1
            progress.inflight.clear()
        elif progress.flow is _REPLICATE:
            progress.next = max(progress.next, progress.match + 1)
            while progress.inflight and progress.inflight[0][0] <= progress.match:
                progress.inflight.popleft()
        elif progress.snapshot is not None and progress.match >= progress.snapshot.index:
            progress.next = progress.match + 1
            self._probe(progress)
        if advanced:
            self._maybe_commit()
        if (
            self.role is _LEADER
            and self.transfer_target == peer
            and progress.match == self.log.last_index
        ):
            self._send_timeout_now(peer)

    def _on_heartbeat_response(self, m: HeartbeatResponse, progress: _Progress) -> None:
        if m.read_seq > progress.read_ack:
            progress.read_ack = m.read_seq
            self._release_reads()
        if progress.flow is _PROBE:
            progress.probe_sent = False
        elif progress.flow is _SNAPSHOT:
            progress.snapshot_sent = False
        elif (
            progress.inflight
            and self._now - progress.inflight[0][1] >= self._cfg.append_retry_after
        ):
            # An append or its answer was lost; find the follower's position again.
            progress.next = progress.match + 1
            self._probe(progress)

    def _on_snapshot_response(self, m: InstallSnapshotResponse, progress: _Progress) -> None:
        if progress.flow is not _SNAPSHOT or progress.snapshot is None:
            if m.done:
                self._on_match(m.src, progress, m.snapshot_index)
            return
        if (
            m.snapshot_index != progress.snapshot.index
            or m.chunk_offset != progress.snapshot_offset
        ):
            return  # answers a chunk that is no longer outstanding
        if m.done:
            self._on_match(m.src, progress, m.snapshot_index)
        else:
            progress.snapshot_offset = m.next_offset
            progress.snapshot_sent = False

    def _send_timeout_now(self, peer: str) -> None:
        self._send(TimeoutNow(self.id, peer, self.term, self.address))

    def _broadcast_heartbeat(self) -> None:
        self._read_broadcast_needed = False
        self._heartbeat_due = self._now + self._cfg.heartbeat_interval
        for peer, progress in self._progress.items():
            commit = min(progress.match, self.commit_index)
            self._send(Heartbeat(self.id, peer, self.term, self.address, commit, self._read_seq))

    def _start_read(self, request_id: int) -> None:
        self._read_seq += 1
        self._reads.append(_PendingRead(request_id, self.commit_index, self._read_seq))
        self._read_broadcast_needed = True
        self._release_reads()

    def _release_reads(self) -> None:
        if not self._reads:
            return
        voters = self.configuration.voters()
        acks = sorted(
            (self._read_seq if v == self.id else self._progress[v].read_ack for v in voters),
            reverse=True,
        )
        confirmed = acks[quorum_size(len(voters)) - 1]
        while self._reads and self._reads[0].seq <= confirmed:
            read = self._reads.pop(0)
            self._read_states.append(ReadState(read.request_id, read.index))

    # ------------------------------------------------------------------ helpers

    def _send(self, message: Message) -> None:
        self._messages.append(message)

    def _configuration_at(self, index: int) -> tuple[Configuration, int]:
        """The configuration in effect at ``index`` (the latest one at or before it)."""
        if self.configuration_index <= index:
            return self.configuration, self.configuration_index
        return self._scan_configuration(index)

    def _scan_configuration(self, index: int) -> tuple[Configuration, int]:
        floor = max(self.log.first_index, self.log.snapshot_index + 1)
        for i in range(min(index, self.log.last_index), floor - 1, -1):
            entry = self.log.entry(i)
            if entry.type is EntryType.CONFIGURATION:
                return Configuration.decode(entry.data), i
        snapshot = self.log.snapshot
        if snapshot is not None:
            return snapshot.configuration, snapshot.configuration_index
        return Configuration(), 0
