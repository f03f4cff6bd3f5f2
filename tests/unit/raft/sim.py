"""Deterministic simulator for the sans-IO Raft core.

A schedule is fully determined by its seed: virtual clock, lossy network
(drops, delays, duplicates, reordering, partitions), crashes and restarts
from what was persisted, membership changes, leadership transfers, reads,
snapshots and random client proposals. Safety invariants are checked after
every event; liveness and durability of acknowledged proposals at the end.

Big run::

    PYTHONPATH=. python -m tests.unit.raft.sim --seeds 100000 --jobs 2

Replay one seed (prints the event trace)::

    PYTHONPATH=. python -m tests.unit.raft.sim --seed 1234 --trace
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import random
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import msgspec

from proconsul.raft.config import Configuration, RaftConfig, Server
from proconsul.raft.core import ConsensusError, RaftCore, Ready, Role
from proconsul.raft.messages import Entry, EntryType, HardState, Message, SnapshotMeta


class InvariantViolation(AssertionError):
    pass


def replay_command(seed: int) -> str:
    return f"PYTHONPATH=. python -m tests.unit.raft.sim --seed {seed} --trace"


class Disk:
    """What a node has durably stored: only what a Ready told it to persist."""

    def __init__(self) -> None:
        self.hard_state = HardState()
        self.entries: list[Entry] = []
        self.snapshot: SnapshotMeta | None = None
        self.snapshot_data = b""
        self.incoming = bytearray()

    @property
    def last_index(self) -> int:
        if self.entries:
            return self.entries[-1].index
        return self.snapshot.index if self.snapshot else 0

    def term(self, index: int) -> int | None:
        if self.entries and self.entries[0].index <= index <= self.entries[-1].index:
            return self.entries[index - self.entries[0].index].term
        if self.snapshot is not None and index == self.snapshot.index:
            return self.snapshot.term
        return 0 if index == 0 else None

    def append(self, entries: list[Entry]) -> None:
        start = entries[0].index
        if self.entries:
            first = self.entries[0].index
            assert first <= start <= self.last_index + 1, "gap in persisted log"
            del self.entries[start - first :]
        else:
            assert start == self.last_index + 1, "gap in persisted log"
        self.entries.extend(entries)

    def write_chunk(self, offset: int, data: bytes) -> None:
        if offset == 0:
            self.incoming = bytearray()
        assert offset == len(self.incoming), "snapshot chunk out of order"
        self.incoming += data

    def install_snapshot(self, meta: SnapshotMeta) -> None:
        assert len(self.incoming) == meta.size, "incomplete snapshot installed"
        keep_suffix = self.term(meta.index) == meta.term
        self.snapshot, self.snapshot_data = meta, bytes(self.incoming)
        self.incoming = bytearray()
        if keep_suffix:
            self.compact(meta.index)
        else:
            self.entries = []

    def save_snapshot(self, meta: SnapshotMeta, data: bytes) -> None:
        self.snapshot, self.snapshot_data = meta, data

    def compact(self, through: int) -> None:
        if self.entries and through >= self.entries[0].index:
            del self.entries[: through - self.entries[0].index + 1]

    def read_snapshot(self, meta: SnapshotMeta, offset: int, size: int) -> bytes:
        assert self.snapshot is not None and self.snapshot.index == meta.index
        return self.snapshot_data[offset : offset + size]


class Fsm:
    """The state machine: the ordered list of applied commands."""

    def __init__(self) -> None:
        self.applied_index = 0
        self.commands: list[tuple[int, bytes]] = []

    def encode(self) -> bytes:
        return msgspec.msgpack.encode([self.applied_index, self.commands])

    @staticmethod
    def decode(data: bytes) -> Fsm:
        fsm = Fsm()
        index, commands = msgspec.msgpack.decode(data, type=tuple[int, list[tuple[int, bytes]]])
        fsm.applied_index, fsm.commands = index, commands
        return fsm


@dataclass
class SimNode:
    id: str
    disk: Disk = field(default_factory=Disk)
    core: RaftCore | None = None
    fsm: Fsm = field(default_factory=Fsm)
    tick_at: float = float("inf")
    proposals: dict[int, tuple[int, bytes]] = field(default_factory=dict)  # index -> (term, data)
    reads: dict[int, int] = field(default_factory=dict)  # request id -> max acked index when asked

    @property
    def alive(self) -> bool:
        return self.core is not None


@dataclass(frozen=True)
class Params:
    """Everything about a schedule that is chosen from its seed."""

    nodes: int
    spares: int
    duration: float
    quiet: float
    drop: float
    duplicate: float
    max_delay: float
    snapshot_every: int
    raft: RaftConfig

    @staticmethod
    def from_seed(rng: random.Random) -> Params:
        nodes = rng.choice((3, 3, 5))
        return Params(
            nodes=nodes,
            spares=rng.choice((0, 1, 2)),
            duration=rng.uniform(5.0, 20.0),
            quiet=60.0,
            drop=rng.choice((0.0, 0.02, 0.1, 0.25)),
            duplicate=rng.choice((0.0, 0.0, 0.05)),
            max_delay=rng.choice((0.005, 0.03, 0.15)),
            snapshot_every=rng.choice((6, 15, 40, 10**9)),
            raft=RaftConfig(
                heartbeat_timeout=1.0,
                election_timeout=1.0,
                leader_lease_timeout=0.5,
                heartbeat_interval=0.1,
                max_append_entries=rng.choice((1, 3, 64)),
                max_inflight_appends=rng.choice((1, 4, 16)),
                trailing_logs=rng.choice((0, 3, 20)),
                snapshot_chunk_size=rng.choice((64, 512, 1 << 20)),
                pre_vote=rng.random() < 0.8,
                check_quorum=rng.random() < 0.8,
            ),
        )


class Simulation:
    """One seeded schedule over a cluster of :class:`SimNode`."""

    def __init__(self, seed: int, trace: Callable[[str], None] | None = None) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.params = Params.from_seed(self.rng)
        self._trace = trace
        self.now = 0.0
        self._queue: list[tuple[float, int, str, object]] = []
        self._seq = itertools.count()
        ids = [f"n{i}" for i in range(self.params.nodes + self.params.spares)]
        self.nodes = {node_id: SimNode(node_id) for node_id in ids}
        self.partition: dict[str, int] = {}
        self.drop = self.params.drop
        self.duplicate = self.params.duplicate
        self.faults_enabled = True
        self._proposal_counter = itertools.count()
        self._read_counter = itertools.count(1)
        # Global observations for the invariants.
        self.leaders_by_term: dict[int, str] = {}
        self.entries_seen: dict[tuple[int, int], tuple[int, bytes, int | None]] = {}
        self.applied: dict[int, tuple[int, int, bytes]] = {}  # index -> (term, type, data)
        self.acked: dict[bytes, int] = {}  # command -> index
        self.max_acked_index = 0
        self.stats: Counter[str] = Counter()

        bootstrap = Configuration(
            tuple(Server(node_id, node_id) for node_id in ids[: self.params.nodes])
        )
        first = Entry(1, 1, EntryType.CONFIGURATION, bootstrap.encode())
        for node_id in ids[: self.params.nodes]:
            disk = self.nodes[node_id].disk
            disk.hard_state = HardState(1, None)
            disk.entries = [first]
            self.entries_seen[(1, 1)] = (first.type, first.data, 0)
        for node in self.nodes.values():
            self._start(node)

    # ------------------------------------------------------------------ plumbing

    def trace(self, text: str) -> None:
        if self._trace is not None:
            self._trace(f"{self.now:9.4f} {text}")

    def fail(self, text: str) -> None:
        raise InvariantViolation(
            f"seed {self.seed} t={self.now:.4f}: {text}\n  replay: {replay_command(self.seed)}"
        )

    def _push(self, at: float, kind: str, payload: object) -> None:
        heapq.heappush(self._queue, (at, next(self._seq), kind, payload))

    def _start(self, node: SimNode) -> None:
        disk = node.disk
        node.core = RaftCore(
            node.id,
            node.id,
            self.params.raft,
            random.Random(self.rng.getrandbits(64)),
            hard_state=disk.hard_state,
            snapshot=disk.snapshot,
            entries=list(disk.entries),
            snapshot_reader=disk.read_snapshot,
            now=self.now,
        )
        node.fsm = Fsm.decode(disk.snapshot_data) if disk.snapshot else Fsm()
        node.proposals = {}
        node.reads = {}
        node.tick_at = float("inf")
        self._schedule_tick(node)

    def _schedule_tick(self, node: SimNode) -> None:
        assert node.core is not None
        at = max(node.core.next_deadline(), self.now + 1e-6)
        if at < node.tick_at:
            node.tick_at = at
            self._push(at, "tick", node.id)

    def _connected(self, a: str, b: str) -> bool:
        return self.partition.get(a, 0) == self.partition.get(b, 0)

    def _send(self, message: Message) -> None:
        rng = self.rng
        copies = 1
        if rng.random() < self.drop:
            copies = 0
        elif rng.random() < self.duplicate:
            copies = 2
        for _ in range(copies):
            delay = rng.uniform(0.0005, self.params.max_delay)
            if rng.random() < 0.02:
                delay *= 10
            self._push(self.now + delay, "deliver", message)

    # ------------------------------------------------------------------ driving a node

    def _process(self, node: SimNode, before: tuple[Role, int]) -> None:
        core = node.core
        assert core is not None
        ready = core.ready()
        self._persist(node, ready, before)
        for message in ready.messages:
            self._send(message)
        if ready.snapshot is not None:
            self._restore(node, ready.snapshot)
        for entry in ready.committed:
            self._apply(node, entry)
        for read in ready.read_states:
            asked = node.reads.pop(read.request_id)
            self.stats["reads" if read.index is not None else "reads failed"] += 1
            if read.index is not None and read.index < asked:
                self.fail(f"{node.id} read index {read.index} misses acked index {asked}")
        if ready.soft_state is not None and ready.soft_state.role is Role.LEADER:
            self.stats["elections"] += 1
            self._check_new_leader(node)
        self._maybe_snapshot(node)
        self._schedule_tick(node)

    def _persist(self, node: SimNode, ready: Ready, before: tuple[Role, int]) -> None:
        disk = node.disk
        for chunk in ready.snapshot_chunks:
            disk.write_chunk(chunk.offset, chunk.data)
        if ready.snapshot is not None:
            disk.install_snapshot(ready.snapshot)
        if ready.hard_state is not None:
            if ready.hard_state.term < disk.hard_state.term:
                self.fail(f"{node.id} term went back")
            disk.hard_state = ready.hard_state
        if not ready.entries:
            return
        core = node.core
        assert core is not None
        first = ready.entries[0].index
        if before == (Role.LEADER, core.term) and core.is_leader and first <= disk.last_index:
            self.fail(f"leader {node.id} overwrote its log at {first}")
        prev_term = disk.term(first - 1) if first - 1 <= disk.last_index else None
        for entry in ready.entries:
            key = (entry.index, entry.term)
            seen = self.entries_seen.get(key)
            if seen is None:
                self.entries_seen[key] = (entry.type, entry.data, prev_term)
            elif seen[:2] != (entry.type, entry.data) or (
                prev_term is not None and seen[2] is not None and seen[2] != prev_term
            ):
                self.fail(f"log matching: {node.id} has a different entry {key}")
            prev_term = entry.term
        disk.append(ready.entries)

    def _apply(self, node: SimNode, entry: Entry) -> None:
        fsm = node.fsm
        if entry.index != fsm.applied_index + 1:
            self.fail(f"{node.id} applied {entry.index} after {fsm.applied_index}")
        fsm.applied_index = entry.index
        record = (entry.term, int(entry.type), entry.data)
        first = self.applied.setdefault(entry.index, record)
        if first != record:
            self.fail(f"state machine safety at {entry.index}: {node.id} {record} vs {first}")
        if entry.type is EntryType.COMMAND:
            fsm.commands.append((entry.index, entry.data))
        proposal = node.proposals.pop(entry.index, None)
        if proposal is not None and proposal == (entry.term, entry.data):
            self.acked[entry.data] = entry.index
            self.stats["acked"] += 1
            self.max_acked_index = max(self.max_acked_index, entry.index)
        for index in [i for i in node.proposals if i < entry.index]:
            del node.proposals[index]

    def _restore(self, node: SimNode, meta: SnapshotMeta) -> None:
        self.stats["snapshots installed"] += 1
        node.fsm = Fsm.decode(node.disk.snapshot_data)
        node.proposals.clear()
        if node.fsm.applied_index != meta.index:
            self.fail(f"{node.id} snapshot data at {node.fsm.applied_index}, meta at {meta.index}")
        self._check_fsm_prefix(node)

    def _check_fsm_prefix(self, node: SimNode) -> None:
        for index, data in node.fsm.commands:
            first = self.applied.get(index)
            if first is not None and first[2] != data:
                self.fail(
                    f"{node.id} snapshot holds {data!r} at {index}, applied elsewhere {first}"
                )

    def _check_new_leader(self, node: SimNode) -> None:
        core = node.core
        assert core is not None
        holder = self.leaders_by_term.setdefault(core.term, node.id)
        if holder != node.id:
            self.fail(f"two leaders in term {core.term}: {holder} and {node.id}")
        log = core.log
        for index, (term, _, _) in self.applied.items():
            if term >= core.term:
                continue
            if index > log.last_index:
                self.fail(f"leader {node.id} (term {core.term}) lacks committed index {index}")
            if index > log.snapshot_index and log.first_index <= index and log.term(index) != term:
                self.fail(
                    f"leader {node.id} has term {log.term(index)} at committed {index}, not {term}"
                )

    def _maybe_snapshot(self, node: SimNode) -> None:
        core, fsm, disk = node.core, node.fsm, node.disk
        assert core is not None
        if fsm.applied_index - core.log.snapshot_index < self.params.snapshot_every:
            return
        data = fsm.encode()
        meta = core.snapshot_meta(fsm.applied_index, len(data))
        disk.save_snapshot(meta, data)
        disk.compact(core.compact(meta))
        self.stats["snapshots taken"] += 1
        self.trace(f"{node.id} snapshot at {meta.index}")

    # ------------------------------------------------------------------ events

    def _handle(self, kind: str, payload: object) -> None:
        if kind == "deliver":
            assert isinstance(payload, Message)
            node = self.nodes[payload.dst]
            if node.core is None or not self._connected(payload.src, payload.dst):
                return
            before = (node.core.role, node.core.term)
            node.core.step(payload, self.now)
            self._process(node, before)
        elif kind == "tick":
            node = self.nodes[str(payload)]
            if node.core is None or node.tick_at != self.now:
                return
            node.tick_at = float("inf")
            before = (node.core.role, node.core.term)
            node.core.tick(self.now)
            self._process(node, before)
        elif kind == "client":
            self._client()
            self._push(self.now + self.rng.expovariate(20.0), "client", None)
        elif kind == "chaos" and self.faults_enabled:
            self._chaos()
            self._push(self.now + self.rng.expovariate(1.5), "chaos", None)

    def _leader(self) -> SimNode | None:
        leaders = [n for n in self.nodes.values() if n.core is not None and n.core.is_leader]
        return max(leaders, key=lambda n: n.core.term) if leaders else None  # type: ignore[union-attr]

    def _client(self) -> None:
        leader = self._leader()
        if leader is not None and self.rng.random() < 0.8:
            node = leader
        else:
            node = self.rng.choice(list(self.nodes.values()))
        if node.core is None:
            return
        before = (node.core.role, node.core.term)
        try:
            if self.rng.random() < 0.1:
                request_id = next(self._read_counter)
                node.core.read_index(request_id)
                node.reads[request_id] = self.max_acked_index
                self.trace(f"{node.id} read {request_id}")
            else:
                data = f"c{next(self._proposal_counter)}".encode()
                index, term = node.core.propose(data)
                node.proposals[index] = (term, data)
                self.trace(f"{node.id} propose {data!r} at {index}")
        except ConsensusError:
            return
        self._process(node, before)

    def _chaos(self) -> None:
        rng = self.rng
        action = rng.choice(
            ("partition", "heal", "crash", "restart", "membership", "transfer", "net")
        )
        alive = [n for n in self.nodes.values() if n.alive]
        dead = [n for n in self.nodes.values() if not n.alive]
        if action == "partition":
            self.partition = {node_id: rng.randrange(2) for node_id in self.nodes}
            self.trace(f"partition {self.partition}")
        elif action == "heal":
            self.partition = {}
            self.trace("heal")
        elif action == "crash" and alive:
            node = rng.choice(alive)
            node.core = None
            self.stats["crashes"] += 1
            self.trace(f"crash {node.id}")
        elif action == "restart" and dead:
            node = rng.choice(dead)
            self._start(node)
            self.trace(f"restart {node.id}")
        elif action == "membership":
            self._membership()
        elif action == "transfer":
            leader = self._leader()
            if leader is not None and leader.core is not None:
                before = (leader.core.role, leader.core.term)
                try:
                    target = leader.core.transfer_leadership()
                except ConsensusError:
                    return
                self.stats["transfers"] += 1
                self.trace(f"{leader.id} transfers leadership to {target}")
                self._process(leader, before)
        elif action == "net":
            self.drop = rng.choice((0.0, self.params.drop, 0.3))
            self.trace(f"drop rate {self.drop}")

    def _membership(self) -> None:
        leader = self._leader()
        if leader is None or leader.core is None:
            return
        core = leader.core
        rng = self.rng
        config = core.configuration
        voters = config.voters()
        others = [n for n in self.nodes if config.get(n) is None]
        nonvoters = [s.id for s in config.servers if s.id not in voters]
        choices: list[Callable[[], int]] = []
        if others:
            target = rng.choice(others)
            choices.append(lambda: core.add_nonvoter(target, target))
            choices.append(lambda: core.add_voter(target, target))
        if nonvoters:
            promote = rng.choice(nonvoters)
            choices.append(lambda: core.add_voter(promote, promote))
            choices.append(lambda: core.remove_server(promote))
        if len(voters) > 3:
            victim = rng.choice(voters)
            choices.append(lambda: core.remove_server(victim))
            choices.append(lambda: core.demote_voter(victim))
        if not choices:
            return
        before = (core.role, core.term)
        try:
            index = rng.choice(choices)()
        except ConsensusError:
            return
        self.stats["configuration changes"] += 1
        self.trace(f"{leader.id} configuration change at {index}: {core.configuration}")
        self._process(leader, before)

    # ------------------------------------------------------------------ running

    def run(self) -> None:
        params = self.params
        self._push(0.0, "client", None)
        self._push(self.rng.uniform(0.5, 2.0), "chaos", None)
        self._run_until(params.duration)
        self.faults_enabled = False
        self.partition = {}
        self.drop = self.duplicate = 0.0
        for node in self.nodes.values():
            if not node.alive:
                self._start(node)
        self._queue = [event for event in self._queue if event[2] != "client"]
        heapq.heapify(self._queue)
        self.trace("healed; quiet period")
        deadline = self.now + params.quiet
        while not self._converged() and self.now < deadline:
            self._run_until(self.now + 0.5)
        self._check_final()

    def _converged(self) -> bool:
        leaders = [n for n in self.nodes.values() if n.core is not None and n.core.is_leader]
        if len(leaders) != 1:
            return False
        core = leaders[0].core
        assert core is not None
        members = core.configuration.ids()
        return core.commit_index >= core.log.last_index and all(
            self.nodes[m].fsm.applied_index >= core.commit_index for m in members
        )

    def _run_until(self, end: float) -> None:
        queue = self._queue
        while queue and queue[0][0] <= end:
            at, _, kind, payload = heapq.heappop(queue)
            self.now = at
            if kind == "deliver" and self._trace is not None:
                self.trace(f"deliver {payload}")
            self._handle(kind, payload)
        self.now = end

    def _check_final(self) -> None:
        leader = self._leader()
        if leader is None or leader.core is None:
            self.fail("no leader after the quiet period")
        leaders = [n.id for n in self.nodes.values() if n.core is not None and n.core.is_leader]
        if len(leaders) != 1:
            self.fail(f"leaders after the quiet period: {leaders}")
        members = leader.core.configuration.ids()
        commit = leader.core.commit_index
        for node_id in members:
            node = self.nodes[node_id]
            assert node.core is not None
            if node.fsm.applied_index < commit:
                self.fail(f"{node_id} applied {node.fsm.applied_index} < leader commit {commit}")
            self._check_fsm_prefix(node)
            present = {data for _, data in node.fsm.commands}
            missing = [data for data in self.acked if data not in present]
            if missing:
                self.fail(f"{node_id} lost acknowledged proposals {missing[:5]}")


def run_seed(seed: int, trace: bool = False) -> Counter[str]:
    simulation = Simulation(seed, trace=print if trace else None)
    simulation.run()
    return simulation.stats


def run_seeds(seeds: range) -> tuple[list[str], Counter[str]]:
    failures = []
    stats: Counter[str] = Counter()
    for seed in seeds:
        try:
            stats += run_seed(seed)
        except Exception as error:  # noqa: BLE001 - report every failing seed
            if isinstance(error, InvariantViolation):
                failures.append(str(error))
                continue
            where = traceback.extract_tb(error.__traceback__)[-1]
            failures.append(
                f"seed {seed}: {type(error).__name__}: {error} ({where.filename}:{where.lineno})\n"
                f"  replay: {replay_command(seed)}"
            )
    return failures, stats


def run_parallel(start: int, count: int, jobs: int) -> tuple[list[str], Counter[str]]:
    """Run seeds ``start .. start+count-1`` in ``jobs`` processes; (failures, summed stats)."""
    if jobs <= 1:
        return run_seeds(range(start, start + count))
    step = max(1, min(500, count // (jobs * 4) or 1))
    ranges = [range(s, min(s + step, start + count)) for s in range(start, start + count, step)]
    failures: list[str] = []
    stats: Counter[str] = Counter()
    with ProcessPoolExecutor(jobs) as pool:
        for batch_failures, batch_stats in pool.map(run_seeds, ranges):
            failures += batch_failures
            stats += batch_stats
    return failures, stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, help="replay one seed")
    parser.add_argument("--trace", action="store_true", help="print the events of --seed")
    parser.add_argument("--seeds", type=int, default=1000, help="number of seeds to run")
    parser.add_argument("--start", type=int, default=0, help="first seed")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes")
    args = parser.parse_args(argv)
    if args.seed is not None:
        stats = run_seed(args.seed, trace=args.trace)
        print(f"seed {args.seed}: ok {dict(stats)}")
        return 0
    started = time.monotonic()
    failures, stats = run_parallel(args.start, args.seeds, args.jobs)
    for failure in failures[:20]:
        print(failure)
    print(dict(stats))
    print(f"{args.seeds} seeds, {len(failures)} failed, {time.monotonic() - started:.1f}s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
