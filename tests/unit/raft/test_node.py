"""The asyncio driver: in-process servers with real storage elect a leader and commit."""

from __future__ import annotations

import asyncio
import io
import logging
import time
from pathlib import Path
from typing import Any, BinaryIO

import msgspec
import pytest

from proconsul.raft.config import Configuration, RaftConfig, Server
from proconsul.raft.interface import ConsensusError, NotLeaderError
from proconsul.raft.messages import Entry, EntryType, Heartbeat
from proconsul.raft.node import InProcessNetwork, RaftNode
from proconsul.raft.storage import RaftStorage

# Twice Consul's -raft-multiplier 1 is still fast, and a lease of 0.5 s survives the stalls
# of a shared two-core box (at 0.25 s, 3 of 280 runs lost a leader at load 25).
TIMING = RaftConfig(
    heartbeat_timeout=1.0, election_timeout=1.0, leader_lease_timeout=0.5, heartbeat_interval=0.05
)


class _Snapshot:
    def __init__(self, items: list[bytes]) -> None:
        self._items = list(items)

    def write(self, sink: BinaryIO) -> None:
        sink.write(msgspec.msgpack.encode(self._items))

    def release(self) -> None:
        pass


class ListFsm:
    """Appends every command; answers with the new length. Waiters watch the length."""

    def __init__(self) -> None:
        self.items: list[bytes] = []
        self.changed = asyncio.Event()
        self.batches: list[int] = []  # how many entries each apply_batch call carried

    def apply(self, index: int, data: bytes) -> Any:
        self.items.append(data)
        self.changed.set()
        return len(self.items)

    def apply_batch(self, entries: list[Entry]) -> list[Any]:
        self.batches.append(len(entries))
        return [self.apply(e.index, e.data) if e.type is EntryType.COMMAND else None
                for e in entries]

    def snapshot(self) -> _Snapshot:
        return _Snapshot(self.items)

    def restore(self, source: BinaryIO) -> None:
        self.items = msgspec.msgpack.decode(source.read(), type=list[bytes])
        self.changed.set()

    async def wait_for(self, count: int) -> None:
        while len(self.items) < count:
            self.changed.clear()
            await self.changed.wait()


class Cluster:
    def __init__(self, root: Path, size: int = 3, snapshot_threshold: int = 16384,
                 storage: type[RaftStorage] = RaftStorage) -> None:
        self.root = root
        self.storage = storage
        self.network = InProcessNetwork()
        self.ids = [f"s{i}" for i in range(size)]
        self.snapshot_threshold = snapshot_threshold
        self.configuration = Configuration(tuple(Server(i, f"addr-{i}") for i in self.ids))
        self.nodes: dict[str, RaftNode] = {}
        self.fsms: dict[str, ListFsm] = {}
        self.leader_changed = asyncio.Event()

    async def start(self, server_id: str) -> None:
        storage = self.storage(self.root / server_id)
        storage.bootstrap(self.configuration)
        fsm = ListFsm()
        node = RaftNode(
            server_id,
            f"addr-{server_id}",
            fsm,
            storage,
            self.network.transport(f"addr-{server_id}"),
            TIMING,
            snapshot_threshold=self.snapshot_threshold,
        )
        node.on_leadership_change(lambda _: self.leader_changed.set())
        self.nodes[server_id], self.fsms[server_id] = node, fsm
        await node.start()

    async def start_all(self) -> None:
        for server_id in self.ids:
            await self.start(server_id)

    async def leader(self) -> RaftNode:
        while True:
            leaders = [n for n in self.nodes.values() if n.is_leader()]
            if len(leaders) == 1:
                return leaders[0]
            self.leader_changed.clear()
            await self.leader_changed.wait()

    async def stop(self) -> None:
        for node in self.nodes.values():
            await node.shutdown()


@pytest.fixture
async def cluster(tmp_path: Path):
    cluster = Cluster(tmp_path)
    await cluster.start_all()
    yield cluster
    await cluster.stop()


async def test_three_servers_elect_a_leader_and_commit(cluster: Cluster) -> None:
    leader = await asyncio.wait_for(cluster.leader(), 20)
    assert await leader.apply(b"a", timeout=20) == 1
    assert await leader.apply(b"b", timeout=20) == 2
    await asyncio.wait_for(asyncio.gather(*(f.wait_for(2) for f in cluster.fsms.values())), 20)
    assert all(f.items == [b"a", b"b"] for f in cluster.fsms.values())
    follower = next(n for n in cluster.nodes.values() if n is not leader)
    assert follower.leader_address() == leader.address
    assert follower.last_contact() < 1.0 and leader.last_contact() == 0.0


async def test_concurrent_proposals_all_commit(cluster: Cluster) -> None:
    leader = await asyncio.wait_for(cluster.leader(), 20)
    results = await asyncio.wait_for(
        asyncio.gather(*(leader.apply(b"c%d" % i) for i in range(200))), 10
    )
    assert sorted(results) == list(range(1, 201))


async def test_commands_of_one_turn_are_stored_and_applied_together_in_order(
        tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, size=1)
    await cluster.start_all()
    try:
        leader = await asyncio.wait_for(cluster.leader(), 20)
        await leader.barrier(timeout=20)
        fsm, storage = cluster.fsms[leader.id], leader._storage
        stored: list[int] = []
        persist = storage.persist
        storage.persist = lambda ready: (stored.append(len(ready.entries)), persist(ready))[1]
        fsm.batches.clear()
        futures = [leader.submit(b"c%d" % i, timeout=20) for i in range(50)]  # one turn
        assert await asyncio.wait_for(asyncio.gather(*futures), 20) == list(range(1, 51))
        assert fsm.items == [b"c%d" % i for i in range(50)]
        assert stored == [50] and fsm.batches == [50]  # one write + fsync, one apply call
    finally:
        await cluster.stop()


async def test_shutdown_waits_for_the_batch_being_stored_and_answers_it(
        tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, size=1)
    await cluster.start_all()
    leader = await asyncio.wait_for(cluster.leader(), 5)
    await leader.barrier(timeout=5)
    future = leader.submit(b"last", timeout=5)
    await asyncio.sleep(0)  # the turn scheduled by submit ran: the batch is being stored
    assert leader._storing is not None
    await leader.shutdown()
    assert future.result() == 1  # stored (fsync) and applied before the node stopped
    await cluster.start(leader.id)  # and it is on disk
    try:
        await asyncio.wait_for(cluster.fsms[leader.id].wait_for(1), 5)
        assert cluster.fsms[leader.id].items == [b"last"]
    finally:
        await cluster.stop()


async def test_a_storage_failure_stops_the_node_and_fails_its_callers(
        tmp_path: Path, caplog) -> None:
    cluster = Cluster(tmp_path, size=1)
    await cluster.start_all()
    try:
        leader = await asyncio.wait_for(cluster.leader(), 5)
        await leader.barrier(timeout=5)

        def broken(ready: Any) -> None:
            raise OSError(5, "Input/output error")

        leader._storage.persist = broken  # type: ignore[method-assign]
        future = leader.submit(b"lost", timeout=30)
        with pytest.raises(ConsensusError, match="raft loop stopped by an error"):
            await asyncio.wait_for(future, 5)  # at once, not after its 30 s timeout
        assert "raft loop stopped by an error" in caplog.text
        with pytest.raises(ConsensusError, match="raft is not running"):
            leader.submit(b"more")
        assert cluster.fsms[leader.id].items == []
    finally:
        await cluster.stop()


async def test_a_command_not_yet_appended_when_leadership_ends_is_refused(
        cluster: Cluster) -> None:
    leader = await asyncio.wait_for(cluster.leader(), 20)
    await leader.barrier(timeout=20)
    last = leader.last_index()
    other = next(i for i in cluster.ids if i != leader.id)
    future = leader.submit(b"late", timeout=20)
    # Before the run loop's turn, a leader of a later term is heard from.
    leader._receive(Heartbeat(other, leader.id, leader.term() + 1, f"addr-{other}", 0, 0))
    with pytest.raises(NotLeaderError):  # never appended: safe to retry on the new leader
        await asyncio.wait_for(future, 20)
    assert leader.last_index() == last


class SlowDiskStorage(RaftStorage):
    """Once ``slow`` is set, every write of log entries takes 1.5 leader leases (3/4 of an
    election timeout): a loaded disk."""

    slow = False

    def persist(self, ready) -> None:
        super().persist(ready)
        if ready.entries and SlowDiskStorage.slow:
            time.sleep(1.5 * TIMING.leader_lease_timeout)


async def test_writes_slower_than_the_lease_keep_the_leader(tmp_path: Path) -> None:
    """Heartbeats and their answers do not wait for a storage write: a write that takes
    longer than the lease (but less than an election timeout) deposes nobody."""
    cluster = Cluster(tmp_path, storage=SlowDiskStorage)
    await cluster.start_all()
    try:
        leader = await asyncio.wait_for(cluster.leader(), 20)
        await leader.barrier(timeout=20)
        changes: list[bool] = []
        for node in cluster.nodes.values():
            node.on_leadership_change(changes.append)
        SlowDiskStorage.slow = True
        for i in range(3):
            await leader.apply(b"slow%d" % i, timeout=20)
        assert leader.is_leader() and changes == []
    finally:
        SlowDiskStorage.slow = False
        await cluster.stop()


async def test_a_proposal_without_a_quorum_times_out(cluster: Cluster) -> None:
    leader = await asyncio.wait_for(cluster.leader(), 20)
    await leader.barrier(timeout=20)
    cluster.network.isolated = {n.address for n in cluster.nodes.values() if n is not leader}
    with pytest.raises(TimeoutError):
        await leader.apply(b"x", timeout=0.05)  # well inside the leader's lease
    assert not leader._proposals


async def test_followers_refuse_writes_with_the_leader_address(cluster: Cluster) -> None:
    leader = await asyncio.wait_for(cluster.leader(), 20)
    await leader.barrier(timeout=20)
    follower = next(n for n in cluster.nodes.values() if n is not leader)
    with pytest.raises(NotLeaderError) as raised:
        await follower.apply(b"x")
    assert raised.value.leader_address == leader.address


async def test_verify_leader_and_barrier(cluster: Cluster) -> None:
    leader = await asyncio.wait_for(cluster.leader(), 20)
    await asyncio.wait_for(leader.verify_leader(), 20)
    await leader.barrier(timeout=20)
    assert leader.last_index() >= 3


async def test_an_isolated_leader_is_replaced_and_state_survives_restart(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, snapshot_threshold=5)
    await cluster.start_all()
    try:
        old = await asyncio.wait_for(cluster.leader(), 20)
        for i in range(12):
            await old.apply(b"x%d" % i, timeout=20)
        cluster.network.isolated.add(old.address)
        with pytest.raises(NotLeaderError):
            await asyncio.wait_for(old.verify_leader(), 20)
        new = await asyncio.wait_for(cluster.leader(), 20)
        assert new is not old
        await new.apply(b"after", timeout=20)
        cluster.network.isolated.clear()
        for server_id in list(cluster.nodes):
            await cluster.nodes[server_id].shutdown()
            await cluster.start(server_id)
        leader = await asyncio.wait_for(cluster.leader(), 20)
        await leader.apply(b"restarted", timeout=20)
        await asyncio.wait_for(asyncio.gather(*(f.wait_for(14) for f in cluster.fsms.values())), 20)
        expected = [b"x%d" % i for i in range(12)] + [b"after", b"restarted"]
        assert all(f.items == expected for f in cluster.fsms.values())
        assert any((tmp_path / s / "snapshots").glob("*.meta") for s in cluster.ids)
    finally:
        await cluster.stop()


def test_snapshot_round_trip_of_the_test_fsm() -> None:
    fsm = ListFsm()
    fsm.apply(1, b"a")
    sink = io.BytesIO()
    fsm.snapshot().write(sink)
    other = ListFsm()
    other.restore(io.BytesIO(sink.getvalue()))
    assert other.items == [b"a"]


async def test_a_server_joins_as_nonvoter_and_is_promoted(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path)
    await cluster.start_all()
    try:
        leader = await asyncio.wait_for(cluster.leader(), 20)
        for i in range(5):
            await leader.apply(b"x%d" % i, timeout=20)
        newcomer = "s3"
        fsm = ListFsm()
        node = RaftNode(
            newcomer,
            "addr-s3",
            fsm,
            RaftStorage(tmp_path / newcomer),
            cluster.network.transport("addr-s3"),
            TIMING,
        )
        cluster.nodes[newcomer], cluster.fsms[newcomer] = node, fsm
        await node.start()  # not bootstrapped: waits to be added
        await leader.add_nonvoter(newcomer, "addr-s3", timeout=20)
        await asyncio.wait_for(fsm.wait_for(5), 20)
        await leader.add_voter(newcomer, "addr-s3", timeout=20)
        await leader.remove_server("s0" if leader.id != "s0" else "s1", timeout=20)
        assert await leader.apply(b"last", timeout=20) == 6
        await asyncio.wait_for(fsm.wait_for(6), 20)
    finally:
        await cluster.stop()


async def test_each_node_logs_each_new_leader_once(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="proconsul.raft.node")
    cluster = Cluster(tmp_path)
    await cluster.start_all()
    try:
        old = await asyncio.wait_for(cluster.leader(), 20)
        await old.apply(b"a", timeout=20)
        # A quorum has "a" once apply returns; a server that has applied it has heard
        # from the leader (and logged it in that batch or before): wait for all three.
        await _wait_items(cluster, [b"a"])
        elected = [r.getMessage() for r in caplog.records
                   if r.getMessage().startswith("New leader elected")]
        assert elected == [f"New leader elected: payload={old.id}"] * 3
        caplog.clear()
        cluster.network.isolated.add(old.address)
        with pytest.raises(NotLeaderError):
            await asyncio.wait_for(old.verify_leader(), 20)
        new = await asyncio.wait_for(cluster.leader(), 20)
        await new.apply(b"b", timeout=20)
        await _wait_items(cluster, [b"a", b"b"], skip=old.id)
        elected = [r.getMessage() for r in caplog.records
                   if r.getMessage().startswith("New leader elected")]
        assert elected == [f"New leader elected: payload={new.id}"] * 2
    finally:
        await cluster.stop()


async def _wait_items(cluster: Cluster, expected: list[bytes], skip: str = "") -> None:
    """Wait until every server's state machine (but ``skip``'s) holds ``expected``."""
    async def one(fsm: ListFsm) -> None:
        while fsm.items != expected:
            fsm.changed.clear()
            await fsm.changed.wait()
    fsms = [f for server_id, f in cluster.fsms.items() if server_id != skip]
    await asyncio.wait_for(asyncio.gather(*(one(f) for f in fsms)), 20)


async def test_user_restore_replaces_the_state_everywhere_at_a_new_index(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path)
    await cluster.start_all()
    try:
        leader = await asyncio.wait_for(cluster.leader(), 20)
        for i in range(5):
            await leader.apply(b"old%d" % i, timeout=20)
        before = leader.last_index()
        restored = [b"r1", b"r2"]
        index = await leader.restore(
            lambda sink: sink.write(msgspec.msgpack.encode(restored)), timeout=20)
        assert index == before + 1
        assert cluster.fsms[leader.id].items == restored
        await leader.barrier(timeout=20)  # commits only once a quorum installed the snapshot
        await leader.apply(b"after", timeout=20)
        await _wait_items(cluster, [*restored, b"after"])
        for server_id in list(cluster.nodes):  # and it is what every server restarts from
            await cluster.nodes[server_id].shutdown()
            await cluster.start(server_id)
        await _wait_items(cluster, [*restored, b"after"])
        leader = await asyncio.wait_for(cluster.leader(), 20)
        assert leader.last_index() > index
    finally:
        await cluster.stop()


async def test_a_failing_restore_writer_changes_nothing(cluster: Cluster) -> None:
    leader = await asyncio.wait_for(cluster.leader(), 20)
    await leader.apply(b"kept", timeout=20)
    before = leader.last_index()

    def broken(sink: BinaryIO) -> None:
        sink.write(b"partial")
        raise ValueError("checksum mismatch")

    with pytest.raises(ValueError, match="checksum mismatch"):
        await leader.restore(broken, timeout=20)
    assert leader.last_index() == before
    await leader.apply(b"next", timeout=20)
    await _wait_items(cluster, [b"kept", b"next"])


async def test_only_the_leader_restores(cluster: Cluster) -> None:
    leader = await asyncio.wait_for(cluster.leader(), 20)
    follower = next(n for n in cluster.nodes.values() if n is not leader)
    with pytest.raises(NotLeaderError):
        await follower.restore(lambda sink: None)
