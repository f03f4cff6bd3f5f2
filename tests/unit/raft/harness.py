"""A hand-driven cluster of Raft cores for targeted tests.

Messages are delivered at once and in order (unless a partition drops them);
time advances only through :meth:`Net.advance`.
"""

from __future__ import annotations

import random

from proconsul.raft.config import Configuration, RaftConfig, Server, Suffrage
from proconsul.raft.core import RaftCore, ReadState
from proconsul.raft.messages import Entry, EntryType, HardState, Message
from tests.unit.raft.sim import Disk, Fsm

FAST = RaftConfig(
    heartbeat_timeout=1.0,
    election_timeout=1.0,
    leader_lease_timeout=0.5,
    heartbeat_interval=0.1,
    trailing_logs=10,
)


class Net:
    """Cores, their disks and state machines, and a lossless instant network."""

    def __init__(
        self,
        voters: int = 3,
        *,
        spares: int = 0,
        nonvoters: int = 0,
        config: RaftConfig = FAST,
        seed: int = 0,
    ) -> None:
        self.config = config
        self.rng = random.Random(seed)
        self.now = 0.0
        ids = [f"n{i}" for i in range(voters + nonvoters + spares)]
        servers = [Server(i, i) for i in ids[:voters]]
        servers += [Server(i, i, Suffrage.NONVOTER) for i in ids[voters : voters + nonvoters]]
        bootstrap = Entry(1, 1, EntryType.CONFIGURATION, Configuration(tuple(servers)).encode())
        self.disks = {i: Disk() for i in ids}
        for server in servers:
            self.disks[server.id].hard_state = HardState(1, None)
            self.disks[server.id].entries = [bootstrap]
        self.cores: dict[str, RaftCore] = {}
        self.fsms: dict[str, Fsm] = {}
        self.read_states: dict[str, list[ReadState]] = {i: [] for i in ids}
        self.cut: set[str] = set()  # servers isolated from everyone else
        self.sent: list[Message] = []
        for i in ids:
            self.start(i)

    def start(self, server_id: str) -> None:
        disk = self.disks[server_id]
        self.cores[server_id] = RaftCore(
            server_id,
            server_id,
            self.config,
            random.Random(self.rng.getrandbits(64)),
            hard_state=disk.hard_state,
            snapshot=disk.snapshot,
            entries=list(disk.entries),
            snapshot_reader=disk.read_snapshot,
            now=self.now,
        )
        self.fsms[server_id] = Fsm.decode(disk.snapshot_data) if disk.snapshot else Fsm()

    def crash(self, server_id: str) -> None:
        del self.cores[server_id]

    def leader(self) -> str | None:
        leaders = [i for i, core in self.cores.items() if core.is_leader]
        assert len(leaders) <= 1, leaders
        return leaders[0] if leaders else None

    def pump(self) -> None:
        """Process every core's Ready and deliver messages until nothing moves."""
        queue: list[Message] = []
        while True:
            for server_id, core in self.cores.items():
                if core.has_ready():
                    queue += self._process(server_id, core)
            if not queue:
                return
            for message in queue:
                self.sent.append(message)
                if message.dst in self.cores and not ({message.src, message.dst} & self.cut):
                    self.cores[message.dst].step(message, self.now)
            queue = []

    def _process(self, server_id: str, core: RaftCore) -> list[Message]:
        ready = core.ready()
        disk, fsm = self.disks[server_id], self.fsms[server_id]
        for chunk in ready.snapshot_chunks:
            disk.write_chunk(chunk.offset, chunk.data)
        if ready.snapshot is not None:
            disk.install_snapshot(ready.snapshot)
            fsm = self.fsms[server_id] = Fsm.decode(disk.snapshot_data)
        if ready.hard_state is not None:
            disk.hard_state = ready.hard_state
        if ready.entries:
            disk.append(ready.entries)
        for entry in ready.committed:
            assert entry.index == fsm.applied_index + 1
            fsm.applied_index = entry.index
            if entry.type is EntryType.COMMAND:
                fsm.commands.append((entry.index, entry.data))
        self.read_states[server_id] += ready.read_states
        return ready.messages

    def advance(self, seconds: float, step: float = 0.02) -> None:
        end = self.now + seconds
        while self.now < end:
            self.now = min(end, self.now + step)
            for core in self.cores.values():
                core.tick(self.now)
            self.pump()

    def elect(self) -> str:
        """Let time pass until there is a leader."""
        for _ in range(200):
            leader = self.leader()
            if leader is not None:
                return leader
            self.advance(0.1)
        raise AssertionError("no leader elected")

    def propose(self, data: bytes) -> int:
        leader = self.leader()
        assert leader is not None
        index, _ = self.cores[leader].propose(data)
        self.pump()
        return index

    def commands(self, server_id: str) -> list[bytes]:
        return [data for _, data in self.fsms[server_id].commands]

    def snapshot(self, server_id: str) -> None:
        """Snapshot ``server_id``'s state machine and compact its log."""
        core, fsm, disk = self.cores[server_id], self.fsms[server_id], self.disks[server_id]
        data = fsm.encode()
        meta = core.snapshot_meta(fsm.applied_index, len(data))
        disk.save_snapshot(meta, data)
        disk.compact(core.compact(meta))
